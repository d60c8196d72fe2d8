"""A host app embedding the library is told what is missing: every setting in one error,
and a database without tables answered with a page that says `db upgrade` (and a log
line), not a bare 500. Found by a newcomer trying the README's library snippet."""

from __future__ import annotations

import logging

import httpx2
import pytest
from fastapi import FastAPI

from miroconnect.config import Settings
from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.errors import ConfigurationError
from miroconnect.storage.migrate import upgrade
from miroconnect.web import build_context, connect_router, create_app, install
from miroconnect.web.context import WebContext
from support import CLIENT_ID, CLIENT_SECRET, FakeClock

from .conftest import APP, REDIRECT_URI, make_settings
from .test_host_mount import host_user

pytestmark = pytest.mark.db


def test_every_missing_setting_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        build_context(Settings.model_construct())
    message = str(raised.value)
    for name in (
        "MIROCONNECT_DATABASE_URL",
        "MIROCONNECT_MIRO_CLIENT_ID",
        "MIROCONNECT_MIRO_CLIENT_SECRET",
        "MIROCONNECT_MIRO_REDIRECT_URI",
        "MIROCONNECT_ENCRYPTION_KEYS",
        "MIROCONNECT_SECRET_KEY",
    ):
        assert f"{name} is not set" in message, name
    # A host app has no service API of its own: no API keys asked for.
    assert "MIROCONNECT_API_KEYS" not in message


async def test_a_database_without_tables_gets_a_page_that_says_db_upgrade(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    emulator = create_emulator(
        clock=clock, clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))]
    )
    context = build_context(
        make_settings(database_url),
        miro_transport=emulator_transport(emulator),
        clock=clock,
    )
    host = FastAPI()
    install(host, context)
    host.include_router(connect_router(host_user), prefix="/connect")
    transport = httpx2.ASGITransport(app=host)
    try:
        async with httpx2.AsyncClient(transport=transport, base_url=APP) as browser:
            with caplog.at_level(logging.ERROR, logger="miroconnect"):
                page = await browser.get("/connect/callback?state=x&code=y")
            assert page.status_code == 503
            assert "database is not set up" in page.text
            assert "miroconnect db upgrade" in page.text
            assert "Traceback" not in page.text
            [event] = [r for r in caplog.records if r.msg == "database.not_ready"]
            assert "db upgrade" in event.miroconnect_fields["problem"]  # type: ignore[attr-defined]

            # Once upgraded, the same app works: no restart needed.
            await upgrade(database_url)
            after = await browser.get("/connect/callback?state=x&code=y")
            assert after.status_code == 400  # the flow's own answer: unknown state
            assert "state" in after.text.lower()
    finally:
        await context.aclose()


async def test_a_database_that_does_not_answer_is_an_outage_not_a_missing_upgrade() -> (
    None
):
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    url = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    app = create_app(make_settings(url))
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url=APP
        ) as web,
    ):
        page = await web.get("/connect/callback?state=x&code=y")
        assert page.status_code == 503
        assert "cannot reach its database" in page.text
        assert "not set up" not in page.text
        context: WebContext = app.state.miroconnect
        assert not context.schema.ready  # checked again on the next request
