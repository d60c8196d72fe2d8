"""Prepared statements run on the raw driver: the hot path without SQLAlchemy's execution.

A store builds its common statements once and wraps each in `Database.prepare`. For such a
`Prepared` statement `Database.run` skips SQLAlchemy's execution machinery (connection
object, execution context, result object, and on SQLite the trip to another thread) and
hands the driver the SQL that SQLAlchemy compiled for it, once per set of parameter names:

- the parameters are the ones SQLAlchemy would send (`construct_params`, then each bind's
  type processor: JSON encoded, times made naive UTC on SQLite, as always);
- each value of a returned row goes through its column type's result processor, so a row
  reads exactly as through SQLAlchemy (`tests/storage/test_direct.py` compares them).

PostgreSQL: the statement runs on the asyncpg connection of a pooled connection
(`AsyncEngine.raw_connection`, with the codecs SQLAlchemy set on it), outside any
transaction: one statement is its own transaction there. `AsyncpgLane` keeps a few such
connections between statements, so most statements skip the pool's checkout and return.
Errors are raised as SQLAlchemy raises them (`DBAPIError.instance`, parameters hidden),
and a connection that broke (or a statement that was cancelled) is discarded, never
handed out again.

SQLite (a file): the statement runs on the event loop's thread, on a connection of its own
that never waits: `busy_timeout = 0`. In WAL mode a read never waits for a writer, and a
write that would wait (another connection holds the write lock) fails at once with "database
is locked"; only such an error (SQLite's BUSY or LOCKED: nothing was done) sends the
statement to `Database.run`'s usual path (the driver's thread, which waits up to
`busy_timeout`). Any other error is raised as SQLAlchemy raises it, never run again: it
may come after a change was made (a `RETURNING` row that fails to read). This connection
never checkpoints by itself (`wal_autocheckpoint = 0`: a checkpoint would write the WAL
back on the event loop); `Database.run` asks the driver's thread for a checkpoint
every `CHECKPOINT_EVERY` writes made here. It never waits
for a lock, but it does wait for the disk: SQLite is the one-machine default, on local
storage; put the database on PostgreSQL where the disk is slow or shared.

`listen(observer)` has each statement run here reported (its SQL), as SQLAlchemy's
`before_cursor_execute` event reports the others: the tests count statements with both.

Only statements that SQLAlchemy sends as they are may run here: none with Python-side
defaults to compute, expanding or literal-rendered parameters (`compiled_for` says `None`,
and those run through SQLAlchemy as before).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import asyncpg
from sqlalchemy import Delete, Executable, Insert, Row, Select, Update, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import greenlet_spawn

from miroconnect.storage.outage import database_unavailable

__all__ = [
    "AsyncpgLane",
    "CompiledStatement",
    "DirectRow",
    "Prepared",
    "ResultRow",
    "SQLiteInline",
    "compiled_for",
    "listen",
    "unlisten",
]

# Writes made on the event loop's SQLite connection between two passive checkpoints.
CHECKPOINT_EVERY = 500

Processor = Callable[[Any], Any] | None
_REQUIRED = object()  # a parameter the statement gives no value of its own
# SQLite's primary result codes for "another connection holds a lock".
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
S = TypeVar("S", bound=Executable)


class DirectRow:
    """One row read on the raw driver: by position, by column key, or as a mapping."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, index: int) -> Any:
        return self._values[index]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # e.g. copy and pickle probing an unset slot
            raise AttributeError(name)
        try:
            return self._values[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"DirectRow({tuple(self._values)!r})"

    @property
    def _mapping(self) -> Mapping[str, Any]:
        return dict(zip(self._index, self._values, strict=True))


_observers: list[Callable[[str], None]] = []


def listen(observer: Callable[[str], None]) -> None:
    """Report the SQL of every statement run on the raw driver to `observer`."""
    _observers.append(observer)


def unlisten(observer: Callable[[str], None]) -> None:
    """Stop reporting to `observer`."""
    _observers.remove(observer)


def _report(statement: CompiledStatement) -> None:
    for observer in _observers:
        observer(statement.sql)


# A row as `Database.run` returns it: SQLAlchemy's, or one read on the raw driver.
ResultRow = Row[Any] | DirectRow


@dataclass(frozen=True)
class CompiledStatement:
    """A statement as compiled for one dialect and one set of parameter names."""

    sql: str
    compiled: SQLCompiler
    names: tuple[str, ...]  # the parameters, in the order the driver takes them
    binds: tuple[Processor, ...]
    defaults: tuple[Any, ...]  # the statement's own value of each, or `_REQUIRED`
    index: Mapping[str, int]  # the result columns' keys
    results: tuple[Processor, ...]
    returns_rows: bool
    writes: bool  # not a SELECT

    def arguments(self, params: Mapping[str, Any] | None) -> list[Any]:
        """The driver's positional arguments for `params`: each named value, or the
        value the statement itself gives that parameter, through its bind processor."""
        params = params or {}
        out = []
        for name, process, default in zip(
            self.names, self.binds, self.defaults, strict=True
        ):
            if name in params:
                value = params[name]
            elif default is _REQUIRED:
                raise exc.ArgumentError(f"a value is required for parameter {name!r}")
            else:
                value = default
            out.append(value if process is None else process(value))
        return out

    def rows(self, records: Iterable[Sequence[Any]]) -> list[DirectRow]:
        """The driver's rows as `DirectRow`s, each value through its result processor."""
        index, results = self.index, self.results
        out = []
        for record in records:
            values = [
                value if process is None else process(value)
                for value, process in zip(record, results, strict=True)
            ]
            out.append(DirectRow(index, values))
        return out


@dataclass
class Prepared(Generic[S]):
    """A statement built once by its store, for `Database.run` (see the module doc)."""

    statement: S
    # Per set of parameter names: the compiled form, or None (not runnable directly).
    compiled: dict[frozenset[str], CompiledStatement | None] = field(
        default_factory=dict
    )


def compiled_for(
    prepared: Prepared[Any], params: Mapping[str, Any] | None, dialect: Dialect
) -> CompiledStatement | None:
    """`prepared` compiled for `dialect` and these parameter names (cached); `None` when
    only SQLAlchemy's execution can send it as SQLAlchemy would."""
    keys = frozenset(params or ())
    try:
        return prepared.compiled[keys]
    except KeyError:
        pass
    found = _compile(prepared.statement, keys, dialect)
    prepared.compiled[keys] = found
    return found


def _compile(
    statement: Executable, keys: frozenset[str], dialect: Dialect
) -> CompiledStatement | None:
    if not isinstance(statement, Select | Insert | Update | Delete):
        return None  # e.g. text(): its rows' columns are not known before it runs
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        return None
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
    ):
        return None
    names = tuple(compiled.positiontup)
    binds: list[Processor] = []
    defaults: list[Any] = []
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding or bind.callable is not None:
            return None
        binds.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
        defaults.append(_REQUIRED if bind.required else bind.value)
    columns = list(getattr(statement, "exported_columns", ()))
    is_select = bool(statement.is_select)
    returns_rows = bool(columns) and (is_select or bool(compiled.returning))
    if not returns_rows:
        columns = []
    try:
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in columns
        )
    except (exc.SQLAlchemyError, TypeError):
        # A type whose processor depends on the driver's column type (asyncpg's
        # numbers: SQLAlchemy's error message itself fails on `None`): only
        # SQLAlchemy's execution knows it.
        return None
    return CompiledStatement(
        sql=compiled.string,
        compiled=compiled,
        names=names,
        binds=tuple(binds),
        defaults=tuple(defaults),
        index={column.key: i for i, column in enumerate(columns)},
        results=results,
        returns_rows=returns_rows,
        writes=not is_select,
    )


