"""A rotated pair is never lost to a database error (peers.md (c)3, "lost rotation response").

Miro kills the old pair when it hands out a new one, so a refresh whose answer is not stored
loses the connection. The store is wrapped (injected, not patched) so that committing a
token write fails, as it does when PostgreSQL restarts between Miro's answer and our COMMIT.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

import httpx2
import pytest
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette

from miroconnect.assembly import Stack
from miroconnect.errors import ReauthorizationRequiredError, TokenStorageError
from miroconnect.logs import JSONFormatter
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.store import ConnectionStore, LockedConnection
from miroconnect.oauth.tokens import (
    Connection,
    ConnectionStatus,
    StoredTokens,
    TokenSet,
)
from miroconnect.oauth.vault import TokenVault
from miroconnect.types import Backoff
from support import FakeClock

from .test_vault import connect, control, probe


def commit_failed() -> OperationalError:
    return OperationalError(
        "COMMIT", None, ConnectionError("server closed the connection unexpectedly")
    )


class _SpyLocked:
    def __init__(self, inner: LockedConnection) -> None:
        self.inner = inner
        self.saved = False

    @property
    def current(self) -> StoredTokens:
        return self.inner.current

    async def save_tokens(self, tokens: TokenSet, *, now: datetime) -> None:
        self.saved = True
        await self.inner.save_tokens(tokens, now=now)

    async def set_status(
        self, status: ConnectionStatus, reason: str | None, *, now: datetime
    ) -> None:
        await self.inner.set_status(status, reason, now=now)


class FlakyStore:
    """A `ConnectionStore` whose next `failures` transactions that write tokens fail at
    COMMIT: before it (rolled back, nothing stored) or, with `after_commit`, after it
    (stored, but the caller saw an error: the answer to COMMIT was lost)."""

    def __init__(
        self, inner: ConnectionStore, failures: int, *, after_commit: bool = False
    ) -> None:
        self.inner = inner
        self.failures = failures
        self.after_commit = after_commit
        self.failed = 0

    def _fail_now(self, spy: _SpyLocked) -> bool:
        if spy.saved and self.failures > 0:
            self.failures -= 1
            self.failed += 1
            return True
        return False

    @asynccontextmanager
    async def _lock(self, connection_id: str) -> AsyncIterator[LockedConnection]:
        async with self.inner.lock(connection_id) as locked:
            spy = _SpyLocked(locked)
            yield spy
            if not self.after_commit and self._fail_now(spy):
                raise commit_failed()  # raised inside: the transaction rolls back
        if self.after_commit and self._fail_now(spy):
            raise commit_failed()

    def lock(self, connection_id: str) -> AbstractAsyncContextManager[LockedConnection]:
        return self._lock(connection_id)

    async def get_connection(self, connection_id: str) -> Connection | None:
        return await self.inner.get_connection(connection_id)

    async def find_connections(
        self,
        *,
        app_user_id: str | None = None,
        team_id: str | None = None,
        status: ConnectionStatus | None = None,
    ) -> Sequence[Connection]:
        return await self.inner.find_connections(
            app_user_id=app_user_id, team_id=team_id, status=status
        )

    async def load_tokens(self, connection_id: str) -> StoredTokens | None:
        return await self.inner.load_tokens(connection_id)

    async def user_tokens(
        self, app_user_id: str, team_id: str | None = None, *, reuse: bool = False
    ) -> Sequence[StoredTokens]:
        return await self.inner.user_tokens(app_user_id, team_id, reuse=reuse)

    async def due_for_maintenance(
        self, *, refresh_issued_before: datetime, limit: int
    ) -> Sequence[str]:
        return await self.inner.due_for_maintenance(
            refresh_issued_before=refresh_issued_before, limit=limit
        )

    def maintenance_lock(self) -> AbstractAsyncContextManager[bool]:
        return self.inner.maintenance_lock()

    async def delete_stale_pending(self, *, before: datetime) -> int:
        return await self.inner.delete_stale_pending(before=before)


class Sleeps:
    """The injected sleep: records each wait, runs an optional hook, never sleeps."""

    def __init__(self, hook: Any = None) -> None:
        self.waits: list[float] = []
        self.hook = hook

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.hook is not None:
            hook, self.hook = self.hook, None
            await hook()


def flaky_vault(
    stack: Stack, store: FlakyStore, clock: FakeClock, sleep: Sleeps, **kw: Any
) -> TokenVault:
    return TokenVault(store, stack.miro, clock=clock, sleep=sleep, **kw)


async def refresh_grants(emulator: Starlette) -> tuple[int, int]:
    stats = await control(emulator, "GET", "/_emulator/stats")
    return stats["token_grants"]["refresh_token"], stats["token_errors"]


async def test_pair_survives_failed_commits(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    clock: FakeClock,
    transport: httpx2.AsyncBaseTransport,
) -> None:
    connection = await connect(flow, emulator)
    before = await stack.storage.connections.load_tokens(connection.id)
    assert before is not None and before.tokens is not None
    store = FlakyStore(stack.storage.connections, failures=2)
    sleeps = Sleeps()
    vault = flaky_vault(stack, store, clock, sleeps)
    clock.advance(hours=2)  # expired: the next use refreshes

    token = await vault.token_source(connection.id).access_token()

    assert store.failed == 2 and sleeps.waits == [0.2, 0.4]  # backoff doubles
    assert token != before.tokens.access_token
    assert await probe(transport, token) == 200
    stored = await stack.storage.connections.load_tokens(connection.id)
    assert stored is not None and stored.tokens is not None
    assert stored.tokens.access_token == token  # the pair Miro issued is the one kept
    assert stored.tokens.refresh_token != before.tokens.refresh_token
    assert stored.connection.status is ConnectionStatus.CONNECTED
    assert await refresh_grants(emulator) == (1, 0)  # exactly one refresh at Miro
    # It serves from the database now: no second refresh.
    assert await stack.vault.token_source(connection.id).access_token() == token
    assert await refresh_grants(emulator) == (1, 0)


async def test_commit_that_went_through_is_not_written_again(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    connection = await connect(flow, emulator)
    store = FlakyStore(stack.storage.connections, failures=1, after_commit=True)
    vault = flaky_vault(stack, store, clock, Sleeps())
    clock.advance(hours=2)
    token = await vault.token_source(connection.id).access_token()
    stored = await stack.storage.connections.load_tokens(connection.id)
    assert stored is not None and stored.tokens is not None
    assert stored.tokens.access_token == token
    assert store.failed == 1 and await refresh_grants(emulator) == (1, 0)


async def test_a_peer_that_used_the_dead_token_meanwhile_does_not_kill_the_connection(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    connection = await connect(flow, emulator)

    async def peer_refreshes_during_the_outage() -> None:
        # Another process sees the old, expired pair (our write was lost) and refreshes
        # with the refresh token Miro just rotated away: Miro refuses it.
        with pytest.raises(ReauthorizationRequiredError):
            await stack.vault.token_source(connection.id).access_token()
        dead = await stack.vault.get(connection.id)
        assert dead.status is ConnectionStatus.NEEDS_REAUTH

    store = FlakyStore(stack.storage.connections, failures=1)
    vault = flaky_vault(stack, store, clock, Sleeps(peer_refreshes_during_the_outage))
    clock.advance(hours=2)
    token = await vault.token_source(connection.id).access_token()

    alive = await stack.vault.get(connection.id)
    assert alive.status is ConnectionStatus.CONNECTED and alive.status_reason is None
    assert await stack.vault.token_source(connection.id).access_token() == token
    assert await refresh_grants(emulator) == (1, 1)  # ours, and the peer's refused one


async def test_database_down_for_good_is_a_clear_error_without_the_token(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="miroconnect")
    connection = await connect(flow, emulator)
    store = FlakyStore(stack.storage.connections, failures=100)
    sleeps = Sleeps()
    vault = flaky_vault(
        stack,
        store,
        clock,
        sleeps,
        store_retry=Backoff(attempts=4, first=0.2, maximum=2.0),
    )
    clock.advance(hours=2)
    with pytest.raises(TokenStorageError) as caught:
        await vault.token_source(connection.id).access_token()
    assert sleeps.waits == [0.2, 0.4, 0.8, 1.6]
    assert store.failed == 5  # the first write and 4 retries
    assert connection.id in str(caught.value)
    assert "OperationalError" in str(caught.value)
    assert "eyJ" not in str(caught.value)
    assert await refresh_grants(emulator) == (1, 0)
    events = [record.getMessage() for record in caplog.records]
    assert events.count("vault.refresh.store_retry") == 4
    assert events[-1] == "vault.refresh.store_failed"
    formatted = "\n".join(JSONFormatter().format(r) for r in caplog.records)
    assert "eyJ" not in formatted and connection.id in formatted


async def test_errors_before_miro_answered_are_not_retried(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    connection = await connect(flow, emulator)

    class BrokenLock(FlakyStore):
        def lock(
            self, connection_id: str
        ) -> AbstractAsyncContextManager[LockedConnection]:
            raise commit_failed()  # the database is down before the refresh

    sleeps = Sleeps()
    vault = flaky_vault(stack, BrokenLock(stack.storage.connections, 0), clock, sleeps)
    clock.advance(hours=2)
    with pytest.raises(OperationalError):
        await vault.token_source(connection.id).access_token()
    assert sleeps.waits == [] and await refresh_grants(emulator) == (0, 0)
