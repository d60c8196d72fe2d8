"""`connect_router` mounted in a host FastAPI app behind the host's own login."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import httpx2
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.storage.migrate import upgrade
from miroconnect.web import build_context, connect_router, csrf_token, install
from miroconnect.web.context import WebContext
from support import CLIENT_ID, CLIENT_SECRET, FakeClock

from .conftest import (
    APP,
    MIRO,
    REDIRECT_URI,
    Browser,
    Harness,
    form_fields,
    make_settings,
)
from .test_request_log import Recorder


def host_user(request: Request) -> str:
    """The host's login: here, a cookie the host set when the user signed in."""
    user = request.cookies.get("host_user")
    if not user:
        raise HTTPException(401, "sign in to the host app first")
    return f"host:{user}"


@asynccontextmanager
async def mounted_host(
    database_url: str, *, upgraded: bool = True
) -> AsyncIterator[tuple[FastAPI, WebContext, Harness]]:
    """A host app with `connect_router` behind `host_user`, and a browser for it; on a
    database with this version's tables unless `upgraded` is False."""
    if upgraded:
        await upgrade(database_url)
    clock = FakeClock()
    emulator = create_emulator(
        clock=clock, clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))]
    )
    context = build_context(
        make_settings(database_url),
        miro_transport=emulator_transport(emulator),
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await context.aclose()

    host = FastAPI(lifespan=lifespan)
    install(host, context)
    host.include_router(
        connect_router(host_user, home_url="/projects"), prefix="/connect"
    )

    @host.get("/connections", response_class=HTMLResponse)
    async def connections() -> str:
        return "<p>the host's own page, beside /connect</p>"

    @host.get("/projects", response_class=HTMLResponse)
    async def projects(request: Request) -> str:
        return (
            '<form method=post action="/connect/boards">'
            f'<input type=hidden name=csrf_token value="{csrf_token(request)}">'
            "<input name=name value=Plan></form>"
        )

    async with (
        host.router.lifespan_context(host),
        httpx2.AsyncClient(transport=Browser(host, emulator), base_url=APP) as browser,
    ):
        yield host, context, Harness(host, emulator, browser, clock, context.settings)


async def test_a_host_app_gets_the_same_one_click_flow(database_url: str) -> None:
    async with mounted_host(database_url) as (_, context, harness):
        browser = harness.browser
        browser.cookies.set("host_user", "7", domain="testserver.local")
        page = await browser.get("/projects")
        # The host's own pages keep their own headers: no CSP of ours there, even on
        # a path that starts with the prefix's letters.
        assert "content-security-policy" not in page.headers
        beside = await browser.get("/connections")
        assert beside.status_code == 200
        assert "content-security-policy" not in beside.headers
        fields = form_fields(page.text, "/connect/boards")

        to_miro = await browser.post("/connect/boards", data=fields)
        assert to_miro.headers["location"].startswith(f"{MIRO}/oauth/authorize?")
        back = await browser.get(await harness.consent(to_miro.headers["location"]))
        target = urlsplit(back.headers["location"])
        assert target.path == "/projects"
        assert parse_qs(target.query)["miro_board_id"]

        again = await browser.post("/connect/boards", data=fields | {"name": "Two"})
        assert urlsplit(again.headers["location"]).path == "/projects"
        assert (await context.vault.connection_for("host:7")) is not None

        missing = await browser.post("/connect/boards", data={"name": "x"})
        assert missing.status_code == 403
        assert missing.headers["x-frame-options"] == "DENY"


async def start_and_consent(harness: Harness) -> str:
    """Press the host's "Create board" and approve at Miro; returns the callback URL."""
    page = await harness.browser.get("/projects")
    fields = form_fields(page.text, "/connect/boards")
    to_miro = await harness.browser.post("/connect/boards", data=fields)
    assert to_miro.headers["location"].startswith(f"{MIRO}/oauth/authorize?")
    return await harness.consent(to_miro.headers["location"])


async def test_a_callback_in_another_host_users_session_is_refused(
    database_url: str,
) -> None:
    async with mounted_host(database_url) as (_, context, harness):
        browser = harness.browser
        browser.cookies.set("host_user", "7", domain="testserver.local")
        callback = await start_and_consent(harness)
        # User 8 signs in to the host on the same browser; the binding cookie is there.
        browser.cookies.set("host_user", "8", domain="testserver.local")
        assert "mc_flow" in browser.cookies

        page = await browser.get(callback)
        assert page.status_code == 400
        assert 'data-reason="user_mismatch"' in page.text
        assert await context.vault.connection_for("host:7") is None
        assert await context.vault.connection_for("host:8") is None


async def test_a_callback_signed_out_of_the_host_completes_by_the_binding(
    database_url: str,
) -> None:
    async with mounted_host(database_url) as (_, context, harness):
        browser = harness.browser
        browser.cookies.set("host_user", "7", domain="testserver.local")
        callback = await start_and_consent(harness)
        # The host's login would answer 401 now; the callback does not need it.
        browser.cookies.delete("host_user", domain="testserver.local")

        back = await browser.get(callback)
        assert back.status_code == 303
        target = urlsplit(back.headers["location"])
        assert target.path == "/projects"
        assert parse_qs(target.query)["miro_board_id"]
        assert await context.vault.connection_for("host:7") is not None


async def test_the_connect_routes_in_a_host_get_request_ids_and_logs(
    database_url: str,
) -> None:
    recorder = Recorder()
    package = logging.getLogger("miroconnect")
    package.addHandler(recorder)
    package.setLevel(logging.DEBUG)
    try:
        async with mounted_host(database_url) as (host, _, harness):

            @host.get("/connected-apps")
            async def connected_apps() -> dict[str, str]:
                return {"page": "the host's, next to the prefix"}

            browser = harness.browser
            browser.cookies.set("host_user", "7", domain="testserver.local")
            callback = await start_and_consent(harness)
            back = await browser.get(callback, headers={"X-Request-ID": "host-cb-1"})
            assert back.status_code == 303
            assert back.headers["x-request-id"] == "host-cb-1"

            # The host's own routes are left alone: no id, no event of ours.
            for path in ("/projects", "/connected-apps"):
                page = await browser.get(path, headers={"X-Request-ID": "host-own"})
                assert page.status_code == 200
                assert "x-request-id" not in page.headers, path
    finally:
        package.removeHandler(recorder)
        package.setLevel(logging.NOTSET)

    logged = recorder.of("http.request")
    assert [(s.fields["method"], s.fields["route"]) for s in logged] == [
        ("POST", "/connect/boards"),
        ("GET", "/connect/callback"),
    ]
    assert logged[1].request_id == "host-cb-1"
    assert logged[1].fields["status_code"] == 303
    assert logged[0].request_id not in (None, "host-cb-1")
    # The flow's steps in the callback carry its id.
    for event in ("flow.callback_consumed", "flow.completed"):
        assert [s.request_id for s in recorder.of(event)] == ["host-cb-1"], event
    assert all(s.request_id != "host-own" for s in recorder.seen)


async def test_the_connect_routes_in_a_host_cap_bodies_and_refuse_cross_site_posts(
    database_url: str,
) -> None:
    async with mounted_host(database_url) as (host, _context, harness):
        browser = harness.browser
        browser.cookies.set("host_user", "ada")
        fields = form_fields((await browser.get("/projects")).text, "/connect/boards")
        huge = await browser.post(
            "/connect/boards",
            content=b"name=" + b"A" * (200 * 1024),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert huge.status_code == 413
        cross = await browser.post(
            "/connect/boards", data=fields, headers={"sec-fetch-site": "cross-site"}
        )
        assert cross.status_code == 403
        same = await browser.post(
            "/connect/boards", data=fields, headers={"sec-fetch-site": "same-origin"}
        )
        assert same.status_code == 303  # the control: the host's own form

        # The host's own routes keep their own rules: no limit imposed on them by us.
        @host.post("/upload")
        async def upload(request: Request) -> dict[str, int]:
            return {"size": len(await request.body())}

        own = await browser.post("/upload", content=b"x" * (200 * 1024))
        assert own.status_code == 200 and own.json() == {"size": 200 * 1024}
