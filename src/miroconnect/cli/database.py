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
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from miroconnect.config import Settings
from miroconnect.errors import MiroConnectError
from miroconnect.logs import redact

__all__ = [
    "describe_error",
    "fail",
    "require_database_url",
    "run_on_database",
    "run_or_fail",
    "schema_problem",
    "shown_url",
    "sqlite_file",
    "UPGRADE_HINT",
]

T = TypeVar("T")

UPGRADE_HINT = "run `miroconnect db upgrade`"


def shown_url(url: str) -> str:
    """The database URL with its password hidden (never echo one that does not parse:
    it may hold a password)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable database URL)"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; `None` for other databases and `:memory:`."""
    from sqlalchemy.engine import make_url

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


def describe_error(exc: BaseException) -> str:
    """A driver error in one safe line: its type and first line, redacted."""
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    return redact(f"{type(inner).__name__}: {first}" if first else type(inner).__name__)


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


async def schema_problem(database_url: str) -> str | None:
    """Why the database is not ready for this version (one line naming it and what to
    do), or `None` when it is at this version's head revision."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from miroconnect.storage.migrate import alembic_config, current_revision

    shown = shown_url(database_url)
    path = sqlite_file(database_url)
    if path is not None and not path.exists():
        # Checked first: opening it would create an empty file (or, in a missing folder,
        # leave aiosqlite's thread racing the closed event loop).
        return f"there is no database file at {path.resolve()}: {UPGRADE_HINT}"
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    try:
        current = await current_revision(database_url)
    except Exception as exc:  # any driver error: say which, without a trace
        return (
            f"the database {shown} does not answer ({describe_error(exc)}); "
            "check MIROCONNECT_DATABASE_URL"
        )
    if current is None:
        return f"the database {shown} has no tables yet: {UPGRADE_HINT}"
    if current == head:
        return None
    try:
        scripts.get_revision(current)
    except CommandError:
        return (
            f"the database {shown} is at revision {current}, which this version does "
            f"not know (migrated by a newer version?); this version needs {head}"
        )
    return (
        f"the database {shown} is at revision {current}, this version needs "
        f"{head}: {UPGRADE_HINT}"
    )


def run_or_fail(settings: Settings, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`; our errors and database errors become one `error:` line, exit 1."""
    from miroconnect.storage.outage import DATABASE_ERROR_CLASSES

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
    problem = asyncio.run(schema_problem(settings.database_url))
    if problem is not None:
        fail(problem)
    return run_or_fail(settings, work)
