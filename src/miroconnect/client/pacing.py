"""Credit-aware pacing: spend Miro's rate-limit credits without collecting 429s.

Miro counts credits per user per app in fixed windows and reports the balance in
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (UNIX seconds) on every
response. Each endpoint costs the credits of its level (1-4: 50/100/500/2000).
[Rate limiting](https://developers.miro.com/reference/rate-limiting)

`CreditPacer` keeps, per connection key, the last reading and the credits of calls still in
flight, shared by every task in the process that uses that key. A call that would overdraw
the balance waits for the reset instead of being sent. Until a first reading exists, one call
at a time goes out as a probe, so a burst on a fresh connection cannot overdraw either.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from miroconnect.types import Clock, system_clock

__all__ = [
    "CREDITS_BY_LEVEL",
    "CreditPacer",
    "RateLimitReading",
    "Sleep",
    "Ticket",
    "parse_reading",
]

CREDITS_BY_LEVEL: Mapping[int, int] = {1: 50, 2: 100, 3: 500, 4: 2000}
"""Credits one call of each rate-limit level costs."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits the given number of seconds; injected so tests do not wait for real."""


@dataclass(frozen=True)
class RateLimitReading:
    """One response's `X-RateLimit-*` headers."""

    limit: int
    remaining: int
    reset_at: float
    """UNIX seconds when the window ends and the balance is full again."""


def parse_reading(headers: Mapping[str, str]) -> RateLimitReading | None:
    """The reading in `headers`, or None if they carry no (valid) rate-limit headers."""
    try:
        return RateLimitReading(
            limit=int(headers["x-ratelimit-limit"]),
            remaining=int(headers["x-ratelimit-remaining"]),
            reset_at=float(headers["x-ratelimit-reset"]),
        )
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Ticket:
    """Permission to send one call; hand it back to `CreditPacer.settle`."""

    key: str
    credits: int
    probe: bool


class _Ledger:
    """What one connection key has left, as far as this process knows."""

    def __init__(self) -> None:
        self.metered = True  # False once Miro answered without rate-limit headers
        self.limit: int | None = None
        self.remaining = 0
        self.reset_at = 0.0
        self.in_flight = 0  # credits of calls sent and not yet answered
        self.probing: asyncio.Event | None = None


class CreditPacer:
    """Waits before calls that would overdraw a connection's credit balance.

    Share one pacer between every `MiroClient` of a process (the default does); give it a
    fake `clock` and `sleep` in tests:

    ```python
    pacer = CreditPacer(clock=fake.now, sleep=fake.sleep)
    ticket = await pacer.acquire("connection-1", 500)
    ... send ...
    pacer.settle(ticket, response.headers, response.status_code)
    ```
    """

    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.05,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        # Wait this much past the announced reset, so a call does not land in the old window
        # because of a clock a little behind Miro's.
        self._margin = margin
        self._ledgers: dict[str, _Ledger] = {}
        # Plain state and no awaits while it is held: the pacer works from any event loop and
        # any thread (the benchmarks run several loops).
        self._lock = threading.Lock()

    def now(self) -> float:
        """The pacer's time in UNIX seconds."""
        return self._clock().timestamp()

    def reading(self, key: str) -> RateLimitReading | None:
        """The last balance known for `key` (remaining net of calls in flight), if any."""
        with self._lock:
            ledger = self._ledgers.get(key)
            if ledger is None or ledger.limit is None:
                return None
            return RateLimitReading(ledger.limit, ledger.remaining, ledger.reset_at)

    async def acquire(self, key: str, credits: int) -> Ticket:
        """Wait until a call costing `credits` fits the balance of `key`, and book it."""
        while True:
            wait_for: asyncio.Event | None = None
            delay = 0.0
            with self._lock:
                ledger = self._ledgers.setdefault(key, _Ledger())
                now = self.now()
                if not ledger.metered or credits <= 0:
                    ledger.in_flight += credits
                    return Ticket(key, credits, probe=False)
                if ledger.limit is None or now >= ledger.reset_at:
                    # No reading yet, or its window is over and the new window's length
                    # is unknown: one call goes out as a probe, the others wait for the
                    # reading its answer brings.
                    if ledger.probing is None:
                        ledger.probing = asyncio.Event()
                        ledger.in_flight += credits
                        return Ticket(key, credits, probe=True)
                    wait_for = ledger.probing
                elif ledger.remaining >= credits or credits > ledger.limit:
                    # (A call dearer than the whole budget can only be tried.)
                    ledger.remaining -= credits
                    ledger.in_flight += credits
                    return Ticket(key, credits, probe=False)
                else:
                    delay = ledger.reset_at - now + self._margin
            if wait_for is not None:
                await wait_for.wait()
            else:
                await self._sleep(delay)

    def settle(
        self, ticket: Ticket, headers: Mapping[str, str] | None, status_code: int | None
    ) -> None:
        """Record the answer to a ticket's call (`headers` None: it got no answer)."""
        with self._lock:
            ledger = self._ledgers.setdefault(ticket.key, _Ledger())
            ledger.in_flight = max(0, ledger.in_flight - ticket.credits)
            reading = parse_reading(headers) if headers is not None else None
            if reading is not None:
                self._apply(ledger, reading, status_code)
            elif headers is not None and ticket.probe and ledger.limit is None:
                # Miro (or a stand-in) does not meter this connection: stop pacing it.
                ledger.metered = False
            if ticket.probe and ledger.probing is not None:
                ledger.probing.set()
                ledger.probing = None

    def _apply(
        self, ledger: _Ledger, reading: RateLimitReading, status: int | None
    ) -> None:
        if ledger.limit is not None and reading.reset_at < ledger.reset_at - 0.5:
            return  # a late answer from a window that is already over
        ledger.metered = True
        ledger.limit = reading.limit
        ledger.reset_at = reading.reset_at
        # Conservative: the calls still in flight may not be counted in this reading yet.
        remaining = reading.remaining - ledger.in_flight
        if status == 429:
            remaining = min(remaining, 0)
        ledger.remaining = remaining

    async def wait_for_reset(self, key: str, reset_at: float | None) -> bool:
        """After a 429: wait until `reset_at` (or the known reset) has passed.

        Returns False when no reset time is known (the caller backs off instead).
        """
        with self._lock:
            ledger = self._ledgers.get(key)
            if reset_at is None and ledger is not None and ledger.limit is not None:
                reset_at = ledger.reset_at
        if reset_at is None:
            return False
        await self._sleep(max(0.0, reset_at - self.now()) + self._margin)
        return True
