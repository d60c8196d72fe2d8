"""Test doubles for the client: a clock that sleeps by moving forward, a token source."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from miroconnect.errors import ReauthorizationRequiredError

__all__ = ["FakeTime", "RotatingTokenSource"]


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
