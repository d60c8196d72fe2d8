"""CreditPacer: a burst spends the credits a window has and waits for the reset."""

from __future__ import annotations

import asyncio
import math
import random

import httpx2
from fakes import FakeTime

from miroconnect.client import CreditPacer, MiroClient, RetryPolicy, StaticTokenSource
from miroconnect.client.pacing import parse_reading


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
