"""Prepared statements on the raw driver (`miroconnect.storage.direct`): the same rows and
the same errors as through SQLAlchemy, and on SQLite a write that must wait for the lock
still waits (on the driver's thread) instead of failing or blocking the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from miroconnect.storage import direct
from miroconnect.storage.db import Database
from miroconnect.storage.direct import CHECKPOINT_EVERY, Prepared
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.models import OperationRow
from miroconnect.storage.operations import NewOperation, OperationStore
from support.statements import statement_kind, statements

pytestmark = pytest.mark.db

T = cast(Table, OperationRow.__table__)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def opened(url: str, **options: Any) -> AsyncIterator[Database]:
    """A `Database` on `url`, disposed of when the block ends."""
    db = Database(url, **options)
    try:
        yield db
    finally:
        await db.dispose()


# The pid of the PostgreSQL backend a statement ran on.
_BACKEND = select(func.pg_backend_pid().label("pid"))


async def _postgresql(database_url: str) -> None:
    """Skip unless the suite runs on PostgreSQL; the schema, up to date."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's connections and backends")
    await upgrade(database_url)


def _values(number: int, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": f"{number:032x}",
        "app_user_id": "user-1",
        "idempotency_key": f"key-{number}",
        "kind": "create_board",
        "params": {"name": f"Board {number}", "nested": [1, {"a": None}]},
        "connection_id": "c1",
        "miro_user_id": "m1",
        "miro_team_id": "t1",
        "state": "sent",
        "attempts": 1,
        "lease_owner": "owner",
        "lease_until": NOW + timedelta(minutes=2),
        "started_at": NOW,
        "updated_at": NOW,
    }
    return values | changes


async def test_a_prepared_statement_reads_and_writes_as_sqlalchemy_does(
    database_url: str,
) -> None:
    await upgrade(database_url)
    async with opened(database_url) as db:
        add = db.prepare(insert(T).returning(T.c.id, T.c.params, T.c.started_at))
        with statements() as seen:
            (row,) = await db.run(add, _values(1))
        assert [statement_kind(s) for s in seen] == ["INSERT operations"]
        assert row.id == row[0] == f"{1:032x}"
        assert row._mapping["params"] == {"name": "Board 1", "nested": [1, {"a": None}]}
        assert row.started_at == NOW and row.started_at.tzinfo is not None
        await db.run(insert(T), _values(2, finished_at=NOW))  # through SQLAlchemy

        read = select(T).where(T.c.app_user_id == bindparam("user")).order_by(T.c.id)
        direct = await db.run(db.prepare(read), {"user": "user-1"})
        plain = await db.run(read, {"user": "user-1"})
        assert [dict(r._mapping) for r in direct] == [dict(r._mapping) for r in plain]
        assert len(direct) == 2 and direct[1].finished_at == NOW

        # A JSON value bound by name, and a function in the statement.
        finish = db.prepare(
            T.update()
            .where(T.c.id == bindparam("op"))
            .values(
                result=bindparam("outcome", type_=JSON()), attempts=T.c.attempts + 1
            )
            .returning(T.c.result, T.c.attempts, func.lower(T.c.kind).label("low"))
        )
        (done,) = await db.run(finish, {"op": f"{1:032x}", "outcome": {"board": "b"}})
        assert tuple(done._mapping.values()) == ({"board": "b"}, 2, "create_board")
        assert done.low == "create_board"
        with pytest.raises(AttributeError):
            _ = done.missing
        assert await db.run(finish, {"op": "none", "outcome": {}}) == []


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(
    database_url: str,
) -> None:
    await upgrade(database_url)
    async with opened(database_url) as db:
        add = db.prepare(insert(T))
        await db.run(add, _values(1))
        with statements() as seen, pytest.raises(IntegrityError) as raised:
            await db.run(add, _values(2, idempotency_key="key-1"))
        assert [statement_kind(s) for s in seen] == ["INSERT operations"]
        # As through SQLAlchemy (`hide_parameters`): the values sent are never shown.
        assert "[parameters" not in str(raised.value)
        assert "Board 2" not in str(raised.value)
        # The connection is still good.
        assert len(await db.run(db.prepare(select(T.c.id)))) == 1


async def test_the_store_claims_and_finishes_on_the_raw_driver(
    database_url: str,
) -> None:
    await upgrade(database_url)
    async with opened(database_url) as db:
        store = OperationStore(db, clock=lambda: NOW)
        new = NewOperation("user-1", "k", "create_board", {"name": "A"}, "c", "m", "t")
        claim = await store.claim(new, owner="me", sending=True)
        assert claim.owned and claim.created
        await store.finish(claim.operation.id, "me", {"board_id": "b1"}, board_id="b1")
        other = await store.claim(
            NewOperation("user-1", "k2", "create_board", {"name": "B"}, "c", "m", "t"),
            owner="me",
        )
        with pytest.raises(Exception, match="already recorded"):
            await store.finish(other.operation.id, "me", {}, board_id="b1")
        (found,) = [op for op in await store.all() if op.id == claim.operation.id]
        assert found.state == "done" and found.result == {"board_id": "b1"}
        assert found.finished_at == NOW


