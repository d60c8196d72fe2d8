"""`SQLPacingStore`: Miro credit balances in the database, shared by every process.

Miro's budget is per user per app, so when several `miroconnect serve` processes (on one or
many machines) call Miro for the same user, each must see what the others spent. This store
keeps one `pacing_budgets` row per connection key and changes it only with single conditional
statements, atomic on SQLite and PostgreSQL alike, none of them open across an HTTP call. The
statements are built once per store.

**Grants.** While a window has plenty left, a process does not ask the database for every
call: it takes a grant, a twentieth of the window's limit, in one statement, and spends it
from memory. The row's `remaining` is what no process holds yet, so the grants of all
processes together never exceed the window: every credit is handed out once. Grants are only
given while four more would still fit and the window has more than `GUARD` seconds to run,
and only for calls that cost at most half a grant; a grant is not spent in the last `GUARD`
seconds of its window (a call sent then could land in the next window, which nobody booked
it in). Near the end of a balance, for dear calls and in short windows, every call is booked
on its own, as below. Credits a process holds and does not spend are lost for that window:
under-use, never overdraft.

**Booking one call**: `UPDATE ... SET remaining = remaining - :credits WHERE key = :key AND
<window live> AND remaining >= :credits RETURNING ...`, and the call's credits count as in
flight until its answer is recorded. No row back: the balance is short (wait for the reset),
or no window is known (claim the probe with another conditional UPDATE, or an `INSERT ... ON
CONFLICT DO NOTHING RETURNING` for a new key, tried first for a key this process has not
seen).

**Readings.** A probe's reading opens the window: `remaining` becomes Miro's remaining net of
the calls in flight, and the prober takes its first grant in the same statement. Within a
window a reading only ever lowers `remaining` (credits held in grants are not in it, so a
reading must never give them out again); a reading older than the newest one seen changes
nothing (Miro's `remaining` only falls within a window), and a 429 zeroes the balance until
the reset. A call spent from a grant records nothing, unless it was refused (429) or its
answer shows a newer window.

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from miroconnect.client.pacing import Now, RateLimitReading, Reservation
from miroconnect.storage.db import Database
from miroconnect.storage.models import PacingBudgetRow

__all__ = ["GUARD", "PARTS", "SQLPacingStore"]

T = cast(Table, PacingBudgetRow.__table__)
PARTS = 20  # a grant is this part of the window's limit
AMPLE = 4  # grants are given while this many more would still fit after this one
GUARD = 2.0  # seconds before a window's reset when grants are no longer given or spent
_MEMORY = 4096  # keys remembered per process before old entries are dropped


@dataclass
class _Grant:
    """Credits this process holds for one key, spendable until `reset_at - GUARD`."""

    credits: int
    reset_at: float


class _Statements:
    """The store's statements, built once; every value is a bound parameter."""

    def __init__(self, db: Database) -> None:
        key = T.c.key == bindparam("k")
        credits = bindparam("credits", type_=Integer())
        now = bindparam("now", type_=Float())
        stale_before = bindparam("stale_before", type_=Float())
        chunk = T.c.credit_limit // PARTS
        stale = T.c.in_flight_at < stale_before
        booked = case((stale, credits), else_=T.c.in_flight + credits)
        # Plenty left and time to spend it: a grant instead of one call's booking.
        ample = and_(
            chunk >= 2 * credits,
            T.c.remaining >= (AMPLE + 1) * chunk,
            T.c.reset_at > now + GUARD,
        )
        self.book = db.prepare(
            update(T)
            .where(
                key,
                T.c.metered.is_(True),
                T.c.credit_limit.is_not(None),
                T.c.reset_at > now,
                or_(T.c.remaining >= credits, T.c.credit_limit < credits),
            )
            .values(
                remaining=T.c.remaining - case((ample, chunk), else_=credits),
                last_grant=case((ample, chunk), else_=literal(0)),
                in_flight=case((ample, T.c.in_flight), else_=booked),
                in_flight_at=case((ample, T.c.in_flight_at), else_=now),
            )
            .returning(T.c.last_grant, T.c.reset_at)
        )
        self.probe = db.prepare(
            update(T)
            .where(
                key,
                T.c.metered.is_(True),
                or_(T.c.credit_limit.is_(None), T.c.reset_at <= now),
                or_(T.c.probe_until.is_(None), T.c.probe_until <= now),
            )
            .values(
                probe_until=bindparam("probe_until", type_=Float()),
                in_flight=booked,
                in_flight_at=now,
            )
            .returning(T.c.key)
        )
        self.look = db.prepare(
            select(T.c.metered, T.c.credit_limit, T.c.remaining, T.c.reset_at).where(
                key
            )
        )
        self.reading = db.prepare(
            select(T.c.credit_limit, T.c.remaining, T.c.reset_at).where(key)
        )
        insert: Any = postgresql.insert if db.is_postgresql else sqlite.insert
        self.insert_probe = db.prepare(
            insert(T)
            .values(
                key=bindparam("k"),
                metered=True,
                remaining=0,
                reset_at=0.0,
                in_flight=credits,
                in_flight_at=now,
                probe_until=bindparam("probe_until", type_=Float()),
                last_grant=0,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(T.c.key)
        )
        # -- recording an answer ------------------------------------------------------
        released = case(
            (or_(stale, T.c.in_flight <= credits), literal(0)),
            else_=T.c.in_flight - credits,
        )
        probing = bindparam("probe", type_=Boolean())
        probe_until = case((probing, None), else_=T.c.probe_until)
        self.record_plain = db.prepare(
            update(T)
            .where(key)
            .values(
                in_flight=released,
                probe_until=probe_until,
                # Answered without rate-limit headers: this key is not metered.
                metered=case(
                    (
                        and_(
                            probing,
                            bindparam("answered", type_=Boolean()),
                            T.c.credit_limit.is_(None),
                        ),
                        False,
                    ),
                    else_=T.c.metered,
                ),
            )
        )
        limit = bindparam("r_limit", type_=Integer())
        left = bindparam("r_remaining", type_=Integer())
        reset = bindparam("r_reset", type_=Float())
        grant = bindparam("grant", type_=Integer())  # what the prober asks, or 0
        older = and_(T.c.credit_limit.is_not(None), T.c.reset_at - 0.5 > reset)
        new_window = or_(T.c.credit_limit.is_(None), T.c.reset_at + 0.5 < reset)
        newest = or_(
            new_window, T.c.seen_remaining.is_(None), T.c.seen_remaining >= left
        )
        accept = and_(not_(older), newest)
        net = left - released
        balance = case(
            (and_(bindparam("refused", type_=Boolean()), net > 0), literal(0)),
            else_=net,
        )
        granted = case(
            (and_(new_window, balance >= (AMPLE + 1) * grant), grant), else_=literal(0)
        )
        self.record_reading = db.prepare(
            update(T)
            .where(key)
            .values(
                in_flight=released,
                probe_until=probe_until,
                metered=True,
                last_grant=granted,
                remaining=case(
                    (new_window, balance - granted),
                    # Within a window only ever lower: granted credits are not in it.
                    (and_(accept, balance < T.c.remaining), balance),
                    else_=T.c.remaining,
                ),
                seen_remaining=case((accept, left), else_=T.c.seen_remaining),
                credit_limit=case((accept, limit), else_=T.c.credit_limit),
                reset_at=case((accept, reset), else_=T.c.reset_at),
            )
            .returning(T.c.last_grant, T.c.reset_at)
        )


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
        self._sql = _Statements(db)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # key -> (until, answer): a refusal that cannot change before `until`.
        self._refusals: dict[str, tuple[float, Reservation]] = {}
        self._grants: dict[str, _Grant] = {}
        self._seen: dict[str, None] = {}  # keys known to have a row (insertion order)

    async def _one(self, statement: Any, **params: Any) -> Any:
        """Run one statement as its own transaction; its first row, if any."""
        rows = await self._db.run(statement, params)
        return rows[0] if rows else None

    async def reserve(self, key: str, credits: int, now: Now) -> Reservation:
        """Book `credits` on `key` if the shared balance allows it at `now()`."""
        if credits <= 0:
            return Reservation(True)
        if self._spend(key, credits, now()):
            return Reservation(True, shared=False)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            if self._spend(key, credits, now()):  # a grant came while we waited
                return Reservation(True, shared=False)
            refusal = self._refusals.get(key)
            if refusal is not None:
                if refusal[0] > now():
                    return refusal[1]
                del self._refusals[key]
            answer = await self._reserve(key, credits, now)
            if not answer.granted:
                at = now()
                until = answer.retry_at or at + self._probe_poll
                if len(self._refusals) > _MEMORY:
                    self._refusals = {
                        k: v for k, v in self._refusals.items() if v[0] > at
                    }
                self._refusals[key] = (until, answer)
            return answer

    def _spend(self, key: str, credits: int, at: float) -> bool:
        """Take `credits` from this process's grant for `key`, if it has enough."""
        grant = self._grants.get(key)
        if grant is None or grant.credits < credits or at >= grant.reset_at - GUARD:
            return False
        grant.credits -= credits
        return True

    def _hold(self, key: str, credits: int, reset_at: float) -> None:
        if len(self._grants) > _MEMORY:
            self._grants = {
                k: g for k, g in self._grants.items() if g.reset_at > reset_at - 3600
            }
        self._grants[key] = _Grant(credits, reset_at)

    def _bookings(self, credits: int, at: float) -> dict[str, Any]:
        return {"credits": credits, "now": at, "stale_before": at - self._stale_after}

    async def _reserve(self, key: str, credits: int, clock: Now) -> Reservation:
        if key not in self._seen:
            # Most likely a new connection: create its row as the probe, one statement.
            now = clock()
            created = await self._one(
                self._sql.insert_probe,
                k=key,
                probe_until=now + self._probe_lease,
                **self._bookings(credits, now),
            )
            self._remember(key)
            if created is not None:
                return Reservation(True, probe=True)
        while True:
            now = clock()
            booked = await self._one(
                self._sql.book, k=key, **self._bookings(credits, now)
            )
            if booked is not None:
                last_grant, reset_at = booked
                if last_grant > 0:
                    self._hold(key, last_grant - credits, reset_at)
                    return Reservation(True, shared=False)
                return Reservation(True)
            now = clock()
            probe = await self._one(
                self._sql.probe,
                k=key,
                probe_until=now + self._probe_lease,
                **self._bookings(credits, now),
            )
            if probe is not None:
                return Reservation(True, probe=True)
            now = clock()
            row = await self._one(self._sql.look, k=key)
            if row is None:
                created = await self._one(
                    self._sql.insert_probe,
                    k=key,
                    probe_until=now + self._probe_lease,
                    **self._bookings(credits, now),
                )
                if created is not None:
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

    def _remember(self, key: str) -> None:
        if len(self._seen) > _MEMORY:
            for old in list(self._seen)[: _MEMORY // 2]:
                del self._seen[old]
        self._seen[key] = None

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
        """Release the call's booking and take its reading (one UPDATE), or, for a call
        spent from a grant, nothing unless the answer changes what the grant assumed."""
        if not shared:
            grant = self._grants.get(key)
            newer = (
                reading is not None
                and grant is not None
                and reading.reset_at > grant.reset_at + 0.5
            )
            if reading is None or not (status_code == 429 or newer):
                return
            self._grants.pop(key, None)
            credits = 0  # nothing of it is in flight in the shared row
        elif credits <= 0 and not probe:
            return
        if probe:
            self._refusals.pop(key, None)  # our waiters should look again at once
        params: dict[str, Any] = {
            "k": key,
            "probe": probe,
            **self._bookings(credits, now),
        }
        if reading is None:
            await self._db.run(self._sql.record_plain, {**params, "answered": answered})
            return
        refused = status_code == 429
        # The prober opens the window and takes its first grant in the same statement
        # (if a grant would pay for two calls like this one).
        chunk = reading.limit // PARTS
        opening = probe and not refused and reading.reset_at > now + GUARD
        params.update(
            r_limit=reading.limit,
            r_remaining=reading.remaining,
            r_reset=reading.reset_at,
            refused=refused,
            grant=chunk if opening and chunk >= 2 * credits else 0,
        )
        row = await self._one(self._sql.record_reading, **params)
        if row is not None and row.last_grant > 0:
            self._hold(key, row.last_grant, row.reset_at)
        if refused:
            self._grants.pop(key, None)

    async def reading(self, key: str) -> RateLimitReading | None:
        """The shared balance of `key` (net of calls in flight and of the credits that
        processes hold in grants), if a reading exists."""
        row = await self._one(self._sql.reading, k=key)
        if row is None or row[0] is None:
            return None
        return RateLimitReading(row[0], row[1], row[2])

    @property
    def held(self) -> Mapping[str, int]:
        """Credits this process holds in grants, by key (for tests and metrics)."""
        return {key: grant.credits for key, grant in self._grants.items()}
