"""What the commands that open the database share: each names the database it touches
(password hidden), checks that it has this version's tables before using them, and says
what went wrong in one line with exit code 1, never with a driver's traceback.

Every one of them requires `MIROCONNECT_DATABASE_URL`, as `serve` always has: the library's
default (`./miroconnect.db` in the working directory) is a database the service would
refuse to use, so `db upgrade` quietly creating it there only hid the missing setting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import typer

from miroconnect.config import Settings
from miroconnect.errors import MiroConnectError

__all__ = [
    "fail",
    "require_database_url",
    "run_on_database",
    "run_or_fail",
]

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """Print `error: <message>` on stderr and exit with code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def require_database_url(settings: Settings) -> None:
    """Exit with one line when `MIROCONNECT_DATABASE_URL` is not set."""
    if settings.database_url_is_default:
        fail(
            "MIROCONNECT_DATABASE_URL is not set: name the database, e.g. "
            "sqlite:///./miroconnect.db or postgresql://user:password@host/miroconnect "
            "(`miroconnect serve` needs the same setting)"
        )


def run_or_fail(settings: Settings, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`; our errors and database errors become one `error:` line, exit 1."""
    from miroconnect.storage.db import shown_url
    from miroconnect.storage.outage import DATABASE_ERROR_CLASSES, describe_error

    try:
        return asyncio.run(work())
    except MiroConnectError as exc:
        fail(str(exc))
    except DATABASE_ERROR_CLASSES as exc:
        fail(
            f"the database {shown_url(settings.database_url)} failed: "
            f"{describe_error(exc)}"
        )


def run_on_database(
    settings: Settings, work: Callable[[], Coroutine[Any, Any, T]]
) -> T:
    """`run_or_fail(work)` once the database is known to be ready; else one line that
    says what to do (`miroconnect db upgrade`), exit 1."""
    require_database_url(settings)
    from miroconnect.storage.migrate import schema_problem

    problem = asyncio.run(schema_problem(settings.database_url))
    if problem is not None:
        fail(problem)
    return run_or_fail(settings, work)
