"""The web app and the emulator, in process, with a browser that reaches both.

`browser` is an `httpx2.AsyncClient` whose transport sends `testserver` requests to the
app and `miro.test` requests to the emulator, with one cookie jar, as a real browser would;
it does not follow redirects, so tests see each hop.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette

import support.oauth
from miroconnect.config import Settings
from miroconnect.crypto import generate_key
from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.storage.migrate import upgrade
from miroconnect.web import create_app
from support import CLIENT_ID, CLIENT_SECRET, FakeClock

from .miro_spy import Spy

APP = "http://testserver"
MIRO = "https://miro.test"
REDIRECT_URI = f"{APP}/connect/callback"
API_KEY = "test-api-key-0123456789"
PROXY_USER = "user-7"  # connected by `spied`
RETURN_ORIGIN = "https://app.example"


class Browser(httpx2.AsyncBaseTransport):
    """Routes each request by host: the app or the emulator."""

    def __init__(self, app: FastAPI, emulator: Starlette) -> None:
        self._app = httpx2.ASGITransport(app=app)
        self._miro = emulator_transport(emulator)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.host == "miro.test":
            return await self._miro.handle_async_request(request)
        return await self._app.handle_async_request(request)


class Forms(HTMLParser):
    """Collects each form's action and fields (inputs, selected options, buttons)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {"action": a.get("action", ""), "fields": {}, "buttons": {}}
            )
        elif not self.forms:
            return
        elif tag == "input" and "name" in a:
            fields = self.forms[-1]["fields"]
            assert isinstance(fields, dict)
            fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and ("selected" in a):
            fields = self.forms[-1]["fields"]
            assert isinstance(fields, dict)
            fields[self._select] = a.get("value", "")
        elif tag == "button" and "name" in a:
            buttons = self.forms[-1]["buttons"]
            assert isinstance(buttons, dict)
            buttons.setdefault(a["name"], []).append(a.get("value", ""))


def form_fields(html: str, action: str) -> dict[str, str]:
    """The fields of the first form posting to `action`."""
    parser = Forms()
    parser.feed(html)
    for form in parser.forms:
        if form["action"] == action:
            fields = form["fields"]
            assert isinstance(fields, dict)
            return dict(fields)
    raise AssertionError(f"no form posting to {action}")


@dataclass
class Harness:
    app: FastAPI
    emulator: Starlette
    browser: httpx2.AsyncClient
    clock: FakeClock
    settings: Settings

    def api(self, key: str | None = API_KEY) -> httpx2.AsyncClient:
        """A fresh client for the service API, as another app's backend."""
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=self.app),
            base_url=APP,
            headers=headers,
        )

    async def csrf_token(self, path: str = "/signin") -> str:
        page = await self.browser.get(path)
        return form_fields(page.text, "/signin" if path == "/signin" else path)[
            "csrf_token"
        ]

    async def sign_up(
        self, username: str = "ada", password: str = "lovelace-1843"
    ) -> None:
        page = await self.browser.get("/signup")
        fields = form_fields(page.text, "/signup")
        fields.update(username=username, password=password)
        answer = await self.browser.post("/signup", data=fields)
        assert answer.status_code == 303, answer.text

    async def home_form(self, action: str = "/connect/boards") -> dict[str, str]:
        page = await self.browser.get("/")
        assert page.status_code == 200
        return form_fields(page.text, action)

    async def consent(self, authorize_url: str, decision: str = "approve") -> str:
        """Open Miro's consent page at `authorize_url`, press a button; returns the
        callback URL Miro redirects to."""
        page = await self.browser.get(authorize_url)
        assert page.status_code == 200, page.text
        assert "Install &amp; authorize" in page.text
        fields = form_fields(page.text, "/oauth/authorize")
        fields["decision"] = decision
        answer = await self.browser.post(f"{MIRO}/oauth/authorize", data=fields)
        assert answer.status_code in (302, 303), answer.text
        return answer.headers["location"]


def make_settings(database_url: str, **changes: Any) -> Settings:
    """The web tests' settings: the service at `APP`, Miro at `MIRO`, two API keys, the
    return origin allowed; `changes` on top."""
    web: dict[str, Any] = {
        "encryption_keys": generate_key("k1"),
        "secret_key": "s" * 48,
        "api_keys": f"other-key-abcdefghijkl,{API_KEY}",
        "allowed_return_urls": [RETURN_ORIGIN],
    }
    return support.oauth.make_settings(
        database_url, miro=MIRO, redirect_uri=REDIRECT_URI, **(web | changes)
    )


@asynccontextmanager
async def open_harness(
    database_url: str,
    *,
    clock: FakeClock | None = None,
    miro: Callable[[httpx2.AsyncBaseTransport], httpx2.AsyncBaseTransport] = (
        lambda transport: transport
    ),
    webhook_transport: httpx2.AsyncBaseTransport | None = None,
    **changes: Any,
) -> AsyncIterator[Harness]:
    """The app (its lifespan running) and the emulator on a migrated database; `miro`
    wraps the app's transport to the emulator (a spy, a fault), `webhook_transport`
    reaches a webhook URL among the settings' `changes`."""
    clock = clock or FakeClock()
    emulator = create_emulator(
        clock=clock,
        # No seed: ids stay unique even across `POST /_emulator/reset`, as Miro's are.
        clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))],
    )
    await upgrade(database_url)
    settings = make_settings(database_url, **changes)
    app = create_app(
        settings,
        miro_transport=miro(emulator_transport(emulator)),
        clock=clock,
        reference_app=True,
        webhook_transport=webhook_transport,
    )
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(
            transport=Browser(app, emulator), base_url=APP, follow_redirects=False
        ) as browser,
    ):
        yield Harness(app, emulator, browser, clock, settings)


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    async with open_harness(database_url) as opened:
        yield opened


@pytest.fixture
async def spied(database_url: str) -> AsyncIterator[tuple[Harness, Spy]]:
    """The harness with `PROXY_USER` connected, and the `Spy` before the emulator."""
    from .test_service_api import connect  # a test module: imported when needed

    spies: list[Spy] = []

    def wrap(transport: httpx2.AsyncBaseTransport) -> httpx2.AsyncBaseTransport:
        spies.append(Spy(transport))
        return spies[-1]

    async with open_harness(database_url, miro=wrap) as harness:
        await connect(harness, PROXY_USER)
        spies[0].sent.clear()
        yield harness, spies[0]


@pytest.fixture
async def aiosqlite_threads_finish() -> AsyncIterator[None]:
    """Wait, before the test's event loop closes, for the worker threads of the SQLite
    connections that failed to open. aiosqlite stops such a thread by queueing a call that
    ends with `loop.call_soon_threadsafe`: on a closed loop it raises in the thread."""
    before = set(threading.enumerate())
    yield
    for thread in set(threading.enumerate()) - before:
        if "_connection_worker_thread" in thread.name:
            thread.join(10)
