"""Small shared types: the clock, sleeping, backoff and JSON aliases.

Time is always injected: every component that checks an expiry takes a `Clock`, and every
component that waits takes a `Sleep`, so tests move time forward without sleeping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["Backoff", "Clock", "JSONObject", "Sleep", "system_clock"]

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC `datetime`."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits that many seconds (`asyncio.sleep`, or a test's fake that moves a clock)."""

JSONObject = dict[str, Any]


def system_clock() -> datetime:
    """The real clock: now, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Backoff:
    """Waits that double from `first`, at most `maximum` each, `attempts` of them.

    How long to keep trying through a short outage (a database restart or failover):
    `Backoff(6, 0.2, 2.0)` waits 0.2, 0.4, 0.8, 1.6, 2.0, 2.0 s, about 7 s in all.
    """

    attempts: int
    first: float
    maximum: float

    def delay(self, retry: int) -> float:
        """Seconds before retry number `retry` (0 for the first)."""
        return float(min(self.maximum, self.first * 2.0**retry))

    def delays(self) -> Iterator[float]:
        """Every wait, in order."""
        return (self.delay(retry) for retry in range(max(1, self.attempts)))
