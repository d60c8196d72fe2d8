"""The async engine and sessions, with the SQLite settings concurrency needs.

SQLite: WAL (readers never wait for the writer), a `busy_timeout` (writers queue instead of
failing at once), and transactions whose start we control. The Python driver opens
transactions lazily and always DEFERRED; a deferred transaction that reads and then writes
fails with "database is locked" *without waiting* when another process wrote in between.
So the driver's own transaction handling is switched off and we emit `BEGIN` ourselves:
`BEGIN IMMEDIATE` (take the write lock first, waiting up to `busy_timeout`) for sessions
from `Database.write_session()`, plain `BEGIN` for `Database.session()`, and none at all
for `Database.single_session()` / `single_engine`: one statement then runs in SQLite's own
autocommit, atomic by itself, and holds the write lock only while it executes in the
driver's thread (an explicit `BEGIN; UPDATE; COMMIT` would hold it across every trip
between the event loop and that thread; `docs/benchmarks.md` has what that cost).

PostgreSQL needs none of this: the refresh path locks its row with `SELECT ... FOR UPDATE`,
which SQLite ignores (its IMMEDIATE transaction already holds the database's write lock).

The hot path (a board for a connected user: read the connection, journal the operation,
finish it) runs its statements through `Database.run`: one statement, atomic by itself, on
a Core statement built once by its store. A statement the store `prepare`d runs on the raw
driver (`miroconnect.storage.direct`): on PostgreSQL the asyncpg connection of a pooled
connection, on a SQLite file a connection of the event loop's own thread that never waits
for a lock. Any other statement, and a prepared one that would have to wait, runs through
SQLAlchemy: on PostgreSQL an autocommit connection of the pool; on a SQLite file
SQLAlchemy's synchronous `sqlite3` engine in one thread of this process (the statement, its
rows and the connection's return in one trip to that thread, where aiosqlite makes five).
`docs/benchmarks.md` (the hot path) has the measurements.

A change that must be atomic with another write (a board recorded and the webhook event
that reports it, `miroconnect.storage.outbox`) runs through `Database.run_in_transaction`:
a synchronous function given one connection inside `BEGIN ... COMMIT`; on a SQLite file it
runs on that same thread, so the whole transaction is still one trip there.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Executable, Row, create_engine, event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from miroconnect.storage.direct import (
    AsyncpgLane,
    Prepared,
    ResultRow,
    SQLiteInline,
    compiled_for,
)

__all__ = ["Database", "probe", "shown_url", "sqlite_file"]

T = TypeVar("T")
S = TypeVar("S", bound=Executable)

logger = logging.getLogger(__name__)

_WRITE_OPTION = "miroconnect_immediate"
_SINGLE_OPTION = "miroconnect_single_statement"
# Connections each process keeps open (PostgreSQL). SQLAlchemy's default, 5 kept and 10 more
# opened under load, closes each extra connection as soon as it is returned: at 8-16
# concurrent requests per process that was a new PostgreSQL session (TCP, TLS negotiation,
# backend start, every statement prepared again) for every 2-3 requests. 4 workers open
# at most 4 x 20 connections, inside PostgreSQL's default `max_connections` of 100.
POOL_SIZE = 16
POOL_OVERFLOW = 4


class Database:
    """One engine and its session factories; build one per process and share it.

    ```python
    db = Database("sqlite+aiosqlite:///./miroconnect.db")
    async with db.session() as session: ...  # reads
    async with db.write_session() as session, session.begin(): ...  # read-then-write
    await db.dispose()
    ```

    `pool_size` and `max_overflow` size the connection pool on PostgreSQL (see
    `POOL_SIZE`); a quarter of `pool_size` stays with `run`'s prepared statements
    between them (`AsyncpgLane`). SQLite keeps SQLAlchemy's defaults.
    """

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 30_000,
        echo: bool = False,
        pool_size: int = POOL_SIZE,
        max_overflow: int = POOL_OVERFLOW,
    ) -> None:
        self.url = url
        pool: dict[str, Any] = {}
        if make_url(url).get_backend_name() == "postgresql":
            pool = {"pool_size": pool_size, "max_overflow": max_overflow}
        # `hide_parameters`: a failed statement's error (and so any log line or page
        # made of it) never shows the values it was sent, tokens and user input alike.
        self.engine: AsyncEngine = create_async_engine(
            url, echo=echo, hide_parameters=True, **pool
        )
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.is_postgresql = self.engine.dialect.name == "postgresql"
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_timeout_ms)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._write_sessions = async_sessionmaker(
            self._write_engine, expire_on_commit=False
        )
        # One statement is atomic without BEGIN and COMMIT around it. PostgreSQL: on an
        # autocommit connection it is one round trip, not three. SQLite: no BEGIN is
        # sent (the driver is in autocommit, see the module doc), so the statement takes
        # and drops the write lock inside one call to the driver's thread. `single_engine`
        # is for Core statements, `single_session()` for the ORM; one statement each.
        self.single_engine: AsyncEngine = self.engine
        if self.is_postgresql:
            self.single_engine = self.engine.execution_options(
                isolation_level="AUTOCOMMIT"
            )
        elif self.is_sqlite:
            self.single_engine = self.engine.execution_options(**{_SINGLE_OPTION: True})
        self._single_sessions = async_sessionmaker(
            self.single_engine, expire_on_commit=False
        )
        self._sqlite_thread: _SQLiteThread | None = None
        self._inline: SQLiteInline | None = None
        database = make_url(url).database
        if self.is_sqlite and database not in (None, "", ":memory:"):
            self._sqlite_thread = _SQLiteThread(url, busy_timeout_ms)
            self._inline = SQLiteInline(str(database), self.engine.dialect)
        self._checkpoints: set[asyncio.Future[Any]] = set()
        # PostgreSQL's prepared statements: a quarter of the pool kept for them.
        self._lane: AsyncpgLane | None = None
        if self.is_postgresql:
            self._lane = AsyncpgLane(self.engine, keep=pool_size // 4)

    def session(self) -> AsyncSession:
        """A session for reads and single-statement writes."""
        return self._sessions()

    def single_session(self) -> AsyncSession:
        """A session for exactly one statement (a read, or one atomic write).

        No `BEGIN` is sent (PostgreSQL: an autocommit connection; SQLite: the driver's
        autocommit): the statement is its own transaction, so never run two statements
        in it that must be atomic together. `session.begin()` around a write is still
        fine (its `COMMIT` has nothing left to do).
        """
        return self._single_sessions()

    def write_session(self) -> AsyncSession:
        """A session whose transaction takes the write lock up front on SQLite.

        Use it for every read-then-write transaction (refresh, upsert, rotation).
        """
        return self._write_sessions()

    def prepare(self, statement: S) -> Prepared[S]:
        """`statement`, built once by its store, to be run by `run` on the raw driver
        (`miroconnect.storage.direct`)."""
        return Prepared(statement)

    async def run(
        self,
        statement: Executable | Prepared[Any],
        params: Mapping[str, Any] | None = None,
    ) -> Sequence[ResultRow]:
        """Run one statement on its own, atomic by itself (no BEGIN around it), and
        return its rows (a SELECT's, or a `RETURNING`'s; none otherwise).

        For the hot path's statements, built once by their stores (see the module doc);
        a `prepare`d one runs on the raw driver where it can. Never use it for two
        statements that must be atomic together.
        """
        if isinstance(statement, Prepared):
            compiled = compiled_for(statement, params, self.engine.dialect)
            if compiled is not None:
                arguments = compiled.arguments(params)
                if self._lane is not None:
                    return await self._lane.run(compiled, arguments)
                if self._inline is not None:
                    thread = self._sqlite_thread
                    if compiled.writes and thread is not None and thread.working:
                        # This process's driver thread is checkpointing, or writing
                        # what found the lock taken: a write here would find the lock
                        # taken too, and queued behind it on that thread would send the
                        # next one there; or, by taking the lock first, it would starve
                        # the checkpoint. So it waits until that thread is idle.
                        await thread.idle()
                    found = self._inline.run(compiled, arguments)
                    if found is not None:
                        self._checkpoint_now_and_then()
                        return found
            return await self._run_through_sqlalchemy(statement.statement, params)
        return await self._run_through_sqlalchemy(statement, params)

    async def _run_through_sqlalchemy(
        self, statement: Executable, params: Mapping[str, Any] | None
    ) -> Sequence[Row[Any]]:
        if self._sqlite_thread is not None:
            return await self._sqlite_thread.run(statement, params)
        connection = await self.single_engine.connect()
        try:
            result = await connection.execute(statement, params)
            rows = result.all() if result.returns_rows else ()
        except BaseException:
            # As `async with` would: the connection goes back even if we are cancelled.
            await asyncio.shield(connection.close())
            raise
        # An autocommit connection has no transaction to end: its return to the pool
        # sends nothing, so it needs no task of its own (`async with` makes one).
        await connection.close()
        return rows

    def _checkpoint_now_and_then(self) -> None:
        """Now and then (`SQLiteInline.checkpoint_due`), a checkpoint on the driver's
        thread: the event loop's SQLite connection never makes one."""
        inline, thread = self._inline, self._sqlite_thread
        if inline is None or thread is None or not inline.checkpoint_due():
            return
        done = asyncio.ensure_future(thread.checkpoint())
        self._checkpoints.add(done)
        done.add_done_callback(self._checkpointed)

    def _checkpointed(self, done: asyncio.Future[Any]) -> None:
        self._checkpoints.discard(done)
        if not done.cancelled() and (error := done.exception()) is not None:
            # The next one will try again; the WAL only grows meanwhile.
            logger.warning("SQLite checkpoint failed: %s", type(error).__name__)

    async def run_in_transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one write transaction: committed when it returns, rolled back
        if it raises. `work` is synchronous and gets a SQLAlchemy `Connection`.

        For the few writes that must be atomic together and are short (no awaiting
        inside). On a SQLite file it runs on `Database.run`'s thread (`BEGIN IMMEDIATE`,
        the statements, `COMMIT`: one trip there); elsewhere through
        `AsyncConnection.run_sync`.
        """
        if self._sqlite_thread is not None:
            return await self._sqlite_thread.run_in_transaction(work)
        async with self._write_engine.begin() as connection:
            return await connection.run_sync(work)

    async def run_in_session(self, work: Callable[[Session], T]) -> T:
        """`run_in_transaction` for ORM work: `work` gets a `Session` joined to the
        transaction (it flushes into it; the transaction commits or rolls back)."""

        def in_session(connection: Connection) -> T:
            with Session(bind=connection) as session:
                return work(session)

        return await self.run_in_transaction(in_session)

    async def ping(self) -> None:
        """Run `SELECT 1`: raises the driver's error when the database does not answer."""
        async with self.session() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._checkpoints:
            await asyncio.gather(*self._checkpoints, return_exceptions=True)
        if self._lane is not None:
            await self._lane.close()
        if self._inline is not None:
            self._inline.close()
        if self._sqlite_thread is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, self._sqlite_thread.close
            )
        await self.engine.dispose()


