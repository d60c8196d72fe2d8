"""Two apps on one database (two `serve` processes, in one test process) spend one Miro
credit budget per connection: the web layer's runner keeps its rate-limit readings in the
database (`pacing_budgets`). With a pacer in each app's memory instead, the same burst
collects 429s. (Two apps in one process would also agree through the process-wide memory
pacer, so the test also finds the budget in the database; `tests/client/
test_pacing_processes.py` shows the SQL store across real processes.)

Real time: the emulator's budget is 1,000 credits per 1-second window (two board
creations), and the burst needs a few windows.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import httpx2
from fastapi import FastAPI
from sqlalchemy import select

from miroconnect.actions import MiroActionRunner
from miroconnect.client import CreditPacer
from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.models import PacingBudgetRow
from miroconnect.storage.operations import OperationStore
from miroconnect.web import create_app
from support import CLIENT_ID, CLIENT_SECRET, FakeClock

from .conftest import APP, MIRO, REDIRECT_URI, Browser, Harness, make_settings
from .test_service_api import connect

USER = "user-burst"
PER_APP = 3


async def burst(
    database_url: str, *, shared: bool
) -> tuple[list[int], dict[str, int], list[int | None]]:
    """Connect through app A, then create boards through A and B at once; the status
    codes of the creations, the emulator's stats, and the credit limits in the
    database's pacing budgets."""
    emulator = create_emulator(
        clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))],
        credits=1000,
        window_seconds=1,
    )
    await upgrade(database_url)
    settings = make_settings(database_url)
    async with AsyncExitStack() as stack:
        apps: list[FastAPI] = []
        for _ in range(2):
            database = Database(database_url)  # one per "process"
            runner = None
            if not shared:
                http = await stack.enter_async_context(
                    httpx2.AsyncClient(transport=emulator_transport(emulator))
                )
                runner = MiroActionRunner(
                    OperationStore(database), http, base_url=MIRO, pacer=CreditPacer()
                )
            app = create_app(
                settings,
                miro_transport=emulator_transport(emulator),
                database=database,
                runner=runner,
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            apps.append(app)
        browser = await stack.enter_async_context(
            httpx2.AsyncClient(transport=Browser(apps[0], emulator), base_url=APP)
        )
        harness = Harness(apps[0], emulator, browser, FakeClock(), settings)
        await connect(harness, USER)
        clients = [
            await stack.enter_async_context(
                Harness(app, emulator, browser, FakeClock(), settings).api()
            )
            for app in apps
        ]
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/api/v1/users/{USER}/boards", json={"name": f"B{n}"}, timeout=60
                )
                for n in range(PER_APP)
                for client in clients
            )
        )
        stats = (await browser.get(f"{MIRO}/_emulator/stats")).json()
        async with database.session() as session:
            limits = list(await session.scalars(select(PacingBudgetRow.credit_limit)))
    return [a.status_code for a in answers], stats, limits


async def test_two_apps_on_one_database_share_the_credit_budget(
    database_url: str,
) -> None:
    statuses, stats, limits = await burst(database_url, shared=True)
    assert statuses == [201] * (2 * PER_APP)
    assert stats["rate_limited"] == 0
    assert limits == [1000]  # one budget, for the one connection, as Miro reported it
    assert stats["boards_created"] == 2 * PER_APP + 1  # and the consent's board


async def test_control_pacers_in_each_apps_memory_collect_429s(
    database_url: str,
) -> None:
    _, stats, limits = await burst(database_url, shared=False)
    assert stats["rate_limited"] > 0
    assert limits == []
