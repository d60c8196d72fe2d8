"""RFC 9457 problem details: every error of the service API has this JSON shape.

```json
{"type": "about:blank", "title": "Unauthorized", "status": 401,
 "detail": "send Authorization: Bearer <key>"}
```

served as `application/problem+json`.

When the database cannot be reached (a PostgreSQL restart or failover, a SQLite file that
cannot be opened), the answer is a 503 with `Retry-After` instead of a 500:

```json
{"type": "urn:miroconnect:problem:database-unavailable", "title": "Database unavailable",
 "status": 503, "detail": "...", "reason": "database_unavailable"}
```

`database_unavailable(exc)` decides which errors those are: only the driver's and the
pool's connection-level failures, so a bug in a query still answers 500.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterator
from http import HTTPStatus
from types import TracebackType
from typing import Any

import asyncpg
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.responses import JSONResponse

__all__ = [
    "DATABASE_RETRY_AFTER",
    "DATABASE_UNAVAILABLE_TITLE",
    "DATABASE_UNAVAILABLE_TYPE",
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "ProblemError",
    "database_unavailable",
    "database_unavailable_error",
    "database_unavailable_response",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
DATABASE_UNAVAILABLE_TYPE = "urn:miroconnect:problem:database-unavailable"
DATABASE_UNAVAILABLE_TITLE = "Database unavailable"
# Seconds a client should wait: a PostgreSQL restart or failover takes a few.
DATABASE_RETRY_AFTER = 5


class Problem(BaseModel):
    """A problem details object (RFC 9457)."""

    type: str = Field(
        "about:blank",
        description="A URI reference naming the kind: `about:blank` (see `reason`), or "
        f"`{DATABASE_UNAVAILABLE_TYPE}` (503, retry after `Retry-After` seconds).",
    )
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What happened, for this occurrence.")
    reason: str | None = Field(
        None, description="A stable machine-readable code, e.g. `invalid_return_url`."
    )
    errors: list[dict[str, Any]] | None = Field(
        None, description="For 422: each invalid field and why."
    )


class ProblemError(Exception):
    """Raised by API handlers to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        type: str = "about:blank",
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.headers = headers
        self.type = type
        self.title = title


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    reason: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    type: str = "about:blank",
    title: str | None = None,
) -> JSONResponse:
    """A `application/problem+json` response.

    `title` defaults to the status phrase, as RFC 9457 asks for `about:blank`; a `type` of
    our own comes with a title of its own.
    """
    problem = Problem(
        type=type,
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        reason=reason,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def database_unavailable_error() -> ProblemError:
    """The 503 for a database that does not answer, with `Retry-After`, to raise."""
    return ProblemError(
        503,
        "the database does not answer right now; retry after a few seconds "
        "(with the same Idempotency-Key)",
        reason="database_unavailable",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
        type=DATABASE_UNAVAILABLE_TYPE,
        title=DATABASE_UNAVAILABLE_TITLE,
    )


def database_unavailable_response() -> JSONResponse:
    """`database_unavailable_error()` as a response."""
    error = database_unavailable_error()
    return problem_response(
        error.status,
        error.detail,
        reason=error.reason,
        headers=error.headers,
        type=error.type,
        title=error.title,
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
