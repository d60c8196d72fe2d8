"""CreditPacer: a burst spends the credits a window has and waits for the reset, with the
balances in memory or shared through the database."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Callable

import httpx2
import pytest

from miroconnect.client import CreditPacer, MiroClient, RetryPolicy, StaticTokenSource
from miroconnect.client.pacing import RateLimitReading, Reservation, parse_reading
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.pacing import GUARD, PARTS, SQLPacingStore
from support import FakeTime, SteppedTime
from support.statements import statement_kind, statements


class CreditServer:
    """Miro's accounting in miniature: fixed windows, 500 credits per board creation."""

    def __init__(self, time: FakeTime, *, credits: int, window: int) -> None:
        self.time = time
        self.credits = credits
        self.window = window
        self.used: dict[int, int] = {}
        self.created = 0
        self.limited = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        now = int(self.time.epoch())
        start = now - now % self.window
        used = self.used.get(start, 0)
        ok = used + 500 <= self.credits
        if ok:
            used += 500
            self.used[start] = used
            self.created += 1
        else:
            self.limited += 1
        headers = {
            "X-RateLimit-Limit": str(self.credits),
            "X-RateLimit-Remaining": str(self.credits - used),
            "X-RateLimit-Reset": str(start + self.window),
        }
        if not ok:
            return httpx2.Response(429, headers=headers, json={"status": 429})
        return httpx2.Response(
            201,
            headers=headers,
            json={"id": f"b{self.created}=", "name": "n", "description": ""},
        )


async def test_a_burst_never_overdraws_and_takes_the_windows_it_needs() -> None:
    time = FakeTime()
    server = CreditServer(time, credits=2000, window=10)
    pacer = CreditPacer(clock=time.now, sleep=time.sleep)
    start = time.epoch()
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(server)) as http:
        miro = MiroClient(
            http,
            StaticTokenSource("t", key="user-1"),
            base_url="https://api.example",
            pacer=pacer,
            retry=RetryPolicy(rng=random.Random(0)),  # noqa: S311 (jitter)
            sleep=time.sleep,
        )
        await asyncio.gather(*(miro.boards.create(name=f"b{i}") for i in range(30)))

    assert server.created == 30
    assert server.limited == 0
    windows = math.ceil(30 / 4)  # 4 creations of 500 fit in 2000 credits
    elapsed = time.epoch() - start
    assert (windows - 1) * 10 <= elapsed <= windows * 10


async def test_two_clients_of_one_connection_share_the_balance() -> None:
    time = FakeTime()
    server = CreditServer(time, credits=2000, window=10)
    pacer = CreditPacer(clock=time.now, sleep=time.sleep)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(server)) as http:
        clients = [
            MiroClient(
                http,
                StaticTokenSource("t", key="user-1"),
                base_url="https://api.example",
                pacer=pacer,
                sleep=time.sleep,
            )
            for _ in range(3)
        ]
        await asyncio.gather(
            *(c.boards.create(name="x") for c in clients for _ in range(6))
        )
    assert (server.created, server.limited) == (18, 0)


async def test_without_rate_limit_headers_calls_are_not_held_back() -> None:
    time = FakeTime()
    in_flight = 0
    peak = 0

    async def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        return httpx2.Response(200, json={"id": "b=", "name": "n"})

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        miro = MiroClient(
            http,
            StaticTokenSource("t"),
            base_url="https://api.example",
            pacer=CreditPacer(clock=time.now, sleep=time.sleep),
            sleep=time.sleep,
        )
        await asyncio.gather(*(miro.boards.get("b=") for _ in range(10)))
    assert peak > 1
    assert time.sleeps == []


def test_reading_parses_the_three_headers_or_nothing() -> None:
    reading = parse_reading(
        {
            "x-ratelimit-limit": "100",
            "x-ratelimit-remaining": "50",
            "x-ratelimit-reset": "1700000000",
        }
    )
    assert reading is not None and (reading.limit, reading.remaining) == (100, 50)
    assert parse_reading({"x-ratelimit-limit": "x"}) is None


# -- the shared store: the same pacing, one budget for every pacer on a database --------------


async def _sql_pacer(database_url: str, time: FakeTime) -> tuple[CreditPacer, Database]:
    db = Database(database_url)
    return CreditPacer(store=SQLPacingStore(db), clock=time.now, sleep=time.sleep), db


async def _burst(
    pacers: list[CreditPacer], server: CreditServer, time: SteppedTime, per_pacer: int
) -> None:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(server)) as http:
        clients = [
            MiroClient(
                http,
                StaticTokenSource("t", key="user-1"),
                base_url="https://api.example",
                pacer=pacer,
                retry=RetryPolicy(rng=random.Random(0)),  # noqa: S311 (jitter)
                sleep=time.sleep,
            )
            for pacer in pacers
        ]
        await time.gather(
            *(c.boards.create(name="x") for c in clients for _ in range(per_pacer))
        )


