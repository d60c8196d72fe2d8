"""Helpers for the action tests: a fake clock, the emulator OAuth dance, a database.

(`tests/client/fakes.py` has the same first two; test folders are not packages, so the
helpers cannot be shared by import.)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx2

from miroconnect.emulator import EmulatorClient
from miroconnect.errors import ReauthorizationRequiredError
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "FakeTime",
    "Grant",
    "RotatingTokenSource",
    "connect",
    "create_tables",
    "emulator_app_client",
]


class FakeTime:
    """A shared fake clock: `sleep(d)` moves time to at least now + d, then yields.

    Tasks that wait for the same reset move the clock to the same instant, so a pacing
    test measures how many windows a burst needed without waiting for them.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    def epoch(self) -> float:
        return self.current.timestamp()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        target = self.current + timedelta(seconds=max(0.0, seconds))
        if target > self.current:
            self.current = target
        await asyncio.sleep(0)


class RotatingTokenSource:
    """Hands out `token-1`; after a rejection, `token-2`; then gives up."""

    def __init__(self, key: str = "conn-1") -> None:
        self._key = key
        self.current = "token-1"
        self.rejections: list[str] = []

    @property
    def key(self) -> str:
        return self._key

    async def access_token(self) -> str:
        return self.current

    async def after_rejection(self, rejected: str) -> str:
        self.rejections.append(rejected)
        if self.current == "token-1":
            self.current = "token-2"
            return self.current
        raise ReauthorizationRequiredError()


CLIENT_ID = "3074457000000000001"
CLIENT_SECRET = "emulator-client-secret"
REDIRECT_URI = "http://app.test/callback"


def emulator_app_client() -> EmulatorClient:
    """The app the client tests register with the emulator."""
    return EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,), expiring=False)


async def connect(http: httpx2.AsyncClient, base_url: str, *, user: str = "") -> Grant:
    """The OAuth dance against an auto-approving emulator: authorize, then exchange."""
    headers = {"Cookie": f"miro_emulator_user={user}"} if user else None
    authorize = await http.get(
        f"{base_url}/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "state": "s",
        },
        headers=headers,
    )
    assert authorize.status_code == 302, authorize.text
    code = httpx2.URL(authorize.headers["location"]).params["code"]
    token = await http.post(
        f"{base_url}/v1/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    return Grant(body["access_token"], str(body["user_id"]), str(body["team_id"]))


@dataclass(frozen=True)
class Grant:
    access_token: str
    user_id: str
    team_id: str


async def create_tables(database_url: str) -> Database:
    """A `Database` on `database_url` with every table, as the migrations make them."""
    await upgrade(database_url)
    return Database(database_url)
