"""The connect flow end to end against the in-process emulator, and every attack on it."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from miroconnect.assembly import Stack
from miroconnect.errors import (
    AccessDeniedError,
    AuthorizationError,
    BrowserMismatchError,
    CodeMissingError,
    CodeRejectedError,
    ConsentFailedError,
    ExchangeFailedError,
    LaunchExpiredError,
    LaunchReplayedError,
    LaunchUnknownError,
    ReturnURLRejectedError,
    StateExpiredError,
    StateReplayedError,
    StateUnknownError,
    UserMismatchError,
)
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.outcomes import (
    ActionDone,
    ConsentRequired,
    FlowHeld,
    FlowOutcome,
    FlowStart,
)
from miroconnect.oauth.pending import PendingAction
from miroconnect.oauth.tokens import ConnectionStatus
from miroconnect.storage.models import ConnectionRow, PendingAuthorizationRow
from support import CLIENT_SECRET, FakeClock
from support.oauth import MIRO, ProbeRunner, consent, make_emulator, open_stack

BOARD = PendingAction("create_board", {"name": "Sprint 12"}, idempotency_key="k-1")


async def emulator_stats(emulator: Starlette) -> dict[str, object]:
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=emulator), base_url=MIRO
    ) as http:
        body: dict[str, object] = (await http.get("/_emulator/stats")).json()
        return body


async def connection_rows(stack: Stack) -> int:
    async with stack.database.session() as session:
        return int(await session.scalar(select(func.count(ConnectionRow.id))) or 0)


async def test_end_to_end_connects_runs_the_action_and_stores_no_plaintext(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    runner: ProbeRunner,
    database_url: str,
) -> None:
    start = await flow.start("user-1", BOARD, "/projects/42")
    assert start.authorize_url.startswith(f"{MIRO}/oauth/authorize?")
    assert start.binding_cookie_value not in start.authorize_url
    callback = await consent(emulator, start.authorize_url)

    outcome = await flow.complete(
        state=callback.get("state"),
        code=callback.get("code"),
        binding_cookie_value=start.binding_cookie_value,
        app_user_id="user-1",
    )
    assert isinstance(outcome, FlowOutcome)

    assert outcome.return_url == "/projects/42"
    assert outcome.action_error is None
    assert outcome.action_result is not None
    assert outcome.action_result.data["name"] == "Sprint 12"
    connection = outcome.connection
    assert connection.status is ConnectionStatus.CONNECTED
    assert connection.miro_team_id == callback["team_id"]
    assert outcome.action_result.data["miro_user_id"] == connection.miro_user_id
    assert "boards:write" in connection.scopes
    assert [action for action, _ in runner.runs] == [BOARD]
    assert (await stack.vault.connection_for("user-1")) == connection
    stats = await emulator_stats(emulator)
    assert stats["token_grants"] == {"authorization_code": 1, "refresh_token": 0}

    stored = await stack.storage.connections.load_tokens(connection.id)
    assert stored is not None and stored.tokens is not None
    secrets = [
        stored.tokens.access_token,
        stored.tokens.refresh_token or "missing",
        callback["code"],
        callback["state"],
        start.binding_cookie_value,
        CLIENT_SECRET,
    ]
    # The raw bytes of the database: no secret in any table, page, WAL or index.
    if database_url.startswith("sqlite"):
        await stack.database.dispose()  # flush the WAL into the file
        path = Path(database_url.split("///", 1)[1])
        raw = b"".join(
            p.read_bytes()
            for p in path.parent.iterdir()
            if p.name.startswith(path.name)
        )
        assert len(raw) > 0
    else:
        raw = b""
    async with stack.database.session() as session:
        for model in (ConnectionRow, PendingAuthorizationRow):
            for row in await session.scalars(select(model)):
                raw += repr(
                    {c.key: getattr(row, c.key) for c in model.__table__.columns}
                ).encode()
    for secret in secrets:
        assert secret.encode() not in raw


async def test_non_expiring_app_connects_without_refresh_token(
    database_url: str, clock: FakeClock
) -> None:
    from miroconnect.emulator import emulator_transport
    from miroconnect.storage.migrate import upgrade

    emulator = make_emulator(clock, expiring=False)
    await upgrade(database_url)
    stack = open_stack(database_url, emulator_transport(emulator), clock)
    try:
        flow = stack.flow_with(ProbeRunner(emulator_transport(emulator)))
        start = await flow.start("user-1", None, "/")
        callback = await consent(emulator, start.authorize_url)
        outcome = await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
        )
        assert isinstance(outcome, FlowOutcome)
        assert outcome.action_result is None
        stored = await stack.storage.connections.load_tokens(outcome.connection.id)
        assert stored is not None and stored.tokens is not None
        assert stored.tokens.refresh_token is None
        assert stored.tokens.expires_at is None
        clock.advance(days=365)
        source = stack.vault.token_source(outcome.connection.id)
        assert await source.access_token() == stored.tokens.access_token
    finally:
        await stack.aclose()


async def test_reconnect_replaces_the_tokens_of_the_same_connection(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    ids, tokens = [], []
    for _ in range(2):
        start = await flow.start("user-1", None, "/")
        callback = await consent(emulator, start.authorize_url)
        outcome = await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
        )
        assert isinstance(outcome, FlowOutcome)
        ids.append(outcome.connection.id)
        stored = await stack.storage.connections.load_tokens(outcome.connection.id)
        assert stored is not None and stored.tokens is not None
        tokens.append(stored.tokens.access_token)
    assert ids[0] == ids[1]
    assert tokens[0] != tokens[1]
    assert await connection_rows(stack) == 1


# -- attacks: each has its own error, and nothing is stored --------------------------------


async def started(
    flow: ConnectFlow, emulator: Starlette, user: str = "user-1"
) -> tuple[FlowStart, dict[str, str]]:
    start = await flow.start(user, BOARD, "/projects/42")
    return start, await consent(emulator, start.authorize_url)


async def assert_nothing_stored(stack: Stack, runner: ProbeRunner) -> None:
    assert await connection_rows(stack) == 0
    assert runner.runs == []


async def test_replayed_state(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    start, callback = await started(flow, emulator)
    await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
    )
    assert len(runner.runs) == 1
    with pytest.raises(StateReplayedError) as caught:
        await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
        )
    assert caught.value.reason == "state_replayed"
    assert len(runner.runs) == 1  # the action never runs twice
    stats = await emulator_stats(emulator)
    assert stats["token_grants"] == {"authorization_code": 1, "refresh_token": 0}


async def test_concurrent_callbacks_consume_the_state_once(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    import asyncio

    start, callback = await started(flow, emulator)
    results = await asyncio.gather(
        *(
            flow.complete(
                state=callback["state"],
                code=callback["code"],
                binding_cookie_value=start.binding_cookie_value,
            )
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, StateReplayedError) for r in results) == 4
    assert len(runner.runs) == 1


async def test_expired_state(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    runner: ProbeRunner,
    clock: FakeClock,
) -> None:
    start, callback = await started(flow, emulator)
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(StateExpiredError):
        await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
        )
    await assert_nothing_stored(stack, runner)


@pytest.mark.parametrize(
    "state", [None, "", "forged-state-value-that-was-never-issued"]
)
async def test_forged_state(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    runner: ProbeRunner,
    state: str | None,
) -> None:
    start, callback = await started(flow, emulator)
    with pytest.raises(StateUnknownError):
        await flow.complete(
            state=state,
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
        )
    await assert_nothing_stored(stack, runner)


@pytest.mark.parametrize("cookie", [None, "", "another-browser-cookie"])
async def test_state_completed_in_another_browser(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    runner: ProbeRunner,
    cookie: str | None,
) -> None:
    _, callback = await started(flow, emulator)
    with pytest.raises(BrowserMismatchError):
        await flow.complete(
            state=callback["state"], code=callback["code"], binding_cookie_value=cookie
        )
    await assert_nothing_stored(stack, runner)


async def test_user_a_state_completed_in_user_b_session(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    start, callback = await started(flow, emulator, user="alice")
    with pytest.raises(UserMismatchError):
        await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
            app_user_id="bob",
        )
    await assert_nothing_stored(stack, runner)


async def test_flow_started_by_attacker_completed_by_victim(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    # The attacker starts a flow and consents with their own Miro account, then lures
    # the victim's browser to the callback URL: the victim has no binding cookie for
    # that state (or their own, from another flow), and is another app user.
    _attacker_start, attacker_callback = await started(flow, emulator, user="mallory")
    victim_start = await flow.start("victim", None, "/")
    with pytest.raises(BrowserMismatchError):
        await flow.complete(
            state=attacker_callback["state"],
            code=attacker_callback["code"],
            binding_cookie_value=victim_start.binding_cookie_value,
            app_user_id="victim",
        )
    await assert_nothing_stored(stack, runner)
    assert await stack.vault.connection_for("victim") is None
    assert await stack.vault.connection_for("mallory") is None


async def test_code_reused(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    start, callback = await started(flow, emulator)
    await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
    )
    # A second flow whose callback carries the first, already used code.
    second = await flow.start("user-2", BOARD, "/")
    second_callback = await consent(emulator, second.authorize_url)
    with pytest.raises(CodeRejectedError) as caught:
        await flow.complete(
            state=second_callback["state"],
            code=callback["code"],
            binding_cookie_value=second.binding_cookie_value,
        )
    assert caught.value.reason == "code_rejected"
    assert callback["code"] not in str(caught.value)
    assert await stack.vault.connection_for("user-2") is None
    assert len(runner.runs) == 1


async def test_access_denied_at_miro(
    stack: Stack, database_url: str, clock: FakeClock, runner: ProbeRunner
) -> None:
    emulator = make_emulator(clock, auto_approve=False)
    flow = stack.flow_with(runner)
    start = await flow.start("user-1", BOARD, "/")
    callback = await consent(emulator, start.authorize_url, decision="cancel")
    assert callback["error"] == "access_denied"
    with pytest.raises(AccessDeniedError) as caught:
        await flow.complete(
            state=callback["state"],
            code=None,
            error=callback["error"],
            error_description=callback.get("error_description"),
            binding_cookie_value=start.binding_cookie_value,
        )
    assert caught.value.reason == "access_denied"
    await assert_nothing_stored(stack, runner)


async def test_other_miro_error_and_missing_code(
    stack: Stack, flow: ConnectFlow, runner: ProbeRunner
) -> None:
    start = await flow.start("user-1", None, "/")
    state = dict(
        p.split("=", 1) for p in start.authorize_url.split("?", 1)[1].split("&")
    )["state"]
    with pytest.raises(ConsentFailedError):
        await flow.complete(
            state=state,
            code=None,
            error="server_error",
            binding_cookie_value=start.binding_cookie_value,
        )
    start = await flow.start("user-1", None, "/")
    state = start.authorize_url.split("state=", 1)[1].split("&", 1)[0]
    with pytest.raises(CodeMissingError):
        await flow.complete(
            state=state, code=None, binding_cookie_value=start.binding_cookie_value
        )
    await assert_nothing_stored(stack, runner)


async def test_miro_down_during_the_exchange(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    start, callback = await started(flow, emulator)
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=emulator), base_url=MIRO
    ) as http:
        fault = {"method": "POST", "path": "/v1/oauth/token", "times": 1}
        await http.post(
            "/_emulator/faults", json={**fault, "action": "status", "status": 503}
        )
    with pytest.raises(ExchangeFailedError):
        await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
        )
    await assert_nothing_stored(stack, runner)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
    ],
)
async def test_open_redirect_return_urls(
    stack: Stack, flow: ConnectFlow, url: str
) -> None:
    with pytest.raises(ReturnURLRejectedError):
        await flow.start("user-1", BOARD, url)
    with pytest.raises(ReturnURLRejectedError):
        await flow.start_launch("user-1", BOARD, url)
    async with stack.database.session() as session:
        assert not (await session.scalars(select(PendingAuthorizationRow))).all()


async def test_allow_listed_absolute_return_url(
    flow: ConnectFlow, emulator: Starlette
) -> None:
    start = await flow.start("user-1", None, "https://app.example.com/done")
    callback = await consent(emulator, start.authorize_url)
    outcome = await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
    )
    assert isinstance(outcome, FlowOutcome)
    assert outcome.return_url == "https://app.example.com/done"


def test_every_failure_has_its_own_reason() -> None:
    leaves = [
        StateUnknownError,
        StateReplayedError,
        StateExpiredError,
        BrowserMismatchError,
        UserMismatchError,
        AccessDeniedError,
        ConsentFailedError,
        CodeMissingError,
        CodeRejectedError,
        ExchangeFailedError,
        ReturnURLRejectedError,
        LaunchUnknownError,
        LaunchReplayedError,
        LaunchExpiredError,
    ]
    reasons = [leaf.reason for leaf in leaves]
    assert len(set(reasons)) == len(leaves)
    assert all(issubclass(leaf, AuthorizationError) for leaf in leaves)
    assert AuthorizationError.reason not in reasons


# -- service mode: the launch link ---------------------------------------------------------


async def test_launch_link_binds_the_first_browser_once(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    runner: ProbeRunner,
    clock: FakeClock,
) -> None:
    launch = await flow.start_launch("user-1", BOARD, "/back")
    start = await flow.launch(launch.launch_token)
    with pytest.raises(LaunchReplayedError):
        await flow.launch(launch.launch_token)
    with pytest.raises(LaunchUnknownError):
        await flow.launch("never-issued")
    callback = await consent(emulator, start.authorize_url)
    outcome = await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
    )
    # Service mode: the consent is held for the host's confirm; nothing ran yet.
    assert isinstance(outcome, FlowHeld)
    assert outcome.return_url == "/back"
    assert runner.runs == []
    assert await stack.vault.connection_for("user-1") is None

    stale = await flow.start_launch("user-1", BOARD, "/")
    clock.advance(minutes=11)
    with pytest.raises(LaunchExpiredError):
        await flow.launch(stale.launch_token)
    async with stack.database.session() as session:
        hashes = (
            await session.scalars(select(PendingAuthorizationRow.launch_hash))
        ).all()
    assert launch.launch_token not in hashes and stale.launch_token not in hashes


async def test_run_or_authorize_runs_at_once_when_connected(
    flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    first = await flow.run_or_authorize("user-1", BOARD, "/p")
    assert isinstance(first, ConsentRequired)
    assert isinstance(first.start, FlowStart)
    callback = await consent(emulator, first.start.authorize_url)
    await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=first.start.binding_cookie_value,
    )
    second = await flow.run_or_authorize("user-1", PendingAction("create_board"), "/p")
    assert isinstance(second, ActionDone)
    assert second.result.kind == "create_board"
    assert len(runner.runs) == 2


async def test_failures_after_the_browser_check_carry_the_return_url(
    stack: Stack, clock: FakeClock, runner: ProbeRunner
) -> None:
    # The web layer sends the user back to the app with the reason; it learns where
    # from the error, not from the consumed row.
    emulator = make_emulator(clock, auto_approve=False)
    flow = stack.flow_with(runner, allowed_return_urls=["https://app.example.com"])
    start = await flow.start("user-1", BOARD, "https://app.example.com/p/7?x=1")
    callback = await consent(emulator, start.authorize_url, decision="cancel")
    with pytest.raises(AccessDeniedError) as caught:
        await flow.complete(
            state=callback["state"],
            code=None,
            error=callback["error"],
            binding_cookie_value=start.binding_cookie_value,
        )
    assert caught.value.return_url == "https://app.example.com/p/7?x=1"
    assert caught.value.app_user_id == "user-1"
    # A return URL the allow-list no longer holds is not handed out.
    start = await flow.start("user-1", BOARD, "https://app.example.com/p/8")
    callback = await consent(emulator, start.authorize_url, decision="cancel")
    with pytest.raises(AccessDeniedError) as shrunk:
        await stack.flow_with(runner).complete(
            state=callback["state"],
            code=None,
            error=callback["error"],
            binding_cookie_value=start.binding_cookie_value,
        )
    assert shrunk.value.return_url is None
    assert shrunk.value.app_user_id == "user-1"


async def test_failures_before_the_browser_check_carry_no_return_url(
    flow: ConnectFlow, emulator: Starlette
) -> None:
    start = await flow.start("user-1", None, "https://app.example.com/done")
    callback = await consent(emulator, start.authorize_url)
    with pytest.raises(BrowserMismatchError) as caught:
        await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value="another-browser",
        )
    assert caught.value.return_url is None
    assert caught.value.app_user_id == "user-1"
    done = await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
    )
    assert isinstance(done, FlowOutcome)
    with pytest.raises(StateReplayedError) as replayed:
        await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
        )
    assert replayed.value.return_url is None


@pytest.mark.parametrize("cookie", [None, "", "another-browser-cookie"])
async def test_another_browser_cannot_burn_the_state(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    runner: ProbeRunner,
    cookie: str | None,
) -> None:
    # Anyone who sees the callback URL (a proxy log, a shoulder) opens it first, in a
    # browser without the flow's binding cookie, or signed in as someone else: refused,
    # and the state stays usable by the browser that started the flow.
    start, callback = await started(flow, emulator, user="alice")
    with pytest.raises(BrowserMismatchError):
        await flow.complete(
            state=callback["state"], code=callback["code"], binding_cookie_value=cookie
        )
    with pytest.raises(UserMismatchError):
        await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
            app_user_id="bob",
        )
    outcome = await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
        app_user_id="alice",
    )
    assert isinstance(outcome, FlowOutcome)
    assert outcome.connection.app_user_id == "alice"
    assert len(runner.runs) == 1
