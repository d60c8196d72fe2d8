"""Fixtures for the emulator's tests: a settable clock, the app, an in-process client,
the OAuth dance, and a real uvicorn server for clients that need a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette

from miroconnect.emulator import (
    EmulatorClient,
    create_emulator,
    emulator_transport,
    serve_in_thread,
)
from support import FakeClock

# Lines for the end of the test run: how much of the spec the proofs covered.
COVERAGE: dict[str, str] = {}

REDIRECT_URI = "http://127.0.0.1:8000/oauth/callback"
CLIENT = EmulatorClient("3074457363680401096", "app-secret", (REDIRECT_URI,))
BASE_URL = "http://miro.test"


START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)  # where the emulator's clock starts


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def emulator(clock: FakeClock) -> Starlette:
    # search_delay=0: these tests list boards by query, owner and unfiltered right after
    # making them, which Miro documents as lagging; the lag has tests of its own.
    return create_emulator(clock=clock, clients=[CLIENT], seed=7, search_delay=0)


@pytest.fixture
async def http(emulator: Starlette) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(
        transport=emulator_transport(emulator), base_url=BASE_URL
    ) as client:
        yield client


async def authorize(
    http: httpx2.AsyncClient,
    *,
    client: EmulatorClient = CLIENT,
    redirect_uri: str = REDIRECT_URI,
    state: str | None = "st-1",
    team_id: str | None = None,
    user: str | None = None,
) -> dict[str, str]:
    """Approve on the consent page (as the form does); the redirect's query values."""
    cookies = {"Cookie": f"miro_emulator_user={user}"} if user else None
    form = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "decision": "approve",
    }
    if state is not None:
        form["state"] = state
    if team_id is None:
        page = await http.get(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": redirect_uri,
            },
            headers=cookies,
        )
        if page.status_code == 302:  # an auto-approving emulator
            return query_of(page.headers["location"])
        assert page.status_code == 200
        team_id = page.text.split('<option value="', 1)[1].split('"', 1)[0]
    form["team_id"] = team_id
    response = await http.post("/oauth/authorize", data=form, headers=cookies)
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass(frozen=True)
class Tokens:
    body: dict[str, Any]

    @property
    def access(self) -> str:
        return str(self.body["access_token"])

    @property
    def refresh(self) -> str:
        return str(self.body["refresh_token"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


async def connect(
    http: httpx2.AsyncClient,
    *,
    client: EmulatorClient = CLIENT,
    user: str | None = None,
) -> Tokens:
    """The whole dance: consent, then code exchange. Fails the test on any error."""
    code = (await authorize(http, client=client, user=user))["code"]
    response = await http.post(
        "/v1/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "code": code,
            "redirect_uri": client.redirect_uris[0],
        },
    )
    assert response.status_code == 200, response.text
    return Tokens(response.json())


@pytest.fixture
async def tokens(http: httpx2.AsyncClient) -> Tokens:
    return await connect(http)


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Starlette


def serve(app: Starlette) -> Iterator[LiveServer]:
    """Run `app` under uvicorn on a free loopback port in a thread, until the end."""
    with serve_in_thread(app) as url:
        yield LiveServer(url, app)


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    # search_delay=0: the official clients' tests list boards unfiltered at once.
    app = create_emulator(clients=[CLIENT], auto_approve=True, seed=11, search_delay=0)
    yield from serve(app)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the operation coverage figures the proofs recorded (see COVERAGE)."""
    for name, line in sorted(COVERAGE.items()):
        terminalreporter.write_line(f"emulator coverage ({name}): {line}")
