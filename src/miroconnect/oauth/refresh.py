"""Refresh, single-flight per connection, across tasks *and* processes.

Miro rotates refresh tokens: a second refresh with the old token fails and may kill the
grant (RFC 9700 §4.14.2). The order, for every refresh:

1. the in-process lock of the connection (tasks of this process queue here, cheaply);
2. re-read: another task may have refreshed while we waited;
3. the store's lock (`SELECT ... FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so
   other processes queue too; re-read again under it;
4. call Miro, and commit the new pair *before* anyone uses it (the lock's exit commits).

If Miro answered with a new pair but the database failed to store it (a restart, a dropped
connection), the pair is not thrown away: Miro already killed the old one, so losing the
answer would lose the connection. It is saved again in fresh transactions, with bounded
backoff through the injectable `sleep`, and only then returned; if the database stays down,
`TokenStorageError` is raised.

A refresh Miro rejects marks the connection `needs_reauth` with the reason, and raises
`ReauthorizationRequiredError`, so the next action of that user goes through consent.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from datetime import datetime

from miroconnect.errors import (
    MiroConnectError,
    NotConnectedError,
    ReauthorizationRequiredError,
    TokenStorageError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.miro import MiroOAuthClient, RefreshRejectedError
from miroconnect.oauth.store import ConnectionStore
from miroconnect.oauth.tokens import (
    Connection,
    ConnectionStatus,
    StoredTokens,
    TokenSet,
)
from miroconnect.types import Backoff, Clock, Sleep

__all__ = ["STORE_RETRY", "Needed", "Refresher", "require_live"]

# Saving a rotated pair after a database error: about 7 s of doubling waits, longer than a
# PostgreSQL restart or failover usually takes.
STORE_RETRY = Backoff(attempts=6, first=0.2, maximum=2.0)

Needed = Callable[[Connection, TokenSet], bool]
"""Whether a refresh is (still) needed, judged on the row as read under each lock."""

# Logged as the vault, as before this module was split out of it (operators filter on it).
logger = logging.getLogger("miroconnect.oauth.vault")


def require_live(stored: StoredTokens | None, connection_id: str) -> TokenSet:
    """The tokens of a live connection, or the error saying why there are none."""
    if stored is None:
        raise NotConnectedError(f"connection {connection_id} does not exist")
    status = stored.connection.status
    if status is ConnectionStatus.REMOVED or stored.tokens is None:
        raise NotConnectedError(f"connection {connection_id} was disconnected")
    if status is ConnectionStatus.NEEDS_REAUTH:
        raise ReauthorizationRequiredError(
            "the Miro connection must be authorized again "
            f"({stored.connection.status_reason or 'needs_reauth'})"
        )
    return stored.tokens


class Refresher:
    """Refreshes connections single-flight (see the module docstring)."""

    def __init__(
        self,
        store: ConnectionStore,
        miro: MiroOAuthClient,
        *,
        clock: Clock,
        store_retry: Backoff = STORE_RETRY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.miro = miro
        self.clock = clock
        self.store_retry = store_retry
        self._sleep = sleep
        # Weak values: a lock lives as long as some task holds or awaits it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self.count = 0  # refreshes sent to Miro (for tests and metrics)

    @property
    def locks_in_memory(self) -> int:
        """How many per-connection locks are alive now."""
        return len(self._locks)

    def lock(self, connection_id: str) -> asyncio.Lock:
        """The in-process lock of one connection (tasks of this process queue on it)."""
        lock = self._locks.get(connection_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[connection_id] = lock
        return lock

    async def refresh(
        self,
        connection_id: str,
        needed: Needed,
        *,
        trigger: str,
    ) -> str:
        """Refresh single-flight, if `needed` still holds once the locks are held."""
        async with self.lock(connection_id):
            stored = await self.store.load_tokens(connection_id)
            tokens = require_live(stored, connection_id)
            if stored is None or not needed(stored.connection, tokens):
                log_event(
                    logger,
                    "vault.refresh.skipped",
                    connection_id=connection_id,
                    trigger=trigger,
                    by="task",  # another task of this process refreshed it
                )
                return tokens.access_token
            rejected_reason: str | None = None
            new: TokenSet | None = None
            used: str | None = None
            try:
                async with self.store.lock(connection_id) as locked:
                    tokens = require_live(locked.current, connection_id)
                    if not needed(locked.current.connection, tokens):
                        log_event(
                            logger,
                            "vault.refresh.skipped",
                            connection_id=connection_id,
                            trigger=trigger,
                            by="process",  # another process refreshed it
                        )
                        return tokens.access_token
                    now = self.clock()
                    if tokens.refresh_token is None:
                        # A non-expiring token Miro no longer accepts: only consent helps.
                        rejected_reason = "access_token_rejected"
                    else:
                        used = tokens.refresh_token
                        try:
                            new = await self._call_miro(
                                connection_id, used, trigger, now
                            )
                        except RefreshRejectedError as exc:
                            rejected_reason = f"refresh_rejected ({exc.status_code})"
                        else:
                            await locked.save_tokens(new, now=now)
                    if rejected_reason is not None:
                        await locked.set_status(
                            ConnectionStatus.NEEDS_REAUTH, rejected_reason, now=now
                        )
            except MiroConnectError:
                raise
            except Exception as exc:
                if new is None:
                    raise  # nothing from Miro to lose: the caller sees the error
                # Miro rotated (the old pair is dead) but the write or commit failed.
                await self._store_after_failure(connection_id, new, used, exc)
            # The lock's exit committed: the new pair is stored before it is used.
            if rejected_reason is not None:
                log_event(
                    logger,
                    "vault.needs_reauth",
                    level=logging.WARNING,
                    connection_id=connection_id,
                    reason=rejected_reason,
                )
                raise ReauthorizationRequiredError(
                    f"the Miro connection must be authorized again ({rejected_reason})"
                )
            assert new is not None  # noqa: S101  # set on every path that gets here
            log_event(
                logger,
                "vault.refresh.succeeded",
                connection_id=connection_id,
                trigger=trigger,
                expires_at=new.expires_at,
            )
            return new.access_token

    async def _call_miro(
        self, connection_id: str, refresh_token: str, trigger: str, now: datetime
    ) -> TokenSet:
        """One refresh at Miro, logged; raises what `MiroOAuthClient.refresh` raises."""
        log_event(
            logger,
            "vault.refresh.started",
            connection_id=connection_id,
            trigger=trigger,
        )
        self.count += 1
        try:
            return await self.miro.refresh(refresh_token, now=now)
        except RefreshRejectedError as exc:
            log_event(
                logger,
                "vault.refresh.rejected",
                level=logging.WARNING,
                connection_id=connection_id,
                status_code=exc.status_code,
                error_code=exc.code,
            )
            raise
        except MiroConnectError as exc:
            log_event(
                logger,
                "vault.refresh.failed",
                level=logging.WARNING,
                connection_id=connection_id,
                error_type=type(exc).__name__,
                status_code=getattr(exc, "status_code", None),
            )
            raise

    async def _store_after_failure(
        self,
        connection_id: str,
        new: TokenSet,
        used: str | None,
        first_error: Exception,
    ) -> None:
        """Save a rotated pair whose first write failed, in fresh transactions.

        Under the lock again, the row tells what happened meanwhile: the pair is already
        there (the commit had gone through, only its answer was lost); still the pair we
        refreshed from (save ours; if a peer meanwhile tried the dead refresh token and
        marked the connection `needs_reauth`, it is live again); a newer pair from a
        reconnect (keep it); or disconnected (do not bring the tokens back).
        """
        error: Exception = first_error
        for attempt, delay in enumerate(self.store_retry.delays(), start=1):
            log_event(
                logger,
                "vault.refresh.store_retry",
                level=logging.WARNING,
                connection_id=connection_id,
                attempt=attempt,
                error_type=type(error).__name__,
            )
            await self._sleep(delay)
            try:
                async with self.store.lock(connection_id) as locked:
                    current = locked.current
                    held = current.tokens
                    status = current.connection.status
                    if status is ConnectionStatus.REMOVED or held is None:
                        outcome = "disconnected"
                    elif held.refresh_token == new.refresh_token and (
                        held.access_token == new.access_token
                    ):
                        outcome = "already_stored"
                    elif held.refresh_token == used:
                        now = self.clock()
                        await locked.save_tokens(new, now=now)
                        if status is ConnectionStatus.NEEDS_REAUTH:
                            await locked.set_status(
                                ConnectionStatus.CONNECTED, None, now=now
                            )
                        outcome = "stored"
                    else:
                        outcome = "superseded"
            except MiroConnectError:
                raise
            except Exception as exc:
                error = exc
                continue
            log_event(
                logger,
                "vault.refresh.stored_after_retry",
                connection_id=connection_id,
                attempt=attempt,
                outcome=outcome,
            )
            if outcome == "disconnected":
                await self.miro.revoke(new.access_token)
                raise NotConnectedError(f"connection {connection_id} was disconnected")
            return
        log_event(
            logger,
            "vault.refresh.store_failed",
            level=logging.ERROR,
            connection_id=connection_id,
            attempts=self.store_retry.attempts,
            error_type=type(error).__name__,
        )
        raise TokenStorageError(
            f"Miro renewed the tokens of connection {connection_id} but the database "
            f"did not store them after {self.store_retry.attempts} attempts "
            f"({type(error).__name__})"
        ) from error
