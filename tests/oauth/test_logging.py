"""Events of the connect flow and the vault, against the emulator: each step logs one event
with ids and reasons, and no token, code, state, cookie or secret appears in any line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from miroconnect.assembly import Stack
from miroconnect.crypto import TokenCipher
from miroconnect.errors import ReauthorizationRequiredError, StateReplayedError
from miroconnect.logs import JSONFormatter, request_context
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.miro import MiroOAuthClient
from miroconnect.oauth.outcomes import ConsentRequired, FlowOutcome, FlowStart
from miroconnect.oauth.pending import PendingAction
from miroconnect.oauth.tokens import StoredTokens
from miroconnect.oauth.vault import TokenVault
from miroconnect.storage.db import Database
from miroconnect.storage.repository import SQLStore
from support import CLIENT_SECRET, FakeClock
from support.oauth import KEY1, consent

from .test_vault import add_fault


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def raw(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw.splitlines()]

    def events(self) -> list[str]:
        return [line["event"] for line in self.lines()]

    def of(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == event]


@pytest.fixture
def logs() -> Iterator[Captured]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    package = logging.getLogger("miroconnect")
    package.addHandler(handler)
    package.setLevel(logging.DEBUG)
    try:
        yield Captured(stream)
    finally:
        package.removeHandler(handler)
        package.setLevel(logging.NOTSET)


async def secrets_of(stack: Stack, connection_id: str) -> list[str]:
    stored = await stack.storage.connections.load_tokens(connection_id)
    assert stored is not None and stored.tokens is not None
    return [stored.tokens.access_token, stored.tokens.refresh_token or ""]


async def test_flow_and_vault_log_every_step_and_no_secret(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    clock: FakeClock,
    logs: Captured,
) -> None:
    secrets: list[str] = [CLIENT_SECRET, KEY1.split(":", 1)[1]]
    with request_context("req-connect"):
        start = await flow.start("user-1", PendingAction("probe", {"n": 1}), "/p/1")
        callback = await consent(emulator, start.authorize_url)
        outcome = await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
            app_user_id="user-1",
        )
        assert isinstance(outcome, FlowOutcome)
    connection = outcome.connection
    secrets += [callback["state"], callback["code"], start.binding_cookie_value]
    secrets += await secrets_of(stack, connection.id)

    with pytest.raises(StateReplayedError):  # the same callback again
        await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
        )

    clock.advance(minutes=59)  # proactive refresh
    await stack.vault.token_source(connection.id).access_token()
    secrets += await secrets_of(stack, connection.id)

    launch = await flow.start_launch("user-2", None, "/")
    launched = await flow.launch(launch.launch_token)
    secrets += [launch.launch_token, launched.binding_cookie_value]

    # Miro refuses the next refresh.
    await add_fault(
        emulator,
        method="POST",
        path="/v1/oauth/token",
        times=1,
        action="status",
        status=400,
    )
    clock.advance(hours=2)
    with pytest.raises(ReauthorizationRequiredError):
        await stack.vault.token_source(connection.id).access_token()
    again = await flow.run_or_authorize("user-1", PendingAction("probe"), "/")
    assert isinstance(again, ConsentRequired) and isinstance(again.start, FlowStart)
    secrets += [again.start.binding_cookie_value]
    result = await stack.vault.disconnect(connection_id=connection.id)
    await stack.vault.maintain()

    events = logs.events()
    for expected in [
        "flow.started",
        "miro.call",
        "flow.callback_consumed",
        "flow.code_exchanged",
        "flow.connection_stored",
        "flow.action_run",
        "flow.completed",
        "flow.failed",
        "vault.refresh.started",
        "vault.refresh.succeeded",
        "flow.launched",
        "vault.refresh.rejected",
        "vault.needs_reauth",
        "vault.disconnected",
        "vault.maintenance",
    ]:
        assert expected in events, expected
    # The connect flow's steps, in order, all under the request id set around them.
    connect_steps = [
        line["event"]
        for line in logs.lines()
        if line["request_id"] == "req-connect" and line["event"].startswith("flow.")
    ]
    assert connect_steps == [
        "flow.started",
        "flow.callback_consumed",
        "flow.code_exchanged",
        "flow.connection_stored",
        "flow.action_run",
        "flow.completed",
    ]
    (stored,) = logs.of("flow.connection_stored")
    assert stored["connection_id"] == connection.id
    assert stored["app_user_id"] == "user-1"
    assert [line["reason"] for line in logs.of("flow.failed")] == ["state_replayed"]
    (rejected,) = logs.of("vault.refresh.rejected")
    assert rejected["status_code"] == 400 and rejected["level"] == "warning"
    (reauth,) = logs.of("vault.needs_reauth")
    assert reauth["reason"] == "refresh_rejected (400)"
    (gone,) = logs.of("vault.disconnected")
    assert gone["revoked_at_miro"] is result.revoked_at_miro
    assert gone["connection_id"] == connection.id
    (succeeded,) = logs.of("vault.refresh.succeeded")
    assert succeeded["trigger"] == "expiry"
    calls = {(c["call"], c.get("status_code")) for c in logs.of("miro.call")}
    assert ("token.authorization_code", 200) in calls
    assert ("token.refresh_token", 200) in calls and ("revoke", 204) in calls

    assert len(set(secrets)) == len(secrets) and all(len(s) >= 16 for s in secrets)
    for secret in secrets:
        assert secret not in logs.raw


class ReadCountingStore(SQLStore):
    """The real store; `all_read` fires once `expected` token reads have happened, so a
    test can hold Miro's answer until every task has looked at the stale token."""

    def __init__(self, db: Database, cipher: TokenCipher, expected: int) -> None:
        super().__init__(db, cipher)
        self.expected = expected
        self.reads = 0
        self.all_read = asyncio.Event()

    async def load_tokens(self, connection_id: str) -> StoredTokens | None:
        stored = await super().load_tokens(connection_id)
        self.reads += 1
        if self.reads >= self.expected:
            self.all_read.set()
        return stored


