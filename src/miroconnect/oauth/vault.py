"""The token vault: every user's Miro connection, and live access tokens for them.

Refresh is single-flight per connection, across tasks *and* processes, because Miro rotates
refresh tokens: a second refresh with the old token fails and may kill the grant (RFC 9700
§4.14.2). The order, for every refresh:

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

Every step logs one event (`vault.refresh.started`, `.succeeded`, `.skipped`, `.rejected`,
`.failed`, `.store_retry`, `.store_failed`, `vault.needs_reauth`, `vault.disconnected`,
`vault.maintenance`) with connection ids and reasons, never a token.

A refresh Miro rejects marks the connection `needs_reauth` with the reason, and raises
`ReauthorizationRequiredError`, so the next action of that user goes through consent.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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
from miroconnect.types import Backoff, Clock, Sleep, system_clock

__all__ = ["DisconnectResult", "MaintenanceReport", "TokenVault", "VaultTokenSource"]

REFRESH_MARGIN = timedelta(minutes=2)
REFRESH_TOKEN_LIFETIME = timedelta(days=60)
MAINTENANCE_WINDOW = timedelta(days=10)
# Saving a rotated pair after a database error: about 7 s of doubling waits, longer than a
# PostgreSQL restart or failover usually takes.
STORE_RETRY = Backoff(attempts=6, first=0.2, maximum=2.0)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DisconnectResult:
    """What `TokenVault.disconnect` did: the tokens are always deleted; whether Miro
    confirmed the revocation is reported, because Miro may be unreachable."""

    connection_ids: tuple[str, ...]
    revoked_at_miro: bool


@dataclass(frozen=True)
class MaintenanceReport:
    """One run of the maintenance job. `ran` is False when another process held its lock."""

    ran: bool
    refreshed: int = 0
    needs_reauth: int = 0
    failed: int = 0
    pending_deleted: int = 0


def _require_live(stored: StoredTokens | None, connection_id: str) -> TokenSet:
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


class TokenVault:
    """Connections by app user, and their tokens, refreshed single-flight.

    ```python
    vault = TokenVault(SQLStore(db, cipher), MiroOAuthClient(config))
    connection = await vault.connection_for("user-1")
    source = vault.token_source(connection.id)
    token = await source.access_token()
    ```
    """

    def __init__(
        self,
        store: ConnectionStore,
        miro: MiroOAuthClient,
        *,
        clock: Clock = system_clock,
        refresh_margin: timedelta = REFRESH_MARGIN,
        refresh_token_lifetime: timedelta = REFRESH_TOKEN_LIFETIME,
        maintenance_window: timedelta = MAINTENANCE_WINDOW,
        store_retry: Backoff = STORE_RETRY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.miro = miro
        self.clock = clock
        self.refresh_margin = refresh_margin
        self.refresh_token_lifetime = refresh_token_lifetime
        self.maintenance_window = maintenance_window
        self.store_retry = store_retry
        self._sleep = sleep
        # Weak values: a lock lives as long as some task holds or awaits it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self.refresh_count = (
            0  # refreshes this vault sent to Miro (for tests and metrics)
        )

    def _lock(self, connection_id: str) -> asyncio.Lock:
        lock = self._locks.get(connection_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[connection_id] = lock
        return lock

    # -- reading ------------------------------------------------------------------------

    async def connection_for(
        self, app_user_id: str, team_id: str | None = None
    ) -> Connection | None:
        """The user's connection (to `team_id`, or their most recently used one), not
        removed; check `is_live` before running anything on it.

        A live connection is preferred over one that needs consent again.
        """
        found = [
            connection
            for connection in await self.store.find_connections(
                app_user_id=app_user_id, team_id=team_id
            )
            if connection.status is not ConnectionStatus.REMOVED
        ]
        live = [connection for connection in found if connection.is_live]
        candidates = live or found
        return candidates[0] if candidates else None

    async def get(self, connection_id: str) -> Connection:
        """One connection by id (for operators); `NotConnectedError` if unknown."""
        connection = await self.store.get_connection(connection_id)
        if connection is None:
            raise NotConnectedError(f"connection {connection_id} does not exist")
        return connection

    async def list(
        self,
        *,
        app_user_id: str | None = None,
        status: ConnectionStatus | None = None,
    ) -> Sequence[Connection]:
        """Connections for operators, most recently updated first (no tokens)."""
        return await self.store.find_connections(app_user_id=app_user_id, status=status)

    def token_source(self, connection_id: str) -> VaultTokenSource:
        """The `TokenSource` a Miro client uses for this connection."""
        return VaultTokenSource(self, connection_id)

    # -- refreshing ---------------------------------------------------------------------

    async def _access_token(self, connection_id: str) -> str:
        stored = await self.store.load_tokens(connection_id)
        tokens = _require_live(stored, connection_id)
        if not tokens.expires_within(self.refresh_margin, self.clock()):
            return tokens.access_token
        seen = tokens.access_token
        return await self._refresh(
            connection_id, lambda _, t: self._stale(t, seen), trigger="expiry"
        )

    async def _after_rejection(self, connection_id: str, rejected: str) -> str:
        stored = await self.store.load_tokens(connection_id)
        tokens = _require_live(stored, connection_id)
        if tokens.access_token != rejected:
            return tokens.access_token  # someone already replaced it
        return await self._refresh(
            connection_id, lambda _, t: self._stale(t, rejected), trigger="rejected_401"
        )

    def _stale(self, tokens: TokenSet, seen: str) -> bool:
        """Still the token we judged stale, or itself near its end?"""
        return tokens.access_token == seen or tokens.expires_within(
            self.refresh_margin, self.clock()
        )

    async def _refresh(
        self,
        connection_id: str,
        needed: Callable[[Connection, TokenSet], bool],
        *,
        trigger: str,
    ) -> str:
        """Refresh single-flight, if `needed` still holds once the locks are held."""
        async with self._lock(connection_id):
            stored = await self.store.load_tokens(connection_id)
            tokens = _require_live(stored, connection_id)
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
                    tokens = _require_live(locked.current, connection_id)
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
        self.refresh_count += 1
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

    # -- changing status ----------------------------------------------------------------

    async def mark_needs_reauth(self, connection_id: str, reason: str) -> None:
        """Mark a connection dead until the user consents again (e.g. Miro answered 401
        to a fresh token, or the app was uninstalled)."""
        async with self._lock(connection_id), self.store.lock(connection_id) as locked:
            if locked.current.connection.status is ConnectionStatus.CONNECTED:
                await locked.set_status(
                    ConnectionStatus.NEEDS_REAUTH, reason[:200], now=self.clock()
                )
                marked = True
            else:
                marked = False
        if marked:
            log_event(
                logger,
                "vault.needs_reauth",
                level=logging.WARNING,
                connection_id=connection_id,
                reason=reason[:200],
            )

    async def disconnect(
        self,
        *,
        app_user_id: str | None = None,
        connection_id: str | None = None,
        team_id: str | None = None,
    ) -> DisconnectResult:
        """Revoke at Miro (`POST /v2/oauth/revoke`) and delete the tokens.

        Disconnects one connection (`connection_id`) or every connection of `app_user_id`
        (to `team_id`, if given). The tokens are deleted even when Miro cannot be reached;
        `revoked_at_miro` says whether Miro confirmed. `NotConnectedError` if none.
        """
        if connection_id is not None:
            found = [await self.get(connection_id)]
        elif app_user_id is not None:
            found = list(
                await self.store.find_connections(
                    app_user_id=app_user_id, team_id=team_id
                )
            )
        else:
            raise ValueError("pass app_user_id or connection_id")
        targets = [c for c in found if c.status is not ConnectionStatus.REMOVED]
        if not targets:
            raise NotConnectedError("no Miro connection to disconnect")
        revoked_all = True
        for connection in targets:
            revoked = await self._disconnect_one(connection.id)
            revoked_all &= revoked
            log_event(
                logger,
                "vault.disconnected",
                connection_id=connection.id,
                app_user_id=connection.app_user_id,
                revoked_at_miro=revoked,
            )
        return DisconnectResult(
            connection_ids=tuple(c.id for c in targets), revoked_at_miro=revoked_all
        )

    async def _disconnect_one(self, connection_id: str) -> bool:
        async with self._lock(connection_id), self.store.lock(connection_id) as locked:
            tokens = locked.current.tokens
            revoked = False
            if tokens is not None:
                access_token = tokens.access_token
                now = self.clock()
                if tokens.refresh_token and tokens.expires_within(timedelta(0), now):
                    # An expired access token cannot be revoked, but its refresh token
                    # still lives at Miro: trade it for a fresh pair, then revoke that.
                    try:
                        fresh = await self.miro.refresh(tokens.refresh_token, now=now)
                    except (RefreshRejectedError, MiroConnectError):
                        pass
                    else:
                        access_token = fresh.access_token
                revoked = await self.miro.revoke(access_token)
            await locked.set_status(
                ConnectionStatus.REMOVED, "disconnected", now=self.clock()
            )
        return revoked

    # -- maintenance --------------------------------------------------------------------

    async def maintain(self, *, batch_size: int = 500) -> MaintenanceReport:
        """Refresh connections whose refresh token nears its 60-day end, and forget
        expired flows. Run it daily (`miroconnect maintain`); on PostgreSQL an advisory
        lock makes concurrent runs on several machines a no-op.

        Works through every due connection, `batch_size` at a time, oldest first. A
        connection that fails (Miro down) stays due; a batch in which nothing succeeds
        ends the run, so a Miro outage cannot keep the job spinning on the same rows.
        """
        async with self.store.maintenance_lock() as acquired:
            if not acquired:
                log_event(logger, "vault.maintenance.skipped", reason="lock_held")
                return MaintenanceReport(ran=False)
            now = self.clock()
            cutoff = now - (self.refresh_token_lifetime - self.maintenance_window)
            refreshed = needs_reauth = failed = seen = 0

            def still_due(connection: Connection, tokens: TokenSet) -> bool:
                issued = connection.refresh_issued_at
                return issued is not None and issued < cutoff

            while True:
                due = await self.store.due_for_maintenance(
                    refresh_issued_before=cutoff, limit=batch_size
                )
                progress = 0
                for connection_id in due:
                    try:
                        await self._refresh(
                            connection_id, still_due, trigger="maintenance"
                        )
                    except ReauthorizationRequiredError:
                        needs_reauth += 1
                        progress += 1
                    except NotConnectedError:
                        progress += 1
                    except MiroConnectError:
                        failed += 1  # Miro down: the next run tries again
                    else:
                        refreshed += 1
                        progress += 1
                seen += len(due)
                if len(due) < batch_size or progress == 0:
                    break
            deleted = await self.store.delete_stale_pending(
                before=now - timedelta(days=1)
            )
            report = MaintenanceReport(
                ran=True,
                refreshed=refreshed,
                needs_reauth=needs_reauth,
                failed=failed,
                pending_deleted=deleted,
            )
            log_event(
                logger,
                "vault.maintenance",
                level=logging.WARNING if failed else logging.INFO,
                due=seen,
                refreshed=refreshed,
                needs_reauth=needs_reauth,
                failed=failed,
                pending_deleted=deleted,
            )
            return report


class VaultTokenSource:
    """`TokenSource` for one connection, backed by the vault."""

    def __init__(self, vault: TokenVault, connection_id: str) -> None:
        self._vault = vault
        self._connection_id = connection_id

    @property
    def key(self) -> str:
        """The connection id."""
        return self._connection_id

    async def access_token(self) -> str:
        """A token to send now, refreshed first when under 2 minutes remain."""
        return await self._vault._access_token(self._connection_id)

    async def after_rejection(self, rejected: str) -> str:
        """Miro answered 401 to `rejected`: a token to retry with, once."""
        return await self._vault._after_rejection(self._connection_id, rejected)

    def __repr__(self) -> str:
        return f"VaultTokenSource(connection_id={self._connection_id!r})"
