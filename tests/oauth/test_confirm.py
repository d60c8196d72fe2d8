"""Service mode: the consent is held at the callback, and only the host's confirm for the
user the flow was started for turns it into a connection.

The attack this answers: a launch link is a bearer capability. Mallory asks the service
for a link for *his* app user and sends it to Alice; Alice's browser consents with her
Miro account. Without the confirm, Mallory's app user would now hold Alice's Miro grant.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from miroconnect.assembly import Stack
from miroconnect.emulator.state import EmulatorState
from miroconnect.errors import (
    FlowUserMismatchError,
    ResultExpiredError,
    ResultUnknownError,
    ResultUsedError,
)
from miroconnect.oauth.consents import close_stale_consents
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.outcomes import Confirmed, FlowHeld, FlowOutcome
from miroconnect.oauth.params import hash_secret
from miroconnect.oauth.pending import PendingAction
from miroconnect.oauth.store import ConsentStatus
from miroconnect.oauth.tokens import ConnectionStatus
from miroconnect.storage.models import PendingConsentRow
from support import CLIENT_SECRET, FakeClock
from support.oauth import ProbeRunner, consent
from support.statements import statement_kind, statements

# What a transaction sends around its statements (SQLite: `BEGIN IMMEDIATE`).
OTHER = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
BOARD = PendingAction("create_board", {"name": "Sprint 12"}, idempotency_key="api:k1")


def live_grants(emulator: Starlette) -> int:
    """Access tokens Miro (the emulator) would still accept."""
    state: EmulatorState = emulator.state.emulator
    return len(state.access_tokens)


async def held(
    flow: ConnectFlow,
    emulator: Starlette,
    *,
    user: str = "mallory",
    miro_user: str = "",
    action: PendingAction | None = BOARD,
) -> FlowHeld:
    """A service-mode flow for app user `user`, consented in a browser at Miro by
    `miro_user`: the launch link opened, Miro's consent, the callback."""
    launch = await flow.start_launch(user, action, "/back")
    start = await flow.launch(launch.launch_token)
    callback = await consent(emulator, start.authorize_url, miro_user=miro_user)
    outcome = await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
    )
    assert isinstance(outcome, FlowHeld)
    return outcome


async def test_the_callback_holds_the_tokens_and_connects_no_one(
    stack: Stack,
    flow: ConnectFlow,
    emulator: Starlette,
    runner: ProbeRunner,
    database_url: str,
) -> None:
    outcome = await held(flow, emulator, user="user-1")
    assert outcome.return_url == "/back"
    assert len(outcome.result_token) >= 43  # 256 bits, URL-safe
    assert await stack.vault.connection_for("user-1") is None
    assert runner.runs == []
    assert live_grants(emulator) == 1
    async with stack.database.session() as session:
        rows = list(await session.scalars(select(PendingConsentRow)))
    assert len(rows) == 1
    [row] = rows
    assert row.status == "held" and row.app_user_id == "user-1"
    assert row.access_token_ciphertext and row.access_token_ciphertext.startswith(
        "mc1."
    )
    # The result is stored as a hash only, and no token or result in plaintext anywhere.
    state: EmulatorState = emulator.state.emulator
    secrets = [outcome.result_token, *state.access_tokens, CLIENT_SECRET]
    raw = repr({c.key: getattr(row, c.key) for c in row.__table__.columns}).encode()
    if database_url.startswith("sqlite"):
        await stack.database.dispose()
        path = Path(database_url.split("///", 1)[1])
        raw += b"".join(
            p.read_bytes()
            for p in path.parent.iterdir()
            if p.name.startswith(path.name)
        )
    for secret in secrets:
        assert secret.encode() not in raw


