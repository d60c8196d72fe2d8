"""`SQLPacingStore`: Miro credit balances in the database, shared by every process.

Miro's budget is per user per app, so when several `miroconnect serve` processes (on one or
many machines) call Miro for the same user, each must see what the others booked. This store
keeps one `pacing_budgets` row per connection key and changes it only with single conditional
statements, atomic on SQLite and PostgreSQL alike, none of them open across an HTTP call:

- book: `UPDATE ... SET remaining = remaining - :credits WHERE key = :key AND <window live>
  AND remaining >= :credits RETURNING key`. No row back: the balance is short (wait for the
  reset), or no window is known (claim the probe with another conditional UPDATE, or an
  `INSERT ... ON CONFLICT DO NOTHING RETURNING` for a new key).
- record: one `UPDATE` that takes the answer's reading unless it is older than the newest one
  seen (Miro's `remaining` only falls within a window), net of the credits still in flight.

Turn it on by handing it to the pacer (one per process, like the `Database`):

```python
pacer = CreditPacer(store=SQLPacingStore(db))
miro = MiroClient(http, tokens, pacer=pacer)
```

It implements `miroconnect.client.pacing.PacingStore`, as `SQLStore` implements the vault's
store. Within a process it asks the database for one key at a time and remembers a refusal
until it can change (the reset, or a short poll while another process probes), so a thousand
waiting tasks do not poll the database; that memory only ever makes a call wait, never sends
one. Time is the caller's clock (UNIX seconds): keep the servers' clocks in NTP sync; the
pacer's margin absorbs small skew. Use it from one event loop, as its `Database`.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy import ColumnElement, and_, case, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from miroconnect.client.pacing import Now, RateLimitReading, Reservation
from miroconnect.storage.db import Database
from miroconnect.storage.models import PacingBudgetRow

__all__ = ["SQLPacingStore"]

_T = PacingBudgetRow


class SQLPacingStore:
    """Credit balances in the `pacing_budgets` table: one budget per key for every process
    on the database. See the module docstring for how it stays atomic and cheap.

    `probe_lease`: how long a probe holds its key before another process may probe (a
    crashed prober). `stale_after`: bookings older than this no longer count as in flight
    (a crashed process's calls). `probe_poll`: how often a process asks again while
    another process's probe is out.
    """

    def __init__(
        self,
        db: Database,
        *,
        probe_lease: float = 30.0,
        stale_after: float = 300.0,
        probe_poll: float = 0.05,
    ) -> None:
        self._db = db
        self._probe_lease = probe_lease
        self._stale_after = stale_after
        self._probe_poll = probe_poll
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # key -> (until, answer): a refusal that cannot change before `until`.
        self._refusals: dict[str, tuple[float, Reservation]] = {}

    async def _one(self, statement: Any) -> Any:
        """Run one statement as its own transaction; its first row, if any."""
        # One statement is atomic by itself: no BEGIN (PostgreSQL: autocommit, no
        # BEGIN/COMMIT round trips; SQLite: the write lock is held only while the
        # statement runs, not across trips to the event loop), on a bare connection
        # (the ORM session costs about as much as the call).
        async with self._db.single_engine.begin() as connection:
            return (await connection.execute(statement)).first()

    def _in_flight_after(self, credits: int, now: float) -> ColumnElement[int]:
        return case(
            (
                or_(_T.in_flight_at < now - self._stale_after, _T.in_flight <= credits),
                literal(0),
            ),
            else_=_T.in_flight - credits,
        )

    def _booked(self, credits: int, now: float) -> dict[str, Any]:
        return {
            "in_flight": case(
                (_T.in_flight_at < now - self._stale_after, literal(credits)),
                else_=_T.in_flight + credits,
            ),
            "in_flight_at": now,
        }

    def _insert_probe(self, key: str, credits: int, now: float) -> Any:
        values = {
            "key": key,
            "metered": True,
            "remaining": 0,
            "reset_at": 0.0,
            "in_flight": credits,
            "in_flight_at": now,
            "probe_until": now + self._probe_lease,
        }
        if self._db.is_postgresql:
            pg = postgresql.insert(_T).values(**values)
            return pg.on_conflict_do_nothing(index_elements=["key"]).returning(_T.key)
        if self._db.is_sqlite:
            lite = sqlite.insert(_T).values(**values)
            return lite.on_conflict_do_nothing(index_elements=["key"]).returning(_T.key)
        return insert(_T).values(**values).returning(_T.key)  # pragma: no cover

    async def reserve(self, key: str, credits: int, now: Now) -> Reservation:
        """Book `credits` on `key` if the shared balance allows it at `now()`."""
        if credits <= 0:
            return Reservation(True)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            refusal = self._refusals.get(key)
            if refusal is not None:
                if refusal[0] > now():
                    return refusal[1]
                del self._refusals[key]
            answer = await self._reserve(key, credits, now)
            if not answer.granted:
                at = now()
                until = answer.retry_at or at + self._probe_poll
                if len(self._refusals) > 1024:
                    self._refusals = {
                        k: v for k, v in self._refusals.items() if v[0] > at
                    }
                self._refusals[key] = (until, answer)
            return answer

    async def _reserve(self, key: str, credits: int, clock: Now) -> Reservation:
        while True:
            now = clock()
            fits = or_(_T.remaining >= credits, _T.credit_limit < credits)
            booked = await self._one(
                update(_T)
                .where(
                    _T.key == key,
                    _T.metered.is_(True),
                    _T.credit_limit.is_not(None),
                    _T.reset_at > now,
                    fits,
                )
                .values(remaining=_T.remaining - credits, **self._booked(credits, now))
                .returning(_T.key)
            )
            if booked is not None:
                return Reservation(True)
            now = clock()
            probe = await self._one(
                update(_T)
                .where(
                    _T.key == key,
                    _T.metered.is_(True),
                    or_(_T.credit_limit.is_(None), _T.reset_at <= now),
                    or_(_T.probe_until.is_(None), _T.probe_until <= now),
                )
                .values(
                    probe_until=now + self._probe_lease, **self._booked(credits, now)
                )
                .returning(_T.key)
            )
            if probe is not None:
                return Reservation(True, probe=True)
            now = clock()
            row = await self._one(
                select(_T.metered, _T.credit_limit, _T.remaining, _T.reset_at).where(
                    _T.key == key
                )
            )
            if row is None:
                if await self._one(self._insert_probe(key, credits, now)) is not None:
                    return Reservation(True, probe=True)
                continue  # another process created it first: look again
            metered, limit, remaining, reset_at = row
            if not metered:
                return Reservation(True)
            if limit is None or reset_at <= now:
                return Reservation(False)  # another call is probing
            if remaining >= credits or limit < credits:
                continue  # a reading raised the balance since the first statement
            return Reservation(False, retry_at=reset_at)

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
    ) -> None:
        """Release the call's booking and take its reading (one UPDATE)."""
        if credits <= 0 and not probe:
            return
        in_flight_after = self._in_flight_after(credits, now)
        values: dict[str, Any] = {"in_flight": in_flight_after}
        if probe:
            values["probe_until"] = None
            self._refusals.pop(key, None)  # our waiters should look again at once
        if reading is not None:
            stale = and_(
                _T.credit_limit.is_not(None), _T.reset_at - 0.5 > reading.reset_at
            )
            new_window = or_(
                _T.credit_limit.is_(None), _T.reset_at + 0.5 < reading.reset_at
            )
            newest = or_(
                new_window,
                _T.seen_remaining.is_(None),
                _T.seen_remaining >= reading.remaining,
            )
            accept = and_(~stale, newest)
            balance: ColumnElement[int] = literal(reading.remaining) - in_flight_after
            if status_code == 429:
                # It was refused: nothing more fits this window, whatever it says.
                balance = case((balance > 0, literal(0)), else_=balance)
            values.update(
                metered=True,
                remaining=case((accept, balance), else_=_T.remaining),
                seen_remaining=case(
                    (accept, literal(reading.remaining)), else_=_T.seen_remaining
                ),
                credit_limit=case(
                    (accept, literal(reading.limit)), else_=_T.credit_limit
                ),
                reset_at=case((accept, literal(reading.reset_at)), else_=_T.reset_at),
            )
        elif answered and probe:
            # Answered without rate-limit headers: this key is not metered.
            values["metered"] = case(
                (_T.credit_limit.is_(None), literal(False)), else_=_T.metered
            )
        await self._one(
            update(_T).where(_T.key == key).values(**values).returning(_T.key)
        )

    async def reading(self, key: str) -> RateLimitReading | None:
        """The shared balance of `key` (net of calls in flight), if a reading exists."""
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(_T.credit_limit, _T.remaining, _T.reset_at).where(
                        _T.key == key
                    )
                )
            ).first()
        if row is None or row[0] is None:
            return None
        return RateLimitReading(row[0], row[1], row[2])
