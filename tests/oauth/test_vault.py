"""The vault: single-flight refresh, needs_reauth and back through consent, disconnect,
maintenance; all against the in-process emulator."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from miroconnect.assembly import Stack
from miroconnect.errors import NotConnectedError, ReauthorizationRequiredError
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.outcomes import (
    ActionDone,
    ConsentRequired,
    FlowOutcome,
    FlowStart,
)
from miroconnect.oauth.pending import PendingAction
from miroconnect.oauth.tokens import Connection, ConnectionStatus
from support import FakeClock
from support.oauth import MIRO, ProbeRunner, consent


async def control(emulator: Starlette, method: str, path: str, **body: Any) -> Any:
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=emulator), base_url=MIRO
    ) as http:
        response = await http.request(method, path, json=body or None)
        return response.json() if response.content else None


async def add_fault(emulator: Starlette, **fault: Any) -> None:
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=emulator), base_url=MIRO
    ) as http:
        response = await http.post("/_emulator/faults", json=fault)
        assert response.status_code == 201, response.text


async def connect(
    flow: ConnectFlow, emulator: Starlette, user: str = "user-1"
) -> Connection:
    start = await flow.start(user, None, "/")
    callback = await consent(emulator, start.authorize_url)
    outcome = await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
    )
    assert isinstance(outcome, FlowOutcome)
    return outcome.connection


async def probe(transport: httpx2.AsyncBaseTransport, token: str) -> int:
    async with httpx2.AsyncClient(transport=transport, base_url=MIRO) as http:
        response = await http.get(
            "/v1/oauth-token", headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code


async def test_fresh_token_is_served_without_refresh(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    connection = await connect(flow, emulator)
    source = stack.vault.token_source(connection.id)
    assert source.key == connection.id
    clock.advance(minutes=57)  # 3 minutes left: still above the 2-minute margin
    first = await source.access_token()
    assert await source.access_token() == first
    assert stack.vault.refresh_count == 0
    assert "token" not in repr(source).replace("TokenSource", "")


async def test_ten_concurrent_calls_refresh_once(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    clock: FakeClock,
    transport: httpx2.AsyncBaseTransport,
) -> None:
    connection = await connect(flow, emulator)
    before = await stack.storage.connections.load_tokens(connection.id)
    assert before is not None and before.tokens is not None
    clock.advance(minutes=59)  # under 2 minutes left: proactive refresh
    source = stack.vault.token_source(connection.id)

    async def call() -> int:
        token = await source.access_token()
        status = await probe(transport, token)
        if status == 401:
            status = await probe(transport, await source.after_rejection(token))
        return status

    statuses = await asyncio.gather(*(call() for _ in range(10)))
    assert statuses == [200] * 10
    stats = await control(emulator, "GET", "/_emulator/stats")
    assert stats["token_grants"]["refresh_token"] == 1
    assert stats["token_errors"] == 0
    assert stack.vault.refresh_count == 1
    after = await stack.storage.connections.load_tokens(connection.id)
    assert after is not None and after.tokens is not None
    assert after.tokens.access_token != before.tokens.access_token
    assert after.tokens.refresh_token != before.tokens.refresh_token
    assert (
        after.connection.miro_user_id == connection.miro_user_id
    )  # kept from exchange


async def test_401_refreshes_once_then_serves_the_replacement(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    transport: httpx2.AsyncBaseTransport,
) -> None:
    connection = await connect(flow, emulator)
    source = stack.vault.token_source(connection.id)
    rejected = await source.access_token()
    results = await asyncio.gather(
        *(source.after_rejection(rejected) for _ in range(5))
    )
    assert len(set(results)) == 1 and results[0] != rejected
    assert await probe(transport, results[0]) == 200
    # A late task reporting the same old token gets the replacement, no new refresh.
    assert await source.after_rejection(rejected) == results[0]
    assert stack.vault.refresh_count == 1


async def test_rejected_refresh_needs_reauth_then_consent_completes_the_action(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    clock: FakeClock,
    runner: ProbeRunner,
) -> None:
    connection = await connect(flow, emulator)
    # Miro refuses the next refresh (e.g. the grant was revoked or is 60 days old).
    await add_fault(
        emulator,
        method="POST",
        path="/v1/oauth/token",
        times=1,
        action="status",
        status=401,
        body={
            "status": 401,
            "code": "oauthError",
            "message": "Invalid refresh token.",
            "type": "error",
        },
    )
    clock.advance(hours=2)
    source = stack.vault.token_source(connection.id)
    with pytest.raises(ReauthorizationRequiredError, match="refresh_rejected"):
        await source.access_token()
    dead = await stack.vault.get(connection.id)
    assert dead.status is ConnectionStatus.NEEDS_REAUTH
    assert dead.status_reason == "refresh_rejected (401)"
    with pytest.raises(ReauthorizationRequiredError):
        await source.access_token()  # no second refresh attempt with a dead token
    assert stack.vault.refresh_count == 1

    action = PendingAction("create_board", {"name": "After reauth"})
    step = await flow.run_or_authorize("user-1", action, "/projects/7")
    assert isinstance(step, ConsentRequired) and isinstance(step.start, FlowStart)
    assert runner.runs == []
    callback = await consent(emulator, step.start.authorize_url)
    outcome = await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=step.start.binding_cookie_value,
        app_user_id="user-1",
    )
    assert isinstance(outcome, FlowOutcome)
    assert outcome.connection.id == connection.id
    assert outcome.connection.status is ConnectionStatus.CONNECTED
    assert outcome.connection.status_reason is None
    assert outcome.action_result is not None
    assert outcome.action_result.data["name"] == "After reauth"
    assert outcome.return_url == "/projects/7"
    # The action that waited in the flow, with the key the flow gave it (one run per key).
    [(ran, _)] = runner.runs
    assert (ran.kind, ran.params) == (action.kind, action.params)
    assert ran.idempotency_key is not None and ran.idempotency_key.startswith("flow:")


async def test_refresh_rejected_during_an_action_leads_to_consent(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    clock: FakeClock,
    runner: ProbeRunner,
) -> None:
    connection = await connect(flow, emulator)
    await add_fault(
        emulator,
        method="POST",
        path="/v1/oauth/token",
        times=1,
        action="status",
        status=400,
    )
    clock.advance(hours=2)
    step = await flow.run_or_authorize("user-1", PendingAction("x"), "/", service=True)
    assert isinstance(step, ConsentRequired)
    assert not isinstance(step.start, FlowStart)  # service mode: a launch link
    assert (
        await stack.vault.get(connection.id)
    ).status is ConnectionStatus.NEEDS_REAUTH
    assert runner.runs == []
    again = await flow.run_or_authorize("user-1", PendingAction("x"), "/")
    assert isinstance(again, ConsentRequired)  # needs_reauth: straight to consent
    assert stack.vault.refresh_count == 1


async def test_miro_down_during_refresh_changes_nothing(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    from miroconnect.errors import MiroAPIError, MiroTransportError

    connection = await connect(flow, emulator)
    before = await stack.storage.connections.load_tokens(connection.id)
    await add_fault(
        emulator,
        method="POST",
        path="/v1/oauth/token",
        times=1,
        action="reset_before_commit",
    )
    await add_fault(
        emulator,
        method="POST",
        path="/v1/oauth/token",
        times=1,
        action="status",
        status=503,
    )
    clock.advance(hours=2)
    source = stack.vault.token_source(connection.id)
    with pytest.raises(MiroTransportError):
        await source.access_token()
    with pytest.raises(MiroAPIError):
        await source.access_token()
    assert await stack.storage.connections.load_tokens(connection.id) == before
    fresh = await source.access_token()  # Miro is back: the old refresh token works
    assert before is not None and before.tokens is not None
    assert fresh != before.tokens.access_token
    assert (await stack.vault.get(connection.id)).is_live


async def test_disconnect_revokes_and_deletes(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    transport: httpx2.AsyncBaseTransport,
) -> None:
    connection = await connect(flow, emulator)
    token = await stack.vault.token_source(connection.id).access_token()
    result = await stack.vault.disconnect(app_user_id="user-1")
    assert result.revoked_at_miro is True
    assert result.connection_ids == (connection.id,)
    assert await probe(transport, token) == 401  # dead at Miro
    removed = await stack.vault.get(connection.id)
    assert removed.status is ConnectionStatus.REMOVED and removed.key_id is None
    stored = await stack.storage.connections.load_tokens(connection.id)
    assert stored is not None and stored.tokens is None
    assert await stack.vault.connection_for("user-1") is None
    with pytest.raises(NotConnectedError):
        await stack.vault.token_source(connection.id).access_token()
    with pytest.raises(NotConnectedError):
        await stack.vault.disconnect(app_user_id="user-1")


async def test_disconnect_deletes_even_when_miro_is_unreachable(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    connection = await connect(flow, emulator)
    await add_fault(
        emulator,
        method="POST",
        path="/v2/oauth/revoke",
        times=1,
        action="reset_before_commit",
    )
    result = await stack.vault.disconnect(connection_id=connection.id)
    assert result.revoked_at_miro is False
    stored = await stack.storage.connections.load_tokens(connection.id)
    assert stored is not None and stored.tokens is None
    assert stored.connection.status is ConnectionStatus.REMOVED


async def test_disconnect_with_expired_access_token_still_revokes_the_grant(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    connection = await connect(flow, emulator)
    stored = await stack.storage.connections.load_tokens(connection.id)
    assert stored is not None and stored.tokens is not None
    clock.advance(hours=3)
    result = await stack.vault.disconnect(connection_id=connection.id)
    assert result.revoked_at_miro is True
    # The old refresh token died with the revocation: Miro refuses it.
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=emulator), base_url=MIRO
    ) as http:
        response = await http.post(
            "/v1/oauth/token",
            data={
                "grant_type": "refresh_token",
                "client_id": stack.miro.config.client_id,
                "client_secret": stack.miro.config.client_secret,
                "refresh_token": stored.tokens.refresh_token or "",
            },
        )
    assert response.status_code == 401


async def test_operator_views_and_mark_needs_reauth(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    one = await connect(flow, emulator, "user-1")
    two = await connect(flow, emulator, "user-2")
    assert {c.id for c in await stack.vault.list()} == {one.id, two.id}
    assert [c.id for c in await stack.vault.list(app_user_id="user-2")] == [two.id]
    await stack.vault.mark_needs_reauth(two.id, "uninstalled")
    listed = await stack.vault.list(status=ConnectionStatus.NEEDS_REAUTH)
    assert [(c.id, c.status_reason) for c in listed] == [(two.id, "uninstalled")]
    assert (await stack.vault.connection_for("user-2")) is not None
    assert not (await stack.vault.get(two.id)).is_live
    with pytest.raises(NotConnectedError):
        await stack.vault.get("nope")


async def test_maintenance_refreshes_old_refresh_tokens_only(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    old = await connect(flow, emulator, "old-user")
    clock.advance(days=49)
    young = await connect(flow, emulator, "young-user")
    clock.advance(days=2)  # old: 51 days, past the 50-day mark; young: 2 days
    report = await stack.vault.maintain()
    assert report.ran and report.refreshed == 1 and report.needs_reauth == 0
    refreshed = await stack.vault.get(old.id)
    assert refreshed.refresh_issued_at == clock.now
    assert (
        await stack.vault.get(young.id)
    ).refresh_issued_at == young.refresh_issued_at
    again = await stack.vault.maintain()
    assert again.refreshed == 0  # nothing due any more
    stats = await control(emulator, "GET", "/_emulator/stats")
    assert stats["token_grants"]["refresh_token"] == 1
    assert again.pending_deleted == 0 and report.pending_deleted == 2


async def test_maintenance_works_through_every_due_batch(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    # Five due connections and batches of two: one run must refresh all five.
    for n in range(5):
        await connect(flow, emulator, f"user-{n}")
    clock.advance(days=51)
    report = await stack.vault.maintain(batch_size=2)
    assert report.ran and report.refreshed == 5 and report.failed == 0
    stats = await control(emulator, "GET", "/_emulator/stats")
    assert stats["token_grants"]["refresh_token"] == 5


async def test_maintenance_stops_when_miro_is_down_instead_of_spinning(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    for n in range(3):
        await connect(flow, emulator, f"user-{n}")
    clock.advance(days=51)
    await add_fault(
        emulator, method="POST", path="/v1/oauth/token", action="status", status=503
    )
    report = await stack.vault.maintain(batch_size=2)
    # One full batch fails, nothing progresses, the run ends; the rows stay due.
    assert report.ran and report.refreshed == 0 and report.failed == 2
    await control(emulator, "DELETE", "/_emulator/faults")
    assert (await stack.vault.maintain(batch_size=2)).refreshed == 3


async def test_maintenance_lock_lets_one_process_run(
    stack: Stack, is_postgresql: bool
) -> None:
    async with stack.storage.connections.maintenance_lock() as first:
        assert first
        report = await stack.vault.maintain()
        # PostgreSQL: the advisory lock is taken, so a second run does nothing.
        assert report.ran is (not is_postgresql)
    assert (await stack.vault.maintain()).ran


async def test_action_after_connection_run_by_run_or_authorize(
    flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    await connect(flow, emulator)
    done = await flow.run_or_authorize("user-1", PendingAction("a", {"n": 1}), "/")
    assert isinstance(done, ActionDone) and done.result.data["n"] == 1