# asyncpg's own errors: the server's (`PostgresError`), and the client's for a connection
# that is closed or in a state it cannot leave.
_ASYNCPG_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


class AsyncpgLane:
    """Prepared statements on the asyncpg connections of the engine's pool, a few of
    them kept between statements (PostgreSQL's side of `Database.run`).

    Taking a connection out of SQLAlchemy's pool and giving it back costs more than
    the statement itself: two trips into SQLAlchemy's greenlet, the pool's queue, its
    reset on return (measured in one process: about 0.1 ms of a board's 0.9). So up
    to `keep` connections stay checked out here between statements, handed to the
    next one directly; the pool counts them as in use. `Database` keeps a quarter of
    its pool here, so its sessions always have the rest (0 keeps none: each statement
    takes a connection and gives it back). `close` gives them back; call it before
    the engine is disposed.

    Each statement is its own transaction (no `BEGIN` is sent). Errors are raised as
    SQLAlchemy raises them (`DBAPIError` and its kinds, parameters hidden). A
    connection that broke, or whose statement was cancelled, is never used again,
    and a broken one takes the kept ones with it: after a restart they are all dead.
    A kept connection found closed (the server ended it while it waited) is dropped
    before it is used. The pool's own work (a checkout, a return, closing a broken
    connection) runs inside SQLAlchemy's greenlet, as when SQLAlchemy executes.
    """

    def __init__(self, engine: AsyncEngine, keep: int) -> None:
        self._engine = engine
        self._keep = keep
        self._idle: list[PoolProxiedConnection] = []

    async def run(
        self, statement: CompiledStatement, arguments: Sequence[Any]
    ) -> list[DirectRow]:
        """Run one statement; its rows (none for a statement without `RETURNING`)."""
        dialect = self._engine.dialect
        pooled = await self._take()
        try:
            if _observers:
                _report(statement)
            driver = pooled.driver_connection
            records = await driver.fetch(statement.sql, *arguments)  # type: ignore[union-attr]
        except _ASYNCPG_ERRORS as error:
            refused_only = isinstance(error, asyncpg.PostgresError) and not (
                driver.is_closed() or database_unavailable(error)  # type: ignore[union-attr]
            )
            if refused_only:  # the server refused the statement only
                await self._give_back(pooled)
            else:
                await asyncio.shield(self._discard_all(pooled))
            raise _wrapped(
                dialect, statement.sql, _translated(dialect.loaded_dbapi, error)
            ) from error
        except BaseException:
            # Cancelled, or the connection broke: never hand it out again.
            await asyncio.shield(greenlet_spawn(_discard, pooled))
            raise
        await self._give_back(pooled)
        return statement.rows(records) if statement.returns_rows else []

    async def close(self) -> None:
        """Give the kept connections back to the pool."""
        kept, self._idle = self._idle, []
        for pooled in kept:
            await greenlet_spawn(pooled.close)

    async def _take(self) -> PoolProxiedConnection:
        while self._idle:
            pooled = self._idle.pop()
            if not pooled.driver_connection.is_closed():  # type: ignore[union-attr]
                return pooled
            await asyncio.shield(greenlet_spawn(_discard, pooled))
        dbapi = self._engine.dialect.loaded_dbapi
        try:
            return await self._engine.raw_connection()
        except dbapi.Error as error:
            raise _wrapped(self._engine.dialect, None, error) from error

    async def _give_back(self, pooled: PoolProxiedConnection) -> None:
        if len(self._idle) < self._keep:
            self._idle.append(pooled)
        else:
            await greenlet_spawn(pooled.close)

    async def _discard_all(self, broken: PoolProxiedConnection) -> None:
        kept, self._idle = self._idle, []
        for pooled in (broken, *kept):
            await greenlet_spawn(_discard, pooled)


