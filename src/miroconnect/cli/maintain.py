"""`miroconnect maintain`: keep refresh tokens alive and forget expired flows."""

from __future__ import annotations

import asyncio

import typer

from miroconnect.config import Settings
from miroconnect.errors import MiroConnectError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("maintain")
    def maintain() -> None:
        """Refresh connections near Miro's 60-day refresh-token end (run it daily)."""
        from miroconnect.oauth.vault import MaintenanceReport
        from miroconnect.storage.factory import open_vault

        async def run() -> MaintenanceReport:
            stack = open_vault(Settings())
            try:
                return await stack.vault.maintain()
            finally:
                await stack.aclose()

        try:
            report = asyncio.run(run())
        except MiroConnectError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        if not report.ran:
            typer.echo("another process is running the maintenance job; nothing done")
            return
        typer.echo(
            f"refreshed {report.refreshed}, needs_reauth {report.needs_reauth}, "
            f"failed {report.failed}, expired flows deleted {report.pending_deleted}"
        )
        if report.failed:
            raise typer.Exit(1)
