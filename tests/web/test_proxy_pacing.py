"""Proxied calls spend the user's credit budget at their operation's level, like the
client's own: a burst larger than the budget waits for the next window instead of
collecting 429s.

Real time: the emulator's budget is 500 credits per 1-second window (ten `GET
/v2/boards/{id}` at Level 1, or one board creation at Level 3).
"""

from __future__ import annotations

import asyncio
import time

import httpx2

from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.storage.migrate import upgrade
from miroconnect.web import create_app
from support import CLIENT_ID, CLIENT_SECRET, FakeClock

from .conftest import APP, MIRO, REDIRECT_URI, Browser, Harness, make_settings
from .test_service_api import connect

USER = "user-paced"
BURST = 25  # 1,250 credits: three windows


async def test_a_burst_over_the_budget_waits_instead_of_getting_429s(
    database_url: str,
) -> None:
    emulator = create_emulator(
        clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))],
        credits=500,
        window_seconds=1,
    )
    await upgrade(database_url)
    settings = make_settings(database_url)
    app = create_app(settings, miro_transport=emulator_transport(emulator))
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=Browser(app, emulator), base_url=APP) as browser,
    ):
        harness = Harness(app, emulator, browser, FakeClock(), settings)
        await connect(harness, USER)  # creates a board: the window's 500 credits
        board = (await browser.get(f"{MIRO}/_emulator/boards")).json()[0]["id"]
        async with harness.api() as api:
            started = time.monotonic()
            answers = await asyncio.gather(
                *(
                    api.get(f"/api/v1/users/{USER}/miro/v2/boards/{board}", timeout=30)
                    for _ in range(BURST)
                )
            )
            elapsed = time.monotonic() - started
        stats = (await browser.get(f"{MIRO}/_emulator/stats")).json()
    assert [a.status_code for a in answers] == [200] * BURST
    assert stats["rate_limited"] == 0
    assert elapsed >= 1.5  # it waited for windows, as 1,250 credits need
    remaining = [int(a.headers["x-ratelimit-remaining"]) for a in answers]
    assert min(remaining) >= 0
