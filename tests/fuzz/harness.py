"""The service (`create_app`) and the emulator in process, driven on a private event loop.

Hypothesis calls each example synchronously, so the app lives on one event loop owned by
the fixture and every request runs to completion on it. Requests are sent as raw ASGI
messages, the way uvicorn hands them over: a percent-encoded ASCII `raw_path`, the raw query
bytes, raw header bytes. That lets a case carry what an HTTP client library would tidy up
(invalid UTF-8 after `%`, repeated parameters, odd cookies, huge values).

Every secret the run hands out (client secret, keys, launch tokens, states, binding and CSRF
cookies, codes, access and refresh tokens) is collected in `Service.secrets`, and all log
output goes through the JSON formatter into `Service.logs`, so a test can search one for the
other.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.applications import Starlette

from miroconnect.config import Settings
from miroconnect.crypto import generate_key
from miroconnect.emulator import EmulatorClient, create_emulator
from miroconnect.emulator.state import EmulatorState
from miroconnect.emulator.transport import emulator_transport
from miroconnect.logs import configure_logging
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.models import ConnectionRow, PendingConsentRow
from miroconnect.web import create_app
from support import FakeClock

__all__ = [
    "API_KEY",
    "EXAMPLES",
    "Answer",
    "Flow",
    "Service",
    "running_service",
]

APP = "http://testserver"
MIRO = "https://miro.test"
CLIENT_ID = "3458764500000077"
CLIENT_SECRET = "fuzz-client-secret-" + os.urandom(12).hex()
API_KEY = "fuzz-api-key-" + os.urandom(12).hex()
SECRET_KEY = "fuzz-secret-key-" + os.urandom(24).hex()
RETURN_ORIGIN = "https://app.example"
RETURN_URL = f"{RETURN_ORIGIN}/back"
# Cases per fuzz test: 400 in `make test`, thousands for the bench
# (`MIROCONNECT_FUZZ_EXAMPLES=3000`, see bench/bench_fuzz.py).
EXAMPLES = int(os.environ.get("MIROCONNECT_FUZZ_EXAMPLES", "400"))


@dataclass(frozen=True)
class Answer:
    """A response: status, headers (lower-case names, in order) and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def set_cookies(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for key, value in self.headers:
            if key == "set-cookie":
                cookie: SimpleCookie = SimpleCookie()
                cookie.load(value)
                found.update({name: morsel.value for name, morsel in cookie.items()})
        return found


@dataclass
class Flow:
    """A flow we started: its state, the browser's binding cookie, and the code Miro sent."""

    user: str
    state: str
    cookie: str
    code: str
    result: str | None = None


@dataclass
class Service:
    """The app, the emulator, and what the run handed out and logged."""

    app: FastAPI
    emulator: Starlette
    loop: asyncio.AbstractEventLoop
    database: Database
    logs: io.StringIO
    settings: Settings
    secrets: set[str] = field(default_factory=set)
    flows: list[Flow] = field(default_factory=list)

    @property
    def miro(self) -> EmulatorState:
        state: EmulatorState = self.emulator.state.emulator
        return state

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def request(
        self,
        method: str,
        raw_path: bytes,
        *,
        query: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
    ) -> Answer:
        """Send one request to the app as uvicorn would, and collect the answer."""
        answer: Answer = self.run(
            _asgi(self.app, method, raw_path, query, headers or [], body)
        )
        for name, value in answer.set_cookies().items():
            if name in ("mc_flow", "mc_csrf") and value:
                self.secrets.add(value)
        return answer

    def grants(self) -> int:
        """Authorization codes Miro exchanged for tokens so far."""
        return int(self.miro.stats["authorization_code"])

    def connections(self) -> int:
        """Connections and held consents: anything a callback may have stored."""

        async def count() -> int:
            async with self.database.session() as session:
                connections = await session.scalar(select(func.count(ConnectionRow.id)))
                held = await session.scalar(select(func.count(PendingConsentRow.id)))
                return int(connections or 0) + int(held or 0)

        found: int = self.run(count())
        return found

    def remember_miro_secrets(self) -> None:
        """Every live code and token at the emulator (call after anything is granted)."""
        self.secrets.update(self.miro.codes)
        self.secrets.update(self.miro.access_tokens)
        self.secrets.update(self.miro.refresh_tokens)

    def start_flow(self, user: str, name: str = "Fuzz board") -> Flow:
        """The service-mode flow up to Miro's redirect back: 202, launch, consent."""
        body = json.dumps({"name": name, "return_url": RETURN_URL}).encode()
        started = self.request(
            "POST",
            f"/api/v1/users/{user}/boards".encode(),
            headers=api_headers(),
            body=body,
        )
        assert started.status == 202, started.body
        authorize_url = _json(started.body)["authorize_url"]
        self.secrets.add(urlsplit(authorize_url).path.rsplit("/", 1)[1])
        launch = self.request("GET", urlsplit(authorize_url).path.encode())
        assert launch.status == 303, launch.body
        cookie = launch.set_cookies()["mc_flow"]
        at_miro = self.run(_get(self.emulator, launch.header("location") or ""))
        assert at_miro.status == 302, at_miro.body
        back = dict(parse_qsl(urlsplit(at_miro.header("location") or "").query))
        flow = Flow(user=user, state=back["state"], cookie=cookie, code=back["code"])
        self.secrets.update((flow.state, flow.cookie, flow.code))
        return flow

    def finish_flow(self, flow: Flow) -> Answer:
        """Miro's redirect back: the consent is held, the browser goes to the return
        URL with `miro_result` (remembered in `flow.result`)."""
        query = f"code={flow.code}&state={flow.state}".encode()
        answer = self.request(
            "GET",
            b"/connect/callback",
            query=query,
            headers=[(b"cookie", f"mc_flow={flow.cookie}".encode())],
        )
        self.remember_miro_secrets()
        result = dict(parse_qsl(urlsplit(answer.header("location") or "").query))
        flow.result = result.get("miro_result")
        if flow.result:
            self.secrets.add(flow.result)
        return answer

    def confirm_flow(self, flow: Flow, user: str | None = None) -> Answer:
        """The host app's confirm of the flow's result, for `user` (default: the
        flow's own)."""
        assert flow.result, "finish the flow first"
        body = json.dumps({"result": flow.result}).encode()
        return self.request(
            "POST",
            f"/api/v1/users/{user or flow.user}/connection/confirm".encode(),
            headers=api_headers(),
            body=body,
        )


def api_headers(key: str = API_KEY) -> list[tuple[bytes, bytes]]:
    return [
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
    ]


def _json(body: bytes) -> dict[str, Any]:
    value = json.loads(body)
    assert isinstance(value, dict)
    return value


async def _asgi(
    app: Any,
    method: str,
    raw_path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> Answer:
    # uvicorn: `path` is the percent-decoded raw path (decoded as UTF-8, with errors
    # replaced), `raw_path` and `query_string` are passed through untouched.
    path = unquote(raw_path.decode("ascii"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": query,
        "headers": [
            (b"host", b"testserver"),
            *headers,
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = False
    status = 0
    out_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers.extend(
                (k.decode("latin-1").lower(), v.decode("latin-1"))
                for k, v in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return Answer(status, out_headers, b"".join(chunks))


async def _get(emulator: Starlette, url: str) -> Answer:
    parts = urlsplit(url)
    return await _asgi(
        emulator, "GET", parts.path.encode(), parts.query.encode(), [], b""
    )


def _settings(database_url: str) -> Settings:
    return Settings.model_validate(
        {
            "database_url": database_url,
            "miro_client_id": CLIENT_ID,
            "miro_client_secret": CLIENT_SECRET,
            "miro_redirect_uri": f"{APP}/connect/callback",
            "miro_auth_url": f"{MIRO}/oauth/authorize",
            "miro_api_url": MIRO,
            "encryption_keys": generate_key("fz1"),
            "secret_key": SECRET_KEY,
            "api_keys": API_KEY,
            "allowed_return_urls": [RETURN_ORIGIN],
        }
    )


def running_service(database_url: str, *, flows: int = 0) -> Iterator[Service]:
    """A fixture body: the service on a private loop, JSON logs captured, `flows` flows
    started (each up to Miro's redirect back, not yet completed)."""
    loop = asyncio.new_event_loop()
    stream = io.StringIO()
    root = logging.getLogger()
    package = logging.getLogger("miroconnect")
    levels = (root.level, package.level)
    handler = configure_logging(
        json=True, level="DEBUG", library_level="INFO", stream=stream
    )
    settings = _settings(database_url)
    emulator = create_emulator(
        clock=FakeClock(),  # never moved: nothing expires during a run
        auto_approve=True,
        credits=10**9,
        clients=[
            EmulatorClient(CLIENT_ID, CLIENT_SECRET, (f"{APP}/connect/callback",))
        ],
    )
    database = Database(database_url)
    app = create_app(
        settings,
        miro_transport=emulator_transport(emulator),
        clock=FakeClock(),  # never moved: nothing expires during a run
        database=database,
    )
    lifespan = app.router.lifespan_context(app)
    try:
        loop.run_until_complete(upgrade(database_url))
        loop.run_until_complete(lifespan.__aenter__())
        service = Service(app, emulator, loop, database, stream, settings)
        service.secrets.update(
            {
                CLIENT_SECRET,
                API_KEY,
                SECRET_KEY,
                settings.encryption_keys.get_secret_value().split(":", 1)[1],
            }
        )
        for number in range(flows):
            service.flows.append(service.start_flow(f"fz-{number}"))
        yield service
    finally:
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.run_until_complete(database.dispose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        root.removeHandler(handler)
        root.setLevel(levels[0])
        package.setLevel(levels[1])