class HeldTokenEndpoint(httpx2.AsyncBaseTransport):
    """Passes requests through, but holds the token endpoint until `release` is set."""

    def __init__(
        self, inner: httpx2.AsyncBaseTransport, release: asyncio.Event
    ) -> None:
        self.inner = inner
        self.release = release

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/oauth/token":
            await asyncio.wait_for(self.release.wait(), timeout=10)
        return await self.inner.handle_async_request(request)


async def test_skipped_refreshes_are_logged(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    clock: FakeClock,
    transport: httpx2.AsyncBaseTransport,
    logs: Captured,
) -> None:
    start = await flow.start("user-1", None, "/")
    callback = await consent(emulator, start.authorize_url)
    outcome = await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
    )
    assert isinstance(outcome, FlowOutcome)
    clock.advance(minutes=59)
    # Five tasks must all see the stale token before Miro answers the one refresh;
    # otherwise a late task finds the new token at once and has nothing to skip. Six
    # reads come before the token request: each task's first, and the refresher's
    # second look under the lock.
    store = ReadCountingStore(
        stack.database, stack.storage.connections.cipher, expected=6
    )
    miro = MiroOAuthClient(
        stack.miro.config, transport=HeldTokenEndpoint(transport, store.all_read)
    )
    vault = TokenVault(store, miro, clock=clock)
    try:
        source = vault.token_source(outcome.connection.id)
        tokens = await asyncio.gather(*(source.access_token() for _ in range(5)))
    finally:
        await miro.aclose()
    assert len(set(tokens)) == 1
    assert len(logs.of("vault.refresh.started")) == 1
    skipped = logs.of("vault.refresh.skipped")
    assert len(skipped) == 4 and {s["by"] for s in skipped} == {"task"}
