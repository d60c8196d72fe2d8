"""Run the packaged Alembic migrations: `await upgrade(database_url)`.

The migrations live inside the package (`miroconnect.storage:migrations`), so an installed
wheel can upgrade its database with `miroconnect db upgrade`, no `alembic.ini` needed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from miroconnect.storage.db import shown_url, sqlite_file
from miroconnect.storage.outage import describe_error

__all__ = [
    "SCRIPT_LOCATION",
    "UPGRADE_HINT",
    "RevisionState",
    "alembic_config",
    "current_revision",
    "downgrade",
    "revision_state",
    "schema_behind",
    "schema_problem",
    "upgrade",
]

SCRIPT_LOCATION = "miroconnect.storage:migrations"
UPGRADE_HINT = "run `miroconnect db upgrade`"


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic `Config` pointing at the packaged migrations (and `database_url`)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if database_url:
        # `%` is Alembic's interpolation character.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade(
    database_url: str, revision: str = "head", *, encryption_keys: str | None = None
) -> None:
    """Upgrade the database at `database_url` to `revision` (default: the newest).

    `encryption_keys` (`MIROCONNECT_ENCRYPTION_KEYS`) is needed by revisions that
    re-encrypt stored tokens (0006), and only when the database holds tokens.
    """
    await _migrate(database_url, command.upgrade, revision, encryption_keys)


async def downgrade(
    database_url: str, revision: str, *, encryption_keys: str | None = None
) -> None:
    """Take the database at `database_url` back to `revision` (for tests and rollbacks
    of a release; each revision's `downgrade` says what it keeps)."""
    await _migrate(database_url, command.downgrade, revision, encryption_keys)


async def _migrate(
    database_url: str,
    step: Callable[[Config, str], None],
    revision: str,
    encryption_keys: str | None,
) -> None:
    config = alembic_config()
    _create_private(sqlite_file(database_url))

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        config.attributes["encryption_keys"] = encryption_keys
        step(config, revision)

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
            if connection.dialect.name == "sqlite":
                # WAL is kept in the file. Switching needs the database to itself, and
                # when several processes open their first connections at once (serve
                # --workers) the switch in `Database` fails with "database is locked"
                # without waiting; done here, alone, it leaves them a no-op.
                await connection.exec_driver_sql("PRAGMA journal_mode = WAL")
    finally:
        await engine.dispose()


def _create_private(path: Path | None) -> None:
    """Make a SQLite database file that does not exist yet readable by its owner only
    (SQLite gives its WAL and shared-memory files the same mode). It holds the tokens,
    encrypted: with the key, anyone who could read the file could read them."""
    if path is None:
        return
    # FileExistsError: made before (its mode is left); FileNotFoundError: its folder is
    # missing, which SQLite reports better.
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


async def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class RevisionState:
    """Where the database is against this version's migrations."""

    current: str | None
    """The database's revision; `None` when it has no tables yet."""
    head: str
    """The newest revision this version knows: what it needs."""
    known: bool
    """`current` is one of this version's revisions (`False`: migrated by a newer one)."""


async def revision_state(database_url: str) -> RevisionState:
    """The database's revision and this version's head (raises the driver's error when
    the database does not answer)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head() or ""  # the packaged migrations have one
    current = await current_revision(database_url)
    known = True
    if current is not None:
        try:
            scripts.get_revision(current)
        except CommandError:
            known = False
    return RevisionState(current=current, head=head, known=known)


async def schema_problem(database_url: str) -> str | None:
    """Why the database is not ready for this version (one line naming it, password
    hidden, and what to do), or `None` when it is at this version's head revision; a
    database that does not answer is one of the reasons. Never creates a SQLite file
    that is not there."""
    try:
        return await schema_behind(database_url)
    except Exception as exc:  # any driver error: say which, without a trace
        return (
            f"the database {shown_url(database_url)} does not answer "
            f"({describe_error(exc)}); check MIROCONNECT_DATABASE_URL"
        )


async def schema_behind(database_url: str) -> str | None:
    """`schema_problem` for a database that answers: raises the driver's error when it
    does not (an outage is not a missing `db upgrade`)."""
    shown = shown_url(database_url)
    path = sqlite_file(database_url)
    if path is not None and not path.exists():
        # Checked first: opening it would create an empty file (or, in a missing folder,
        # leave aiosqlite's thread racing the closed event loop).
        return f"there is no database file at {path.resolve()}: {UPGRADE_HINT}"
    state = await revision_state(database_url)
    if state.current is None:
        return f"the database {shown} has no tables yet: {UPGRADE_HINT}"
    if state.current == state.head:
        return None
    if not state.known:
        return (
            f"the database {shown} is at revision {state.current}, which this version "
            f"does not know (migrated by a newer version?); this version needs "
            f"{state.head}"
        )
    return (
        f"the database {shown} is at revision {state.current}, this version needs "
        f"{state.head}: {UPGRADE_HINT}"
    )
