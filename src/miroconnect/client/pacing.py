"""Credit-aware pacing: spend Miro's rate-limit credits without collecting 429s.

Miro counts credits per user per app in fixed windows and reports the balance in
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (UNIX seconds) on every
response. Each endpoint costs the credits of its level (1-4: 50/100/500/2000).
[Rate limiting](https://developers.miro.com/reference/rate-limiting)

`CreditPacer` books each call's credits against the balance of its connection key before the
call leaves, and records the reading its answer brings. A call that would overdraw the balance
waits for the reset instead of being sent. Until a first reading exists (and again once a
window is over), one call at a time goes out as a probe, so a burst on a fresh connection
cannot overdraw either.

Where the balances live is a `PacingStore`:

- `MemoryPacingStore` (the default): in this process's memory, shared by every task of the
  process that uses the pacer. Right for a library user with one process.
- `miroconnect.storage.pacing.SQLPacingStore`: one row per connection key in the database, so
  every process and machine on that database spends one budget per key. Use it whenever more
  than one process calls Miro for the same users (`miroconnect serve --workers N`, several
  servers on one PostgreSQL):

```python
from miroconnect.storage.db import Database
from miroconnect.storage.pacing import SQLPacingStore

db = Database("postgresql+asyncpg://...")
pacer = CreditPacer(store=SQLPacingStore(db))  # one per process, like `db`
miro = MiroClient(http, vault.token_source(connection_id), pacer=pacer)
```
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from miroconnect.types import Clock, Sleep, system_clock

__all__ = [
    "CREDITS_BY_LEVEL",
    "CreditPacer",
    "MemoryPacingStore",
    "Now",
    "PacingStore",
    "RateLimitReading",
    "Reservation",
    "Sleep",
    "Ticket",
    "parse_reading",
]

CREDITS_BY_LEVEL: Mapping[int, int] = {1: 50, 2: 100, 3: 500, 4: 2000}
"""Credits one call of each rate-limit level costs."""

"""Waits the given number of seconds; injected so tests do not wait for real."""

Now = Callable[[], float]
"""The pacer's clock in UNIX seconds."""


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
class Reservation:
    """A store's answer to "may a call costing these credits go out now?".

    `granted`: it may, and its credits are booked (`probe`: it is the one call that learns
    the balance of a window nobody has a reading for). Otherwise `retry_at` says when the
    balance is back (UNIX seconds), or is None while another call is probing.

    `shared=False`: the credits came from a grant this process already holds (see
    `SQLPacingStore`), so the call's record has nothing to release in the shared store.
    """

    granted: bool
    probe: bool = False
    retry_at: float | None = None
    shared: bool = True


_GRANTED = Reservation(True)
_PROBE = Reservation(True, probe=True)
_PROBING = Reservation(False)


class PacingStore(Protocol):
    """Where the pacer keeps each connection key's balance; the seam between one process
    (`MemoryPacingStore`) and many (`SQLPacingStore`).

    Both calls must be atomic with respect to every other user of the same store: a
    reservation books its credits in the same step that checks them.
    """

    async def reserve(self, key: str, credits: int, now: Now) -> Reservation:
        """Book `credits` for a call on `key` if the balance allows it at `now()`.

        Read `now()` as late as possible (after any wait for a lock or a connection): a
        time taken before a wait could book a call into a window that is already over.
        """
        ...

    async def record(
        self,
        key: str,
        credits: int,
        *,
        probe: bool,
        reading: RateLimitReading | None,
        answered: bool,
        status_code: int | None,
        now: float,
        shared: bool = True,
    ) -> None:
        """The call booked by `reserve` is over: it got `reading` (`answered` False: it got
        no answer at all). `shared` is the reservation's."""
        ...

    async def reading(self, key: str) -> RateLimitReading | None:
        """The balance known for `key` (net of calls in flight), if any."""
        ...


@dataclass(frozen=True)
class Ticket:
    """Permission to send one call; hand it back to `CreditPacer.settle`."""

    key: str
    credits: int
    probe: bool
    shared: bool = True
    # Set when this process's probe is over, to wake the tasks waiting for its reading.
    done: asyncio.Event | None = field(default=None, compare=False, repr=False)


class _Ledger:
    """What one connection key has left, as far as this process knows."""

    def __init__(self) -> None:
        self.metered = True  # False once Miro answered without rate-limit headers
        self.limit: int | None = None
        self.remaining = 0
        self.reset_at = 0.0
        self.in_flight = 0  # credits of calls sent and not yet answered
        self.probing = False


