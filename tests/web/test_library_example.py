"""`examples/library_app.py`, the README's library snippet made whole, runs the flow: its
page's form, Miro's consent, the callback, back on its page with the board; the next
click makes the board at once."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.storage.migrate import upgrade
from support import CLIENT_ID, CLIENT_SECRET, FakeClock

from .conftest import APP, REDIRECT_URI, Browser, Harness, form_fields, make_settings

pytestmark = pytest.mark.db

EXAMPLE = Path(__file__).parents[2] / "examples" / "library_app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("library_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_library_example_creates_a_board_after_one_consent(
    database_url: str,
) -> None:
    await upgrade(database_url)
    clock = FakeClock()
    emulator = create_emulator(
        clock=clock, clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))]
    )
    settings = make_settings(database_url, api_keys="")  # a host app has no API keys
    app = load_example().make_app(
        settings, miro_transport=emulator_transport(emulator), clock=clock
    )
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=Browser(app, emulator), base_url=APP) as browser,
    ):
        harness = Harness(app, emulator, browser, clock, settings)
        home = await browser.get("/")
        assert (home.status_code, home.headers["location"]) == (307, "/projects")

        async def click() -> httpx2.Response:
            page = await browser.get("/projects")
            fields = form_fields(page.text, "/connect/boards")
            return await browser.post("/connect/boards", data=fields)

        first = await click()
        assert first.status_code == 303  # to Miro's consent page
        callback = await harness.consent(first.headers["location"])
        back = await browser.get(callback)
        assert back.status_code == 303
        landed = urlsplit(back.headers["location"])
        assert landed.path == "/projects"
        board = parse_qs(landed.query)["miro_board_id"][0]
        page = await browser.get(back.headers["location"])
        assert f"Board created on Miro: <code>{board}</code>" in page.text
        assert '<link rel="icon" href="data:,">' in page.text  # no /favicon.ico 404

        again = await click()  # connected: the board at once, no consent
        assert again.status_code == 303
        target = urlsplit(again.headers["location"])
        assert target.path == "/projects"
        second = parse_qs(target.query)["miro_board_id"][0]
        assert second != board