async def probe(url: str) -> str:
    """Connect to `url` once and run `SELECT 1`; the dialect's name (`sqlite`,
    `postgresql`). Raises the driver's error, or `ValueError`-like errors for a URL
    SQLAlchemy cannot parse."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.scalar(text("SELECT 1"))
        return engine.dialect.name
    finally:
        await engine.dispose()


def shown_url(url: str) -> str:
    """The database URL with its password hidden, in the user part and in the query
    (`?password=...`, which asyncpg takes as the password too; any query key naming a
    password, secret, token or key). Never echo one that does not parse: it may hold a
    password."""
    try:
        parsed = make_url(url)
        query = {
            name: "***" if _SECRET_QUERY.search(name) else value
            for name, value in parsed.query.items()
        }
        shown = parsed.set(query=query).render_as_string(hide_password=True)
        return shown.replace("%2A%2A%2A", "***")
    except Exception:
        return "(unparsable database URL)"


_SECRET_QUERY = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; `None` for other databases and `:memory:`."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (
        None,
        "",
        ":memory:",
    ):
        return None
    return Path(parsed.database)


class _SQLiteThread:
    """One thread with SQLAlchemy's synchronous `sqlite3` engine, for `Database.run`.

    One connection, used by one thread: statements of this process run one after another
    there (SQLite has one writer at a time anyway), each in the driver's autocommit.
    """

    def __init__(self, url: str, busy_timeout_ms: int) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        self.engine: Engine = create_engine(
            sync_url, hide_parameters=True, pool_size=1, max_overflow=0
        )
        _configure_sqlite(self.engine, busy_timeout_ms)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="miroconnect-sqlite")
        self._jobs = 0  # sent to the thread, not yet answered
        self._idle: asyncio.Future[None] | None = None

    @property
    def working(self) -> bool:
        """Whether a statement or transaction runs on the thread, or waits for it."""
        return self._jobs > 0

    async def idle(self) -> None:
        """Until nothing runs on the thread or waits for it."""
        if self._jobs == 0:
            return
        if self._idle is None:
            self._idle = asyncio.get_running_loop().create_future()
        # Shielded: one waiter cancelled must not cancel the others' wait.
        await asyncio.shield(self._idle)

    async def _on_thread(self, work: Callable[..., T], *args: Any) -> T:
        self._jobs += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, work, *args)
        finally:
            self._jobs -= 1
            if self._jobs == 0 and self._idle is not None:
                self._idle.set_result(None)
                self._idle = None

    async def run(
        self, statement: Executable, params: Mapping[str, Any] | None
    ) -> Sequence[Row[Any]]:
        return await self._on_thread(self._run, statement, params)

    def _run(
        self, statement: Executable, params: Mapping[str, Any] | None
    ) -> Sequence[Row[Any]]:
        with self.engine.connect().execution_options(**{_SINGLE_OPTION: True}) as c:
            result = c.execute(statement, params)
            return result.all() if result.returns_rows else ()

    async def run_in_transaction(self, work: Callable[[Connection], T]) -> T:
        return await self._on_thread(self._transaction, work)

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with (
            self.engine.connect().execution_options(**{_WRITE_OPTION: True}) as c,
            c.begin(),
        ):
            return work(c)

    async def checkpoint(self) -> None:
        """Copy the WAL back into the database file and start it over (RESTART: waits,
        on this thread, for readers of the old WAL; a PASSIVE checkpoint would leave
        the WAL growing, since no writer of the event loop's connection restarts it)."""
        await self.run(text("PRAGMA wal_checkpoint(RESTART)"), None)

    def close(self) -> None:
        """Close the connection, in its own thread. The thread stays (idle) and the
        engine usable, like `AsyncEngine.dispose`; it ends with this object."""
        self._executor.submit(self.engine.dispose).result()


def _configure_sqlite(engine: AsyncEngine | Engine, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Autocommit at the driver level: we send BEGIN ourselves (see the module doc).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(_SINGLE_OPTION, False):
            return  # one statement, in SQLite's own autocommit (see the module doc)
        immediate = options.get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