class MemoryPacingStore:
    """Balances in this process's memory: the default `PacingStore`.

    Correct for one process; with several processes on one Miro app each would spend the
    whole budget (use `SQLPacingStore` there). Plain state and no awaits under its lock,
    so it works from any event loop and any thread.
    """

    def __init__(self) -> None:
        self._ledgers: dict[str, _Ledger] = {}
        self._lock = threading.Lock()

    async def reserve(self, key: str, credits: int, now: Now) -> Reservation:
        with self._lock:
            ledger = self._ledgers.setdefault(key, _Ledger())
            if not ledger.metered or credits <= 0:
                ledger.in_flight += credits
                return _GRANTED
            if ledger.limit is None or now() >= ledger.reset_at:
                # No reading yet, or its window is over and the new window's length is
                # unknown: one call goes out as a probe, the others wait for its reading.
                if ledger.probing:
                    return _PROBING
                ledger.probing = True
                ledger.in_flight += credits
                return _PROBE
            if ledger.remaining >= credits or credits > ledger.limit:
                # (A call dearer than the whole budget can only be tried.)
                ledger.remaining -= credits
                ledger.in_flight += credits
                return _GRANTED
            return Reservation(False, retry_at=ledger.reset_at)

    async def record(
        self,
        key: str,
        credits: int,
        *,
        probe: bool,
        reading: RateLimitReading | None,
        answered: bool,
        status_code: int | None,
        now: float,
        shared: bool = True,
    ) -> None:
        with self._lock:
            ledger = self._ledgers.setdefault(key, _Ledger())
            ledger.in_flight = max(0, ledger.in_flight - credits)
            if reading is not None:
                self._apply(ledger, reading, status_code)
            elif answered and probe and ledger.limit is None:
                # Miro (or a stand-in) does not meter this connection: stop pacing it.
                ledger.metered = False
            if probe:
                ledger.probing = False

    @staticmethod
    def _apply(ledger: _Ledger, reading: RateLimitReading, status: int | None) -> None:
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

    async def reading(self, key: str) -> RateLimitReading | None:
        with self._lock:
            ledger = self._ledgers.get(key)
            if ledger is None or ledger.limit is None:
                return None
            return RateLimitReading(ledger.limit, ledger.remaining, ledger.reset_at)


class CreditPacer:
    """Waits before calls that would overdraw a connection's credit balance.

    Share one pacer between every `MiroClient` of a process (the default does). Give it a
    `SQLPacingStore` when several processes call Miro for the same users, and a fake
    `clock` and `sleep` in tests:

    ```python
    pacer = CreditPacer(clock=fake.now, sleep=fake.sleep)
    ticket = await pacer.acquire("connection-1", 500)
    ... send ...
    await pacer.settle(ticket, response.headers, response.status_code)
    ```
    """

    def __init__(
        self,
        *,
        store: PacingStore | None = None,
        clock: Clock = system_clock,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.05,
        poll_interval: float = 0.05,
    ) -> None:
        self.store: PacingStore = store if store is not None else MemoryPacingStore()
        self._clock = clock
        self._sleep = sleep
        # Wait this much past the announced reset, so a call does not land in the old window
        # because of a clock a little behind Miro's.
        self._margin = margin
        # How often to ask again while another process's probe is out (no event crosses
        # processes).
        self._poll = poll_interval
        self._probes: dict[str, asyncio.Event] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        """The pacer's time in UNIX seconds."""
        return self._clock().timestamp()

    async def reading(self, key: str) -> RateLimitReading | None:
        """The last balance known for `key` (remaining net of calls in flight), if any."""
        return await self.store.reading(key)

    async def acquire(self, key: str, credits: int) -> Ticket:
        """Wait until a call costing `credits` fits the balance of `key`, and book it."""
        while True:
            answer = await self.store.reserve(key, credits, self.now)
            if answer.granted:
                done = None
                if answer.probe:
                    done = asyncio.Event()
                    with self._lock:
                        self._probes[key] = done
                return Ticket(
                    key, credits, probe=answer.probe, shared=answer.shared, done=done
                )
            if answer.retry_at is not None:
                # The clock again: the reservation itself may have waited.
                await self._sleep(max(0.0, answer.retry_at - self.now()) + self._margin)
                continue
            with self._lock:
                local = self._probes.get(key)
            if local is not None:
                await local.wait()  # our own probe: its answer wakes us
            else:
                await self._sleep(self._poll)  # another process's probe

    async def settle(
        self, ticket: Ticket, headers: Mapping[str, str] | None, status_code: int | None
    ) -> None:
        """Record the answer to a ticket's call (`headers` None: it got no answer)."""
        try:
            await self.store.record(
                ticket.key,
                ticket.credits,
                probe=ticket.probe,
                reading=parse_reading(headers) if headers is not None else None,
                answered=headers is not None,
                status_code=status_code,
                now=self.now(),
                shared=ticket.shared,
            )
        finally:
            if ticket.done is not None:
                with self._lock:
                    if self._probes.get(ticket.key) is ticket.done:
                        del self._probes[ticket.key]
                ticket.done.set()

    async def wait_for_reset(self, key: str, reset_at: float | None) -> bool:
        """After a 429: wait until `reset_at` (or the known reset) has passed.

        Returns False when no reset time is known (the caller backs off instead).
        """
        if reset_at is None:
            known = await self.store.reading(key)
            reset_at = known.reset_at if known is not None else None
        if reset_at is None:
            return False
        await self._sleep(max(0.0, reset_at - self.now()) + self._margin)
        return True
