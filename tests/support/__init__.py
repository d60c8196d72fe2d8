"""Helpers shared by the test folders (importable as `support`: pytest's `pythonpath`).

The clocks (`FakeClock`, moved by hand; `FakeTime` and `SteppedTime`, which also sleep by
moving forward), a token source that rotates, the emulator app the client and action tests
register, the OAuth dance against an auto-approving emulator, and a migrated database.
`support.oauth` has the connect-flow helpers (settings, a stack, consent at the emulator);
`support.node`, `node`, `npm` and `npm ci` for the tests that run Node (or a skip).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
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
    "FakeClock",
    "FakeTime",
    "SteppedTime",
    "Grant",
    "RotatingTokenSource",
    "connect",
    "create_tables",
    "emulator_app_client",
]


class FakeClock:
    """A clock tests move by hand: `clock()` is now; `advance(60)` or
    `advance(minutes=10, seconds=1)` moves it forward."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        self.now += timedelta(seconds=seconds, **delta)


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


class SteppedTime(FakeTime):
    """A fake clock for bursts that also do real I/O (a database): time moves only when
    every task of the burst is asleep, to the earliest wake-up, as a discrete-event
    simulation would.

    `FakeTime` moves the clock as soon as one task sleeps. With a database in the loop
    that is wrong: while a task granted a call is still waiting on SQLite or PostgreSQL (a
    wait of real time), a task refused for the same window could jump the clock to the
    next reset, and the granted call would then land in the wrong window, a window more
    or less depending on CPU load. Run the burst's tasks with `gather` to take part;
    sleeps of other tasks move the clock at once, as in `FakeTime`.
    """

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start)
        self._members: set[asyncio.Task[object]] = set()
        self._asleep: list[tuple[datetime, asyncio.Future[None]]] = []

    async def gather(self, *calls: Awaitable[object]) -> list[object]:
        """Run `calls` concurrently as members of the burst; their results."""

        async def member(call: Awaitable[object]) -> object:
            task = asyncio.current_task()
            assert task is not None
            self._members.add(task)
            try:
                return await call
            finally:
                self._members.discard(task)
                self._step()

        return list(await asyncio.gather(*(member(call) for call in calls)))

    async def sleep(self, seconds: float) -> None:
        if asyncio.current_task() not in self._members:
            await super().sleep(seconds)
            return
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)  # a yield, not a wait
            return
        wake = asyncio.get_running_loop().create_future()
        entry = (self.current + timedelta(seconds=seconds), wake)
        self._asleep.append(entry)
        self._step()
        try:
            await wake
        finally:
            if entry in self._asleep:  # cancelled while asleep
                self._asleep.remove(entry)
                self._step()

    def _step(self) -> None:
        """When every member sleeps: move to the earliest wake-up and wake those due."""
        if not self._asleep or len(self._asleep) < len(self._members):
            return
        due = min(at for at, _ in self._asleep)
        self.current = max(self.current, due)
        for entry in [e for e in self._asleep if e[0] <= self.current]:
            self._asleep.remove(entry)
            if not entry[1].done():
                entry[1].set_result(None)


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