async def test_sql_store_paces_a_burst_like_the_memory_store(database_url: str) -> None:
    await upgrade(database_url)
    time = SteppedTime()
    server = CreditServer(time, credits=2000, window=10)
    pacer, db = await _sql_pacer(database_url, time)
    start = time.epoch()
    try:
        await _burst([pacer], server, time, 30)
        reading = await pacer.reading("user-1")
    finally:
        await db.dispose()
    assert (server.created, server.limited) == (30, 0)
    elapsed = time.epoch() - start
    assert (math.ceil(30 / 4) - 1) * 10 <= elapsed <= math.ceil(30 / 4) * 10
    assert reading is not None and reading.limit == 2000


async def test_pacers_on_one_database_share_one_budget(database_url: str) -> None:
    # Three pacers, each with its own Database engine, stand for three processes.
    await upgrade(database_url)
    time = SteppedTime()
    server = CreditServer(time, credits=2000, window=10)
    made = [await _sql_pacer(database_url, time) for _ in range(3)]
    try:
        await _burst([pacer for pacer, _ in made], server, time, 6)
    finally:
        for _, db in made:
            await db.dispose()
    assert (server.created, server.limited) == (18, 0)


async def test_pacers_with_memory_stores_overdraw_the_shared_budget() -> None:
    # The control for the test above: per-process memory cannot see the others' spending.
    time = SteppedTime()
    server = CreditServer(time, credits=2000, window=10)
    pacers = [CreditPacer(clock=time.now, sleep=time.sleep) for _ in range(3)]
    await _burst(pacers, server, time, 6)
    assert server.created == 18
    assert server.limited > 0


def at(t: float) -> Callable[[], float]:
    return lambda: t


def _reading(remaining: int, reset_at: float) -> RateLimitReading:
    return RateLimitReading(limit=2000, remaining=remaining, reset_at=reset_at)


async def test_an_older_reading_never_raises_the_shared_balance(
    database_url: str,
) -> None:
    await upgrade(database_url)
    db = Database(database_url)
    store = SQLPacingStore(db)
    try:
        assert await store.reserve("k", 500, at(100.0)) == Reservation(True, probe=True)
        # Other pacers' calls are refused while the probe is out.
        assert await store.reserve("k", 500, at(100.0)) == Reservation(False)
        await store.record(
            "k",
            500,
            probe=True,
            reading=_reading(1500, 110.0),
            answered=True,
            status_code=201,
            now=100.1,
        )
        assert await store.reserve("k", 500, at(100.2)) == Reservation(True)
        assert await store.reserve("k", 500, at(100.2)) == Reservation(True)
        # The second call's answer (remaining 500) arrives before the first's (1000).
        # Taken net of the call still in flight, the newest says 0 are left; the older
        # one, taken as the in-memory pacer would, would say 1000.
        for remaining in (500, 1000):
            await store.record(
                "k",
                500,
                probe=False,
                reading=_reading(remaining, 110.0),
                answered=True,
                status_code=201,
                now=100.3,
            )
        assert await store.reading("k") == _reading(0, 110.0)
        # A late answer from the previous window changes nothing either.
        await store.record(
            "k",
            500,
            probe=False,
            reading=_reading(2000, 100.0),
            answered=True,
            status_code=201,
            now=100.4,
        )
        assert await store.reading("k") == _reading(0, 110.0)
        refused = await store.reserve("k", 500, at(100.5))
        assert refused == Reservation(False, retry_at=110.0)
        # After the reset the next call probes the new window.
        assert await store.reserve("k", 500, at(110.1)) == Reservation(True, probe=True)
    finally:
        await db.dispose()


async def test_a_crashed_process_bookings_expire(database_url: str) -> None:
    await upgrade(database_url)
    db = Database(database_url)
    store = SQLPacingStore(db, stale_after=60.0)
    try:
        assert (await store.reserve("k", 500, at(100.0))).probe
        await store.record(
            "k",
            500,
            probe=True,
            reading=_reading(1500, 200.0),
            answered=True,
            status_code=201,
            now=100.0,
        )
        # A process books 1000 credits and dies before recording the answers.
        assert (await store.reserve("k", 500, at(101.0))).granted
        assert (await store.reserve("k", 500, at(101.0))).granted
        # While its calls could still be in flight, a new reading is taken net of them.
        assert (await store.reserve("k", 500, at(102.0))).granted
        await store.record(
            "k",
            500,
            probe=False,
            reading=_reading(1000, 200.0),
            answered=True,
            status_code=201,
            now=102.0,
        )
        assert await store.reading("k") == _reading(0, 200.0)
        # Long after, the dead bookings no longer count.
        assert (await store.reserve("k", 500, at(300.0))).probe
        await store.record(
            "k",
            500,
            probe=True,
            reading=_reading(1500, 400.0),
            answered=True,
            status_code=201,
            now=300.0,
        )
        assert await store.reading("k") == _reading(1500, 400.0)
    finally:
        await db.dispose()


