"""A remembered connection read, through the service API, when another process changes
the connection: the next board is never made with what was remembered.

The app under test remembers its users' connection reads (`SQLStore.user_tokens`);
`elsewhere` is a second stack on the same database, as another `serve` process or
machine would be, with its own memory. Its changes reach the app only through the
database: the guard on the journal's INSERT (`ReadGuard`) refuses the remembered read,
and the app reads again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx2
import pytest

from miroconnect.assembly import Stack, build_stack
from miroconnect.emulator import emulator_transport
from support.statements import statement_kind, statements

from .conftest import PROXY_USER, Harness
from .miro_spy import Spy

pytestmark = pytest.mark.db

BOARDS = f"/api/v1/users/{PROXY_USER}/boards"


@asynccontextmanager
async def elsewhere(harness: Harness) -> AsyncIterator[Stack]:
    """Another process: its own stack and memory, the same database and Miro."""
    stack = build_stack(
        harness.settings,
        miro_transport=emulator_transport(harness.emulator),
        clock=harness.clock,
    )
    try:
        yield stack
    finally:
        await stack.aclose()


async def connection_id(harness: Harness) -> str:
    (connection,) = await harness.app.state.miroconnect.vault.list(
        app_user_id=PROXY_USER
    )
    return str(connection.id)


def board_posts(spy: Spy) -> list[httpx2.Request]:
    return [r for r in spy.sent if r.method == "POST" and r.url.path == "/v2/boards"]


async def test_a_refresh_elsewhere_is_seen_before_the_next_board(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    async with harness.api() as api:
        assert (await api.post(BOARDS, json={"name": "Warm"})).status_code == 201
        async with elsewhere(harness) as other:
            fresh = await other.vault.tokens_valid_for(
                await connection_id(harness), timedelta(hours=2)
            )
        spy.sent.clear()
        with statements() as seen:
            made = await api.post(BOARDS, json={"name": "After the refresh"})
    assert made.status_code == 201, made.text
    # One request to Miro, with the new token: not the remembered one, then a 401.
    (post,) = board_posts(spy)
    assert post.headers["authorization"] == f"Bearer {fresh.access_token}"
    kinds = [statement_kind(s) for s in seen if statement_kind(s) != "BEGIN"]
    assert kinds[:2] == ["INSERT operations", "SELECT connections"], kinds


@pytest.mark.parametrize("change", ["disconnect", "needs_reauth"])
async def test_a_connection_ended_elsewhere_makes_no_board(
    spied: tuple[Harness, Spy], change: str
) -> None:
    harness, spy = spied
    async with harness.api() as api:
        assert (await api.post(BOARDS, json={"name": "Warm"})).status_code == 201
        async with elsewhere(harness) as other:
            if change == "disconnect":
                await other.vault.disconnect(app_user_id=PROXY_USER)
            else:
                await other.vault.mark_needs_reauth(
                    await connection_id(harness), "refused elsewhere"
                )
        spy.sent.clear()
        after = await api.post(BOARDS, json={"name": "After"})
        listed = (await api.get(BOARDS)).json()["boards"]
    assert after.status_code == 409, after.text
    assert after.json()["reason"] == "return_url_required"
    assert board_posts(spy) == []
    assert [b["name"] for b in listed] == ["Warm", "First"]
