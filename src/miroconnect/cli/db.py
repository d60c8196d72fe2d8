"""`miroconnect db upgrade|current`: the packaged Alembic migrations."""

from __future__ import annotations

import asyncio

import typer

from miroconnect.config import Settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="The database: migrations.", no_args_is_help=True)

    @db.command("upgrade")
    def upgrade(
        revision: str = typer.Option("head", help="target revision"),
    ) -> None:
        """Create or upgrade the tables of MIROCONNECT_DATABASE_URL."""
        from miroconnect.storage.migrate import current_revision
        from miroconnect.storage.migrate import upgrade as run_upgrade

        settings = Settings()
        url = settings.database_url
        keys = settings.encryption_keys.get_secret_value() or None
        asyncio.run(run_upgrade(url, revision, encryption_keys=keys))
        typer.echo(f"database at revision {asyncio.run(current_revision(url))}")

    @db.command("current")
    def current() -> None:
        """Print the revision the database is at."""
        from miroconnect.storage.migrate import current_revision

        revision = asyncio.run(current_revision(Settings().database_url))
        typer.echo(revision or "empty (run `miroconnect db upgrade`)")

    app.add_typer(db, name="db")