# -- grants: plenty left, so calls are paid from memory ------------------------------------

LIMIT = 100_000  # Miro's budget per user and app; a grant is LIMIT // PARTS = 5,000


def _big(remaining: int, reset_at: float) -> RateLimitReading:
    return RateLimitReading(limit=LIMIT, remaining=remaining, reset_at=reset_at)


@pytest.fixture
async def sql_store(database_url: str) -> AsyncIterator[SQLPacingStore]:
    await upgrade(database_url)
    db = Database(database_url)
    try:
        yield SQLPacingStore(db)
    finally:
        await db.dispose()


async def _answered(
    store: SQLPacingStore,
    reading: RateLimitReading,
    *,
    now: float,
    key: str = "k",
    probe: bool = False,
    shared: bool = True,
    status_code: int = 201,
) -> None:
    """A 500-credit call on `key` got its answer with `reading`."""
    await store.record(
        key,
        500,
        probe=probe,
        reading=reading,
        answered=True,
        status_code=status_code,
        now=now,
        shared=shared,
    )


async def _opened(
    store: SQLPacingStore, key: str = "k", reset_at: float = 160.0
) -> None:
    """Probe a new window at t=100 and record its reading (the prober takes a grant)."""
    assert await store.reserve(key, 500, at(100.0)) == Reservation(True, probe=True)
    await _answered(store, _big(LIMIT - 500, reset_at), now=100.0, key=key, probe=True)


async def test_a_grant_pays_for_calls_without_the_database(
    sql_store: SQLPacingStore,
) -> None:
    store = sql_store
    await _opened(store)
    assert store.held == {"k": LIMIT // PARTS}
    with statements() as seen:
        for _ in range(10):  # 10 x 500 = the grant
            answer = await store.reserve("k", 500, at(101.0))
            assert answer == Reservation(True, shared=False)
            await _answered(store, _big(LIMIT - 1000, 160.0), now=101.0, shared=False)
    assert seen == []
    assert store.held == {"k": 0}
    # The eleventh takes the next grant: one statement.
    with statements() as seen:
        answer = await store.reserve("k", 500, at(101.0))
    assert answer == Reservation(True, shared=False)
    assert [statement_kind(statement) for statement in seen] == [
        "UPDATE pacing_budgets"
    ]
    assert store.held == {"k": LIMIT // PARTS - 500}
    shared = await store.reading("k")
    assert shared is not None
    # What no process holds: the window minus the probe and two grants.
    assert shared.remaining == LIMIT - 500 - 2 * (LIMIT // PARTS)


async def test_the_grants_of_all_processes_never_exceed_the_window(
    database_url: str,
) -> None:
    # Three stores on three engines stand for three processes; they take turns until
    # the window refuses them all. Calls of 100 credits; a grant is 5,000.
    await upgrade(database_url)
    dbs = [Database(database_url) for _ in range(3)]
    stores = [SQLPacingStore(db) for db in dbs]
    try:
        await _opened(stores[0])
        paid = 500  # the probe
        refused: set[int] = set()
        while len(refused) < len(stores):
            for number, store in enumerate(stores):
                if number in refused:
                    continue
                answer = await store.reserve("k", 100, at(110.0))
                if answer.granted:
                    paid += 100
                else:
                    assert answer.retry_at == 160.0
                    refused.add(number)
    finally:
        for db in dbs:
            await db.dispose()
    assert paid <= LIMIT  # never more than the window, whoever held what
    # The last grants are not given while less than five would fit; the rest is
    # booked call by call: only what processes held unspent is lost.
    assert paid >= LIMIT - 3 * (LIMIT // PARTS)


async def test_a_429_on_a_granted_call_zeroes_the_shared_balance(
    sql_store: SQLPacingStore,
) -> None:
    store = sql_store
    await _opened(store)
    assert (await store.reserve("k", 500, at(101.0))).shared is False
    await _answered(store, _big(0, 160.0), now=101.0, shared=False, status_code=429)
    assert "k" not in store.held
    assert await store.reading("k") == _big(0, 160.0)
    assert await store.reserve("k", 500, at(102.0)) == Reservation(
        False, retry_at=160.0
    )


async def test_no_grant_is_spent_in_the_last_seconds_of_its_window(
    sql_store: SQLPacingStore,
) -> None:
    store = sql_store
    await _opened(store)
    assert store.held == {"k": LIMIT // PARTS}
    # Within GUARD of the reset a call could land in the next window: booked alone,
    # and counted in flight until its answer.
    late = 160.0 - GUARD + 0.5
    assert await store.reserve("k", 500, at(late)) == Reservation(True)
    # A window that opens too close to its end gives the prober no grant either.
    await _opened(store, key="short", reset_at=100.0 + GUARD - 0.5)
    assert "short" not in store.held
