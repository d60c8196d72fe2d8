"""`miroconnect db upgrade|current`: the packaged Alembic migrations.

Both require `MIROCONNECT_DATABASE_URL` (see `miroconnect.cli.database` for why) and name
the database they touched, password hidden. `current` never creates a SQLite file that is
not there.
"""

from __future__ import annotations

import typer

from miroconnect.cli.database import (
    fail,
    require_database_url,
    run_or_fail,
)
from miroconnect.config import Settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    db = typer.Typer(
        help="The database: migrations.", no_args_is_help=True, rich_markup_mode=None
    )

    @db.command("upgrade")
    def upgrade(
        revision: str = typer.Option(
            "head", metavar="REVISION", help="target revision"
        ),
    ) -> None:
        """Create or upgrade the tables of MIROCONNECT_DATABASE_URL."""
        from miroconnect.storage.db import shown_url, sqlite_file
        from miroconnect.storage.migrate import current_revision
        from miroconnect.storage.migrate import upgrade as run_upgrade

        settings = Settings()
        require_database_url(settings)
        url = settings.database_url
        path = sqlite_file(url)
        if path is not None and not path.parent.is_dir():
            fail(
                f"the folder {path.parent.resolve()} of the database file does not exist"
            )
        keys = settings.encryption_keys.get_secret_value() or None

        async def work() -> str | None:
            await run_upgrade(url, revision, encryption_keys=keys)
            return await current_revision(url)

        at = run_or_fail(settings, work)
        typer.echo(f"database {shown_url(url)} is at revision {at}")

    @db.command("current")
    def current() -> None:
        """Print the revision the database is at."""
        from miroconnect.storage.db import shown_url, sqlite_file
        from miroconnect.storage.migrate import UPGRADE_HINT, current_revision

        settings = Settings()
        require_database_url(settings)
        url = settings.database_url
        shown = shown_url(url)
        path = sqlite_file(url)
        if path is not None and not path.exists():
            typer.echo(f"database {shown}: no such file ({UPGRADE_HINT})")
            return

        async def work() -> str | None:
            return await current_revision(url)

        revision = run_or_fail(settings, work)
        typer.echo(
            f"database {shown} is at revision {revision}"
            if revision
            else f"database {shown} is empty ({UPGRADE_HINT})"
        )

    app.add_typer(db, name="db")
