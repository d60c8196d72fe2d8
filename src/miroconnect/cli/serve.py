"""`miroconnect serve`: the service (REST API + connect routes) for apps in any language."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="address to bind"),
        port: int = typer.Option(8000, min=1, max=65535, help="port to listen on"),
        workers: int = typer.Option(1, min=1, help="worker processes"),
        forwarded_allow_ips: str = typer.Option(
            "127.0.0.1",
            help="proxies trusted for X-Forwarded-Proto/For (comma-separated, or *)",
        ),
    ) -> None:
        """Serve the miroconnect service; settings come from MIROCONNECT_* variables.

        Run `miroconnect db upgrade` first. Behind a TLS-terminating proxy, list it in
        --forwarded-allow-ips so cookies get `Secure`.
        """
        import asyncio

        import uvicorn

        from miroconnect.config import Settings
        from miroconnect.web.checks import settings_problems

        settings = Settings()
        problems = settings_problems(settings)
        if problems:
            typer.echo("miroconnect serve cannot start:", err=True)
            for problem in problems:
                typer.echo(f"  - {problem}", err=True)
            raise typer.Exit(code=2)
        behind = asyncio.run(_migrations_behind(settings.database_url))
        if behind is not None:
            typer.echo(f"miroconnect serve cannot start: {behind}", err=True)
            raise typer.Exit(code=2)
        typer.echo(f"miroconnect service on http://{host}:{port}/ (docs: /docs)")
        uvicorn.run(
            "miroconnect.web.app:create_service_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            log_level="info",
            # The app logs one `http.request` event per request, by route template.
            # uvicorn's access log would write the raw URL: Miro's callback carries the
            # one-time code and state in its query.
            access_log=False,
        )


async def _migrations_behind(database_url: str) -> str | None:
    """Why the database is not ready for this version, or `None` when it is."""
    from alembic.script import ScriptDirectory

    from miroconnect.storage.migrate import alembic_config, current_revision

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    try:
        current = await current_revision(database_url)
    except Exception as exc:  # any driver error: say so, without a trace
        return f"the database does not answer ({type(exc).__name__}); check MIROCONNECT_DATABASE_URL"
    if current != head:
        return (
            f"the database is at revision {current or 'none'}, this version needs "
            f"{head}: run `miroconnect db upgrade`"
        )
    return None