async def test_sqlite_a_write_waits_for_another_writer_off_the_event_loop(
    tmp_path: Any,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/w.db"
    await upgrade(url)
    async with opened(url, busy_timeout_ms=10_000) as db:
        add = db.prepare(insert(T).returning(T.c.id))
        await db.run(add, _values(1))  # opens the event loop's connection
        holding, release = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            async with db.write_session() as session, session.begin():
                await session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the lock
                holding.set()
                await release.wait()

        held = asyncio.create_task(writer())
        await holding.wait()
        waiting = asyncio.create_task(db.run(add, _values(2)))
        ticks = 0
        while ticks < 20:  # the event loop keeps running while the insert waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not waiting.done()
        release.set()
        await held
        assert [row.id for row in await waiting] == [f"{2:032x}"]


class _ThreadHoldsTheLock:
    """The driver's thread in a write transaction (row 2 inserted) until `release`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._holding, self._release = threading.Event(), threading.Event()
        self._held: asyncio.Task[None] | None = None

    async def start(self) -> None:
        def hold(connection: Connection) -> None:
            connection.execute(insert(T).values(_values(2)))
            self._holding.set()
            self._release.wait(10)

        self._held = asyncio.create_task(self._db.run_in_transaction(hold))
        await asyncio.to_thread(self._holding.wait, 10)

    async def release(self) -> None:
        self._release.set()
        assert self._held is not None
        await self._held


@asynccontextmanager
async def _thread_holding_the_lock(
    tmp_path: Any,
) -> AsyncIterator[tuple[Database, Prepared[Any], _ThreadHoldsTheLock]]:
    """A SQLite database with row 1 written on the event loop's connection (now open),
    a prepared insert of operations, and the driver's thread holding the write lock."""
    url = f"sqlite+aiosqlite:///{tmp_path}/held.db"
    await upgrade(url)
    async with opened(url) as db:
        add = db.prepare(insert(T).returning(T.c.id))
        await db.run(add, _values(1))
        thread = _ThreadHoldsTheLock(db)
        await thread.start()
        yield db, add, thread


async def test_sqlite_a_write_waits_for_the_own_thread_then_runs_on_the_event_loop(
    tmp_path: Any,
) -> None:
    # The driver's thread holds the write lock (a checkpoint, a transaction): a write
    # that finds the lock taken waits until that thread is idle and then runs on the
    # event loop's connection, instead of queueing on the thread behind it (where each
    # write held the lock in turn and sent the next one there too).
    async with _thread_holding_the_lock(tmp_path) as (db, add, thread):
        inline: list[str] = []
        direct.listen(inline.append)
        try:
            waiting = asyncio.create_task(db.run(add, _values(3)))
            for _ in range(20):
                await asyncio.sleep(0.01)
            assert not waiting.done()
            await thread.release()
            assert [row.id for row in await waiting] == [f"{3:032x}"]
        finally:
            direct.unlisten(inline.append)
        assert [statement_kind(sql) for sql in inline] == ["INSERT operations"]


async def test_sqlite_a_prepared_statement_on_memory_runs_through_sqlalchemy() -> None:
    async with opened("sqlite+aiosqlite:///:memory:") as db:
        await db.run(text("CREATE TABLE t (n INTEGER)"))
        await db.run(db.prepare(text("INSERT INTO t VALUES (7)")))
        rows = await db.run(db.prepare(select(text("n")).select_from(text("t"))))
        assert [tuple(row) for row in rows] == [(7,)]


async def test_postgresql_a_cancelled_statement_does_not_spoil_the_pool(
    database_url: str,
) -> None:
    await _postgresql(database_url)
    async with opened(database_url, pool_size=1, max_overflow=0) as db:
        slow = asyncio.create_task(db.run(db.prepare(select(func.pg_sleep(5)))))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # The one connection was discarded, a new one serves the next statement.
        rows = await asyncio.wait_for(db.run(db.prepare(select(T.c.id))), 5)
        assert rows == []


async def test_sqlite_an_error_after_the_change_is_raised_not_run_again(
    tmp_path: Any,
) -> None:
    # A RETURNING row that cannot be read (text that is not UTF-8) fails after SQLite
    # made the change: running it again on the driver's thread would count twice.
    counters = Table(
        "counters", MetaData(), Column("n", Integer), Column("label", String)
    )
    async with opened(f"sqlite+aiosqlite:///{tmp_path}/e.db") as db:
        await db.run(text("CREATE TABLE counters (n INTEGER, label TEXT)"))
        await db.run(text("INSERT INTO counters VALUES (0, CAST(x'ff' AS TEXT))"))
        bump = db.prepare(
            update(counters).values(n=counters.c.n + 1).returning(counters.c.label)
        )
        await db.run(db.prepare(select(counters.c.n)))  # opens the inline connection
        with pytest.raises(DBAPIError):
            await db.run(bump)
        (row,) = await db.run(db.prepare(select(counters.c.n)))
        assert row.n == 1


async def _end_backend(database_url: str, pid: int) -> None:
    """End PostgreSQL backend `pid` from another client, as a restart would."""
    admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


@pytest.mark.parametrize(
    ("pool_size", "fails_once"),
    [
        # No connection kept (pool_size // 4 == 0): the pool hands the dead one out,
        # one statement fails, and the connection is never handed out again.
        (1, True),
        # Kept between statements: found closed, dropped before it is used.
        (4, False),
    ],
)
async def test_postgresql_a_connection_the_server_ended_is_never_used_again(
    database_url: str, pool_size: int, fails_once: bool
) -> None:
    await _postgresql(database_url)
    async with opened(database_url, pool_size=pool_size, max_overflow=0) as db:
        backend = db.prepare(_BACKEND)
        (first,) = await db.run(backend)
        # Another client ends it, as a restart or an idle timeout would.
        await _end_backend(database_url, first.pid)
        for _ in range(50):  # until the client has read the server's goodbye
            await asyncio.sleep(0.02)
        if fails_once:
            with pytest.raises(DBAPIError):
                await db.run(backend)
        (second,) = await db.run(backend)
        assert second.pid != first.pid


async def test_sqlite_the_wal_starts_over_after_the_event_loops_writes(
    tmp_path: Any,
) -> None:
    # The event loop's connection never checkpoints; the driver's thread does, every
    # CHECKPOINT_EVERY writes, and starts the WAL over, so it does not grow for ever.
    url = f"sqlite+aiosqlite:///{tmp_path}/wal.db"
    numbers = Table("numbers", MetaData(), Column("n", Integer))
    writes = 2 * CHECKPOINT_EVERY + CHECKPOINT_EVERY // 5
    async with opened(url) as db:
        await db.run(text("CREATE TABLE numbers (n INTEGER)"))
        add = db.prepare(insert(numbers))
        for n in range(writes):
            await db.run(add, {"n": n})
            await asyncio.sleep(0)  # lets a checkpoint's task run
        await asyncio.sleep(0.2)
        (state,) = await db.run(text("PRAGMA wal_checkpoint(PASSIVE)"))
    # `log`: the frames in the WAL: only the writes since the last restart, each one a
    # frame or two.
    assert state._mapping["log"] < writes


async def test_postgresql_the_lane_keeps_a_quarter_of_the_pool_and_gives_it_back(
    database_url: str,
) -> None:
    # Statements keep up to pool_size // 4 connections between them; the sessions
    # always have the rest of the pool, and dispose gives the kept ones back.
    await _postgresql(database_url)
    db = Database(database_url, pool_size=8, max_overflow=0)
    pool = db.engine.sync_engine.pool
    try:
        nap = db.prepare(select(func.pg_sleep(0.05)))
        await asyncio.gather(*(db.run(nap) for _ in range(8)))
        assert pool.checkedout() == 2  # type: ignore[attr-defined]

        async def hold() -> None:
            async with db.session() as session:
                await session.execute(select(func.pg_sleep(0.05)))

        # The six the lane does not keep serve six sessions at once, without waiting
        # for the pool's timeout.
        await asyncio.wait_for(asyncio.gather(*(hold() for _ in range(6))), 10)
    finally:
        await db.dispose()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_postgresql_a_connection_that_breaks_takes_the_kept_ones_with_it(
    database_url: str,
) -> None:
    # A statement's connection dies under it (a restart, a failover): the kept
    # connections are dropped too, never handed to the next statements one by one.
    await _postgresql(database_url)
    async with opened(database_url, pool_size=8, max_overflow=0) as db:
        pool = db.engine.sync_engine.pool
        backend = db.prepare(
            select(func.pg_backend_pid().label("pid"), func.pg_sleep(0.2))
        )
        await asyncio.gather(db.run(backend), db.run(backend))
        assert pool.checkedout() == 2  # type: ignore[attr-defined]  # both kept
        slow = db.prepare(select(func.pg_backend_pid().label("pid"), func.pg_sleep(5)))
        running = asyncio.create_task(db.run(slow))
        await asyncio.sleep(0.3)
        busy = await _busy_backend(database_url)
        await _end_backend(database_url, busy)
        with pytest.raises(DBAPIError):
            await running
        assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def _busy_backend(database_url: str) -> int:
    """The pid of the backend running a `pg_sleep` now (an idle one shows its last
    query too: only the active one counts)."""
    admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active'"
            " AND query LIKE '%pg_sleep(%' AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert isinstance(pid, int)
    return pid


async def test_sqlite_a_write_cancelled_while_it_waits_for_the_thread_writes_nothing(
    tmp_path: Any,
) -> None:
    async with _thread_holding_the_lock(tmp_path) as (db, add, thread):
        cancelled = asyncio.create_task(db.run(add, _values(3)))
        waiting = asyncio.create_task(db.run(add, _values(4)))
        await asyncio.sleep(0.1)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await thread.release()
        await waiting  # the other waiter still goes on
        ids = [row.id for row in await db.run(db.prepare(select(T.c.id)))]
    assert sorted(ids) == [f"{n:032x}" for n in (1, 2, 4)]
