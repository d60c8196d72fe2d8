"""The token vault: every user's Miro connection, and live access tokens for them.

Tokens are refreshed proactively when under 2 minutes remain and after one 401, single-flight
across tasks and processes (`miroconnect.oauth.refresh`). A connection that Miro refuses to
refresh turns `needs_reauth`; disconnecting revokes at Miro and deletes the tokens; the
maintenance job refreshes connections whose refresh token nears Miro's 60 days.

Every step logs one event (`vault.refresh.started`, `.succeeded`, `.skipped`, `.rejected`,
`.failed`, `.store_retry`, `.store_failed`, `vault.needs_reauth`, `vault.disconnected`,
`vault.maintenance`) with connection ids and reasons, never a token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from miroconnect.errors import (
    MiroConnectError,
    NotConnectedError,
    ReauthorizationRequiredError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.miro import MiroOAuthClient, RefreshRejectedError
from miroconnect.oauth.refresh import STORE_RETRY, Refresher, require_live
from miroconnect.oauth.store import ConnectionStore
from miroconnect.oauth.tokens import (
    Connection,
    ConnectionStatus,
    ReadGuard,
    TokenSet,
)
from miroconnect.types import Backoff, Clock, Sleep, system_clock

__all__ = [
    "DisconnectResult",
    "MaintenanceReport",
    "OpenConnection",
    "TokenVault",
    "VaultTokenSource",
]

REFRESH_MARGIN = timedelta(minutes=2)
REFRESH_TOKEN_LIFETIME = timedelta(days=60)
MAINTENANCE_WINDOW = timedelta(days=10)

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


@dataclass(frozen=True)
class OpenConnection:
    """A connection and the token source to call Miro with (`TokenVault.open`);
    `guard`: set when the read was remembered (`ReadGuard`)."""

    connection: Connection
    tokens: VaultTokenSource
    guard: ReadGuard | None = None


_Found = TypeVar("_Found")


def _choose(
    found: Sequence[_Found], connection_of: Callable[[_Found], Connection]
) -> _Found | None:
    """Of a user's connections, most recently updated first: the first live one, else
    the first not removed."""
    kept = [f for f in found if connection_of(f).status is not ConnectionStatus.REMOVED]
    live = [f for f in kept if connection_of(f).is_live]
    candidates = live or kept
    return candidates[0] if candidates else None


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
        self._refresher = Refresher(
            store, miro, clock=clock, store_retry=store_retry, sleep=sleep
        )

    @property
    def refresh_count(self) -> int:
        """Refreshes this vault sent to Miro (for tests and metrics)."""
        return self._refresher.count

    @property
    def locks_in_memory(self) -> int:
        """In-process refresh locks alive: one per connection some task is refreshing
        (they go when no task holds one; the scale bench checks that they do)."""
        return self._refresher.locks_in_memory

    # -- reading ------------------------------------------------------------------------

    async def connection_for(
        self, app_user_id: str, team_id: str | None = None
    ) -> Connection | None:
        """The user's connection (to `team_id`, or their most recently used one), not
        removed; check `is_live` before running anything on it.

        A live connection is preferred over one that needs consent again.
        """
        found = await self.store.find_connections(
            app_user_id=app_user_id, team_id=team_id
        )
        chosen = _choose(found, lambda connection: connection)
        return chosen

    async def open(
        self, app_user_id: str, team_id: str | None = None, *, reuse: bool = False
    ) -> OpenConnection | None:
        """The connection `connection_for` would choose, with a token source that starts
        from the tokens read with it: one statement for both, where reading the
        connection and then its tokens took two.

        `reuse=True` (an action about to write its journal entry): the store may answer
        from a read it remembers, with no statement; the answer's `guard` must then be
        checked by that entry (`ReadGuard`), and on `StaleReadError` the caller opens
        again without `reuse`."""
        # `reuse` is passed only when asked for: a store written before it keeps working.
        found = await (
            self.store.user_tokens(app_user_id, team_id, reuse=True)
            if reuse
            else self.store.user_tokens(app_user_id, team_id)
        )
        chosen = _choose(found, lambda stored: stored.connection)
        if chosen is None:
            return None
        connection = chosen.connection
        read = chosen.tokens if connection.is_live else None
        return OpenConnection(
            connection,
            VaultTokenSource(self, connection.id, read=read),
            guard=chosen.guard,
        )

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

    def token_source(
        self, connection_id: str, *, read: TokenSet | None = None
    ) -> VaultTokenSource:
        """The `TokenSource` a Miro client uses for this connection; `read`: its tokens,
        when the caller just stored or read them (no second read)."""
        return VaultTokenSource(self, connection_id, read=read)

    # -- refreshing ---------------------------------------------------------------------

    async def _access_token(
        self, connection_id: str, read: TokenSet | None = None
    ) -> str:
        """A token to send now. `read`: the tokens as read a moment ago with the
        connection (no second read unless they are near their end)."""
        if read is not None:
            tokens = read
        else:
            stored = await self.store.load_tokens(connection_id)
            tokens = require_live(stored, connection_id)
        if not tokens.expires_within(self.refresh_margin, self.clock()):
            return tokens.access_token
        seen = tokens.access_token
        return await self._refresher.refresh(
            connection_id, lambda _, t: self._stale(t, seen), trigger="expiry"
        )

    async def _after_rejection(self, connection_id: str, rejected: str) -> str:
        stored = await self.store.load_tokens(connection_id)
        tokens = require_live(stored, connection_id)
        if tokens.access_token != rejected:
            return tokens.access_token  # someone already replaced it
        return await self._refresher.refresh(
            connection_id, lambda _, t: self._stale(t, rejected), trigger="rejected_401"
        )

    def _stale(self, tokens: TokenSet, seen: str) -> bool:
        """Still the token we judged stale, or itself near its end?"""
        return tokens.access_token == seen or tokens.expires_within(
            self.refresh_margin, self.clock()
        )

    # -- changing status ----------------------------------------------------------------

    async def mark_needs_reauth(self, connection_id: str, reason: str) -> None:
        """Mark a connection dead until the user consents again (e.g. Miro answered 401
        to a fresh token, or the app was uninstalled)."""
        async with (
            self._refresher.lock(connection_id),
            self.store.lock(connection_id) as locked,
        ):
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
        async with (
            self._refresher.lock(connection_id),
            self.store.lock(connection_id) as locked,
        ):
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
                        await self._refresher.refresh(
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

    # -- handing tokens out -------------------------------------------------------------

    async def tokens_valid_for(self, connection_id: str, margin: timedelta) -> TokenSet:
        """The connection's tokens with at least `margin` of life left (and at least the
        vault's own refresh margin), refreshed first, single-flight, if they have less:
        for an app that calls Miro with its own SDK. `NotConnectedError` or
        `ReauthorizationRequiredError` as for any use of the connection.

        A token Miro issues with less than `margin` to live is returned as it is (its
        `expires_at` says so); a non-expiring token is returned at once.
        """
        margin = max(margin, self.refresh_margin)
        tokens = require_live(
            await self.store.load_tokens(connection_id), connection_id
        )
        if not tokens.expires_within(margin, self.clock()):
            return tokens
        seen = tokens.access_token

        def needed(_: Connection, current: TokenSet) -> bool:
            # Still the token we read (not "less than `margin` left": tokens Miro issues
            # shorter would be refreshed by every caller).
            return current.access_token == seen

        await self._refresher.refresh(connection_id, needed, trigger="expiry")
        # The pair the refresh stored (or a newer one another process stored since).
        return require_live(await self.store.load_tokens(connection_id), connection_id)


class VaultTokenSource:
    """`TokenSource` for one connection, backed by the vault.

    `read`: the connection's tokens as just read (`TokenVault.open`): tokens come from
    them, without reading the row again, until they near their end or Miro refuses them.
    If another process refreshed meanwhile, Miro may refuse the token; the 401 then
    leads to `after_rejection`, which reads the row again.
    """

    def __init__(
        self, vault: TokenVault, connection_id: str, *, read: TokenSet | None = None
    ) -> None:
        self._vault = vault
        self._connection_id = connection_id
        self._read = read

    @property
    def key(self) -> str:
        """The connection id."""
        return self._connection_id

    async def access_token(self) -> str:
        """A token to send now, refreshed first when under 2 minutes remain."""
        token = await self._vault._access_token(self._connection_id, self._read)
        if self._read is not None and token != self._read.access_token:
            self._read = None  # refreshed: from now on the row says
        return token

    async def after_rejection(self, rejected: str) -> str:
        """Miro answered 401 to `rejected`: a token to retry with, once."""
        self._read = None
        return await self._vault._after_rejection(self._connection_id, rejected)

    def __repr__(self) -> str:
        return f"VaultTokenSource(connection_id={self._connection_id!r})"
