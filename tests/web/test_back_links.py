"""An error page's "Back to the app" leads where the user came from: the flow's own return
URL with `miro_error`, the host's home, or, on the service (whose `/` is a page for
developers), nowhere it cannot know."""

from __future__ import annotations

import re

import httpx2

from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.storage.migrate import upgrade
from miroconnect.web import create_app
from support import CLIENT_ID, CLIENT_SECRET, FakeClock

from .conftest import (
    APP,
    REDIRECT_URI,
    RETURN_ORIGIN,
    Browser,
    Harness,
    form_fields,
    make_settings,
)
from .test_connect_flow import create_board
from .test_host_mount import mounted_host, start_and_consent


def back_links(html: str) -> list[str]:
    return re.findall(r'<a class="button" href="([^"]*)">Back to the app</a>', html)


async def test_a_failed_callback_leads_back_to_the_flows_return_url(
    harness: Harness,
) -> None:
    await harness.sign_up()
    callback = await harness.consent(
        await create_board(harness, "Never"), decision="cancel"
    )
    page = await harness.browser.get(callback)
    assert 'data-reason="access_denied"' in page.text
    assert back_links(page.text) == ["/?miro_error=access_denied"]


async def test_a_host_apps_failed_callback_leads_back_to_its_page(
    database_url: str,
) -> None:
    async with mounted_host(database_url) as (_, _context, harness):
        harness.browser.cookies.set("host_user", "7", domain="testserver.local")
        callback = await start_and_consent(harness)
        harness.browser.cookies.set("host_user", "8", domain="testserver.local")
        page = await harness.browser.get(callback)
        assert 'data-reason="user_mismatch"' in page.text
        # Not the flow's own user: no return URL, so the host's home.
        assert back_links(page.text) == ["/projects"]

        harness.browser.cookies.set("host_user", "7", domain="testserver.local")
        callback = await start_and_consent(harness)
        harness.clock.advance(11 * 60)
        expired = await harness.browser.get(callback)
        assert 'data-reason="state_expired"' in expired.text
        assert back_links(expired.text) == ["/projects"]

        page = await harness.browser.get("/projects")
        fields = form_fields(page.text, "/connect/boards")
        to_miro = await harness.browser.post("/connect/boards", data=fields)
        cancel = await harness.consent(to_miro.headers["location"], decision="cancel")
        cancelled = await harness.browser.get(cancel)
        assert back_links(cancelled.text) == ["/projects?miro_error=access_denied"]


async def test_the_service_never_sends_users_to_its_own_front_page(
    database_url: str,
) -> None:
    await upgrade(database_url)
    clock = FakeClock()
    emulator = create_emulator(
        clock=clock, clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))]
    )
    app = create_app(
        make_settings(database_url), miro_transport=emulator_transport(emulator)
    )
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=Browser(app, emulator), base_url=APP) as browser,
    ):
        forged = await browser.get("/connect/launch/not-a-token")
        assert 'data-reason="launch_unknown"' in forged.text
        assert back_links(forged.text) == []
        missing = await browser.get("/nowhere")
        assert missing.status_code == 404 and back_links(missing.text) == []
        # A flow that ends on the host's site goes back there, with the reason.
        harness = Harness(app, emulator, browser, clock, make_settings(database_url))
        async with harness.api() as api:
            started = await api.post(
                "/api/v1/users/u1/connection",
                json={"return_url": f"{RETURN_ORIGIN}/back"},
            )
        launch = await browser.get(started.json()["authorize_url"])
        callback = await harness.consent(launch.headers["location"], decision="cancel")
        answer = await browser.get(callback)
        assert answer.status_code == 303
        assert answer.headers["location"] == (
            f"{RETURN_ORIGIN}/back?miro_error=access_denied"
        )
