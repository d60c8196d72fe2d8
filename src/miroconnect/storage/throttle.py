"""`SQLThrottle`: fixed-window attempt counters shared by every process on the database.

The reference app's sign-in is throttled per client address and per username. The count
lives in the database, not in a process: with four workers (or four servers) an attacker
gets the limit once, not four times, and a restart does not reset it. Well-kept libraries
such as `limits` keep their counters in memory, Redis or Memcached; this product keeps all
shared state in its one database, and takes its time from the injected clock, so the
project keeps this small counter itself: one upsert per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from miroconnect.storage.db import Database
from miroconnect.storage.models import ThrottleCounterRow
from miroconnect.types import Clock

__all__ = ["SQLThrottle", "Window"]


@dataclass(frozen=True)
class Window:
    """A key's attempts in its current window, and when the window ends (UNIX seconds)."""

    count: int
    ends_at: float


class SQLThrottle:
    """Counts attempts per key in windows of `window_seconds`."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def hit(self, key: str, *, window_seconds: float) -> Window:
        """Count one attempt for `key`; the window it fell in (a new one if the last
        window ended)."""
        now = self._clock().timestamp()
        row = ThrottleCounterRow.__table__.c
        stale = row.window_start <= now - window_seconds
        insert: Any = (postgresql.insert if self._db.is_postgresql else sqlite.insert)(
            ThrottleCounterRow
        )
        statement = (
            insert.values(key=key, window_start=now, count=1)
            .on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "count": case((stale, 1), else_=row.count + 1),
                    "window_start": case((stale, now), else_=row.window_start),
                },
            )
            .returning(ThrottleCounterRow.count, ThrottleCounterRow.window_start)
        )
        async with self._db.single_session() as session, session.begin():
            count, start = (await session.execute(statement)).one()
        return Window(int(count), float(start) + window_seconds)

    async def give_back(self, key: str) -> None:
        """Uncount one attempt of `key` (one that turned out not to count: a sign-in
        that succeeded). If its window has ended meanwhile, the new window's count
        goes down by one: at most one attempt more for that key."""
        row = ThrottleCounterRow.__table__.c
        async with self._db.single_session() as session, session.begin():
            await session.execute(
                update(ThrottleCounterRow)
                .where(row.key == key, row.count > 0)
                .values(count=row.count - 1)
            )

    async def forget_before(self, *, seconds_ago: float) -> int:
        """Delete counters whose window started more than `seconds_ago` ago."""
        cutoff = self._clock().timestamp() - seconds_ago
        async with self._db.single_session() as session, session.begin():
            result: Any = await session.execute(
                delete(ThrottleCounterRow).where(
                    ThrottleCounterRow.window_start < cutoff
                )
            )
            return int(result.rowcount or 0)