async def test_confirm_by_the_flows_user_connects_and_runs_the_action_once(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    outcome = await held(flow, emulator, user="user-1")
    confirmed = await flow.confirm("user-1", outcome.result_token)
    assert isinstance(confirmed, Confirmed)
    assert not confirmed.repeated
    assert confirmed.connection.app_user_id == "user-1"
    assert confirmed.connection.status is ConnectionStatus.CONNECTED
    assert confirmed.action_result is not None
    assert confirmed.action_result.data["name"] == "Sprint 12"
    assert await stack.vault.connection_for("user-1") == confirmed.connection
    # The held tokens moved: the consent keeps none.
    async with stack.database.session() as session:
        row = await session.scalar(select(PendingConsentRow))
    assert row is not None and row.status == "confirmed"
    assert row.access_token_ciphertext is None and row.refresh_token_ciphertext is None
    assert row.connection_id == confirmed.connection.id

    again = await flow.confirm("user-1", outcome.result_token)
    assert again.repeated
    assert again.connection.id == confirmed.connection.id
    # Both runs carry the one key, so the real runner makes one board (tested in
    # tests/web/test_confirm.py); the probe runner just records the calls.
    keys = {action.idempotency_key for action, _ in runner.runs}
    assert keys == {"api:k1"}


async def test_a_first_connection_is_confirmed_in_three_statements(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    # The consent locked and read, the connection inserted, the consent marked: one
    # transaction, no ORM unit of work while the consent's lock is held.
    outcome = await held(flow, emulator, user="user-1", action=None)
    with statements() as seen:
        confirmed = await flow.confirm("user-1", outcome.result_token)
    assert not confirmed.repeated
    kinds = [statement_kind(s) for s in seen if statement_kind(s) not in OTHER]
    assert kinds == [
        "SELECT pending_consents",
        "INSERT connections",
        "UPDATE pending_consents",
    ]
    assert await stack.vault.connection_for("user-1") == confirmed.connection


async def test_confirm_for_another_user_revokes_the_grant_and_stores_nothing(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    # Mallory's link, Alice's browser and Miro account; Alice's app confirms for Alice.
    outcome = await held(flow, emulator, user="mallory", miro_user="alice-miro")
    assert live_grants(emulator) == 1
    with pytest.raises(FlowUserMismatchError) as caught:
        await flow.confirm("alice", outcome.result_token)
    assert caught.value.reason == "flow_user_mismatch"
    assert live_grants(emulator) == 0  # revoked at Miro
    assert await stack.vault.connection_for("mallory") is None
    assert await stack.vault.connection_for("alice") is None
    assert runner.runs == []
    async with stack.database.session() as session:
        row = await session.scalar(select(PendingConsentRow))
    assert row is not None and row.status == "refused"
    assert row.access_token_ciphertext is None and row.key_id is None
    # Mallory confirming afterwards gets nothing either.
    with pytest.raises(ResultUsedError):
        await flow.confirm("mallory", outcome.result_token)
    assert await stack.vault.connection_for("mallory") is None


async def test_a_confirmed_consent_is_not_changed_by_another_users_confirm(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    outcome = await held(flow, emulator, user="user-1")
    first = await flow.confirm("user-1", outcome.result_token)
    with pytest.raises(FlowUserMismatchError) as caught:
        await flow.confirm("someone-else", outcome.result_token)
    # Its detail says what happened: nothing (the grant was not revoked).
    assert "already confirmed" in str(caught.value)
    assert "revoked" not in str(caught.value)
    assert live_grants(emulator) == 1
    connection = await stack.vault.connection_for("user-1")
    assert connection is not None and connection.id == first.connection.id
    assert connection.is_live
    assert await stack.vault.connection_for("someone-else") is None


async def test_an_existing_connection_stays_as_it_is_until_the_confirm(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    first = await held(flow, emulator, user="user-1", action=None)
    connection = (await flow.confirm("user-1", first.result_token)).connection
    async with stack.storage.connections.lock(connection.id) as locked:
        await locked.set_status(
            ConnectionStatus.NEEDS_REAUTH, "refresh_rejected (401)", now=flow.clock()
        )
    second = await held(flow, emulator, user="user-1")
    still = await stack.vault.get(connection.id)
    assert still.status is ConnectionStatus.NEEDS_REAUTH  # untouched by the callback
    confirmed = await flow.confirm("user-1", second.result_token)
    assert confirmed.connection.id == connection.id
    assert confirmed.connection.status is ConnectionStatus.CONNECTED
    assert confirmed.action_result is not None


async def test_unknown_and_expired_results(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    for result in ("", "never-issued-result-value"):
        with pytest.raises(ResultUnknownError):
            await flow.confirm("user-1", result)
    outcome = await held(flow, emulator, user="user-1")
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(ResultExpiredError):
        await flow.confirm("user-1", outcome.result_token)
    assert live_grants(emulator) == 0
    with pytest.raises(ResultExpiredError):
        await flow.confirm("user-1", outcome.result_token)
    assert await stack.vault.connection_for("user-1") is None


async def test_concurrent_confirms_activate_once(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    outcome = await held(flow, emulator, user="user-1", action=None)
    results = await asyncio.gather(
        *(flow.confirm("user-1", outcome.result_token) for _ in range(5))
    )
    assert sum(not r.repeated for r in results) == 1
    assert len({r.connection.id for r in results}) == 1
    assert len(await stack.vault.list(app_user_id="user-1")) == 1


async def test_two_consents_of_one_user_confirmed_at_once_make_one_connection(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    # Two tabs, two flows, both consented: the confirms race for the user's first
    # connection. One inserts it, the other finds it and gives it its tokens.
    for round_ in range(3):
        user = f"user-{round_}"
        first = await held(flow, emulator, user=user, action=None)
        second = await held(flow, emulator, user=user, action=None)
        results = await asyncio.gather(
            flow.confirm(user, first.result_token),
            flow.confirm(user, second.result_token),
        )
        assert not any(r.repeated for r in results)
        assert len({r.connection.id for r in results}) == 1
        connected = await stack.vault.list(app_user_id=user)
        assert len(connected) == 1 and connected[0].is_live


async def test_the_flows_user_and_another_confirming_at_once_never_both_win(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    for round_ in range(4):
        user = f"user-{round_}"
        outcome = await held(flow, emulator, user=user, action=None)
        confirms = [flow.confirm(user, outcome.result_token)]
        confirms.insert(round_ % 2, flow.confirm("mallory", outcome.result_token))
        results = await asyncio.gather(*confirms, return_exceptions=True)
        other, own = results if round_ % 2 == 0 else reversed(results)
        # Whoever came second finds it decided: the other user never gets it.
        assert isinstance(other, FlowUserMismatchError)
        assert isinstance(own, Confirmed | ResultUsedError), own
        connected = await stack.vault.list(app_user_id=user)
        assert len(connected) == (1 if isinstance(own, Confirmed) else 0)
    assert await stack.vault.list(app_user_id="mallory") == []


async def test_maintenance_revokes_consents_nobody_confirmed(
    stack: Stack, flow: ConnectFlow, emulator: Starlette, clock: FakeClock
) -> None:
    waiting = await held(flow, emulator, user="user-1")
    stale = await held(flow, emulator, user="user-2")
    clock.advance(minutes=5)
    fresh = await held(flow, emulator, user="user-3")
    clock.advance(minutes=5, seconds=1)  # the first two are past their 10 minutes
    closed = await close_stale_consents(stack.storage.consents, stack.miro, clock=clock)
    assert closed == 2
    assert live_grants(emulator) == 1
    with pytest.raises(ResultExpiredError):
        await flow.confirm("user-1", waiting.result_token)
    with pytest.raises(ResultExpiredError):
        await flow.confirm("user-2", stale.result_token)
    confirmed = await flow.confirm("user-3", fresh.result_token)
    assert confirmed.connection.is_live
    assert (
        await close_stale_consents(stack.storage.consents, stack.miro, clock=clock) == 0
    )


async def test_maintenance_finishes_a_revoke_a_crash_interrupted(
    stack: Stack, flow: ConnectFlow, emulator: Starlette
) -> None:
    # The decision was committed (refused) but the process died before revoking.
    outcome = await held(flow, emulator, user="mallory")
    decided = await stack.storage.consents.decide_consent(
        hash_secret(outcome.result_token),
        lambda consent: ConsentStatus.REFUSED,
        now=flow.clock(),
    )
    assert decided is not None and decided.status is ConsentStatus.REFUSED
    assert live_grants(emulator) == 1
    assert (
        await close_stale_consents(stack.storage.consents, stack.miro, clock=flow.clock)
        == 1
    )
    assert live_grants(emulator) == 0
    async with stack.database.session() as session:
        row = await session.scalar(select(PendingConsentRow))
    assert row is not None and row.access_token_ciphertext is None


async def test_a_browser_flow_still_finishes_at_the_callback(
    flow: ConnectFlow, emulator: Starlette, runner: ProbeRunner
) -> None:
    # Library mode and the reference app know the signed-in user: no confirm there.
    start = await flow.start("user-1", BOARD, "/p")
    callback = await consent(emulator, start.authorize_url)
    outcome = await flow.complete(
        state=callback["state"],
        code=callback["code"],
        binding_cookie_value=start.binding_cookie_value,
        app_user_id="user-1",
    )
    assert isinstance(outcome, FlowOutcome)
    assert outcome.connection.is_live and len(runner.runs) == 1
