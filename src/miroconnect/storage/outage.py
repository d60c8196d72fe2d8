"""Which errors mean "the database cannot be reached right now", not "a bug".

A PostgreSQL restart or failover, a server out of connections, a SQLite file that cannot
be opened: the web layer answers those `503` with `Retry-After` (and the operation, the
flow or the refresh stays open to be retried), and everything else stays a `500`. Only
this module knows how the drivers (asyncpg, aiosqlite) and SQLAlchemy's pool report them.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterator
from types import TracebackType

import asyncpg
from sqlalchemy.exc import DBAPIError

from miroconnect.logs import redact

__all__ = ["DATABASE_ERROR_CLASSES", "database_unavailable", "describe_error"]

# Classes a connection-level database failure arrives as: SQLAlchemy's wrapper, asyncpg's
# own errors (raw where SQLAlchemy does not translate them), and the OSError asyncpg raises
# when the server refuses the connection. `database_unavailable` picks the right ones.
DATABASE_ERROR_CLASSES: tuple[type[Exception], ...] = (
    DBAPIError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

# asyncpg errors that mean the server is going, gone or refusing connections: class 08
# (connection exceptions, e.g. "connection was closed in the middle of operation"),
# 57P01-57P03 (terminated by an administrator or a crash, "the database system is shutting
# down" / "starting up"), 53300 (too many connections).
_ASYNCPG_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
# asyncpg's own errors for a connection that is already closed. Not "another operation is
# in progress" (`InterfaceError` too): that is two tasks sharing a connection, our bug.
_ASYNCPG_CLOSED = re.compile(r"^(cannot perform operation: )?connection is closed$")
# asyncpg's protocol refusing a new query because the server broke the connection off:
# protocol state 1 (failed), 2 (consuming an error the server sent, e.g. the FATAL 57P01
# an idle pooled connection gets when PostgreSQL shuts down) or 4 (terminating).
_ASYNCPG_BROKEN = re.compile(
    r'^cannot switch to state \d+; (protocol is in the "failed" state'
    r"|another operation \([124]\) is in progress)$"
)
# SQLite: the file (or its folder, or the disk) cannot be used at all.
_SQLITE_UNAVAILABLE = ("unable to open database file", "disk I/O error")
# Modules whose OSErrors are the database's: asyncpg raises a bare ConnectionRefusedError
# (or TimeoutError, gaierror) from `connect`, and SQLAlchemy's pool lets it through.
_DRIVER_MODULES = ("asyncpg", "sqlalchemy", "aiosqlite")
# Where such an OSError starts, below the driver: the event loop and the sockets (asyncio,
# or uvloop, which uvicorn runs when installed: its frames are `uvloop/loop.pyx`).
_IO_MODULES = frozenset(sys.stdlib_module_names) | {"uvloop"}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, SQLAlchemy's `orig`, and the members of exception
    groups, once each."""
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < 64:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        # SQLAlchemy keeps the driver's error in `orig` (and usually as the cause too).
        orig = getattr(current, "orig", None)
        for linked in (current.__cause__, current.__context__, orig):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _raised_in_driver(traceback: TracebackType | None) -> bool:
    """Whether the innermost frame outside the event loop and the standard library is the
    driver's or the pool's: the OSError came from connecting to the database, not from our
    code that SQLAlchemy happened to call."""
    raiser = ""
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.split(".")[0] not in _IO_MODULES:
            raiser = module
        traceback = traceback.tb_next
    return raiser.split(".")[0] in _DRIVER_MODULES


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database cannot be reached right now.

    True for connection-level failures only: connection refused or reset, a server
    shutting down, restarting or out of connections, a pooled connection the server
    closed (SQLAlchemy's `connection_invalidated`), a SQLite file that cannot be opened.
    False for everything else, e.g. a missing table, a constraint violation, a syntax error
    or two tasks on one connection: those are bugs and stay 500s.
    """
    for error in _chain(exc):
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, _ASYNCPG_CONNECTION_ERRORS):
            return True
        message = str(error)
        if isinstance(error, asyncpg.InterfaceError) and _ASYNCPG_CLOSED.match(message):
            return True
        if isinstance(error, asyncpg.InternalClientError) and _ASYNCPG_BROKEN.match(
            message
        ):
            return True
        if isinstance(error, sqlite3.OperationalError) and message in (
            _SQLITE_UNAVAILABLE
        ):
            return True
        if isinstance(error, OSError) and _raised_in_driver(error.__traceback__):
            return True
    return False


def describe_error(exc: BaseException) -> str:
    """A driver error in one safe line: its type and first line, redacted."""
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    return redact(f"{type(inner).__name__}: {first}" if first else type(inner).__name__)