def _translated(dbapi: Any, error: Exception) -> Exception:
    """asyncpg's error as the DBAPI error SQLAlchemy's adapter makes of it."""
    mapping = getattr(dbapi, "_asyncpg_error_translate", {})
    for kind in type(error).__mro__:
        if kind in mapping:
            return cast(Exception, mapping[kind](error.args[0], error))
    return cast(Exception, dbapi.Error(error.args[0], error))


def _wrapped(dialect: Dialect, sql: str | None, error: Exception) -> BaseException:
    """A driver's error as SQLAlchemy raises it (`DBAPIError.instance`), parameters
    hidden: they may hold tokens or user input."""
    return exc.DBAPIError.instance(
        sql,
        None,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        dialect=dialect,
    )


def _discard(pooled: PoolProxiedConnection) -> None:
    pooled.invalidate()
    pooled.close()


class SQLiteInline:
    """A SQLite connection for the event loop's own thread that never waits (see the
    module doc). `run` answers `None` where the statement must go the usual way."""

    def __init__(self, path: str, dialect: Dialect) -> None:
        self._path = path
        self._dialect = dialect
        self._connection: sqlite3.Connection | None = None
        self._thread: int | None = None
        self._writes = 0  # since the last checkpoint it asked for

    def run(
        self, statement: CompiledStatement, arguments: Sequence[Any]
    ) -> list[DirectRow] | None:
        connection = self._open()
        if connection is None:
            return None
        try:
            cursor = connection.execute(statement.sql, arguments)
            records = cursor.fetchall()
        except sqlite3.Error as error:
            code = getattr(error, "sqlite_errorcode", None)  # None: raised by Python
            if code is not None and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
                # Another connection holds a lock: the statement did nothing, and the
                # driver's thread runs it, waiting up to `busy_timeout`.
                return None
            # Anything else may have happened after a change was made (a `RETURNING`
            # row that fails to read): never run again, reported as SQLAlchemy would.
            if _observers:
                _report(statement)
            raise _wrapped(self._dialect, statement.sql, error) from error
        if _observers:
            _report(statement)
        if statement.writes:
            self._writes += 1
        return statement.rows(records) if statement.returns_rows else []

    def checkpoint_due(self) -> bool:
        """True once every `CHECKPOINT_EVERY` writes made here (then counts again)."""
        if self._writes < CHECKPOINT_EVERY:
            return False
        self._writes = 0
        return True

    def _open(self) -> sqlite3.Connection | None:
        if self._connection is not None:
            # One thread only: another thread (a second event loop) goes the usual way.
            return self._connection if self._thread == threading.get_ident() else None
        try:
            connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            for pragma in (
                "PRAGMA busy_timeout = 0",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA wal_autocheckpoint = 0",
            ):
                connection.execute(pragma)
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        except sqlite3.Error:
            return None
        if str(mode).lower() != "wal":
            # Not yet in WAL (a new file): a reader could wait for a writer here.
            connection.close()
            return None
        self._connection = connection
        self._thread = threading.get_ident()
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
            self._thread = None
