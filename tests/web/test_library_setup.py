"""A host app embedding the library is told what is missing: every setting in one error,
and a database without tables answered with a page that says `db upgrade` (and a log
line), not a bare 500. Found by a newcomer trying the README's library snippet."""

from __future__ import annotations

import logging

import httpx2
import pytest

from miroconnect.config import Settings
from miroconnect.errors import ConfigurationError
from miroconnect.storage.migrate import upgrade
from miroconnect.web import build_context, create_app
from miroconnect.web.context import WebContext

from .conftest import APP, make_settings
from .test_cli import REQUIRED
from .test_host_mount import mounted_host

pytestmark = pytest.mark.db


def test_every_missing_setting_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        build_context(Settings.model_construct())
    message = str(raised.value)
    # What `serve` requires, but the API keys: a host app has no service API of its own.
    for name in set(REQUIRED) - {"MIROCONNECT_API_KEYS"}:
        assert f"{name} is not set" in message, name
    assert "MIROCONNECT_API_KEYS" not in message


async def test_a_database_without_tables_gets_a_page_that_says_db_upgrade(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with mounted_host(database_url, upgraded=False) as (_, _, harness):
        browser = harness.browser
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
