"""`miroconnect maintain`: keep refresh tokens alive, forget expired flows, and delete
webhook events delivered more than `--webhook-days` days ago."""

from __future__ import annotations

from datetime import timedelta

import typer

from miroconnect.cli.database import run_on_database
from miroconnect.config import Settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("maintain")
    def maintain(
        webhook_days: int = typer.Option(
            7,
            min=0,
            metavar="DAYS",
            help="delete webhook events delivered more than this many days ago",
        ),
    ) -> None:
        """Refresh connections near Miro's 60-day refresh-token end, revoke service-mode
        consents nobody confirmed, delete old delivered webhook events (run it every few
        minutes, or at least daily)."""
        from miroconnect.assembly import build_stack
        from miroconnect.oauth.consents import close_stale_consents
        from miroconnect.oauth.vault import MaintenanceReport

        settings = Settings()

        async def run() -> tuple[MaintenanceReport, int, int]:
            stack = build_stack(settings)
            storage = stack.storage
            try:
                report = await stack.vault.maintain()
                closed = await close_stale_consents(
                    storage.consents, stack.miro, clock=stack.clock
                )
                now = stack.clock()
                await storage.consents.delete_old_consents(
                    before=now - timedelta(days=1)
                )
                # The reference app's ended sessions and old sign-in counters.
                await storage.sessions.end_expired(now=now)
                await storage.throttle.forget_before(
                    seconds_ago=timedelta(days=1).total_seconds()
                )
                delivered = await storage.webhook_queue.delete_delivered(
                    before=now - timedelta(days=webhook_days)
                )
                return report, closed, delivered
            finally:
                await stack.aclose()

        report, closed, delivered = run_on_database(settings, run)
        if not report.ran:
            typer.echo(
                "another process is refreshing connections; "
                f"unconfirmed consents revoked {closed}, "
                f"delivered webhook events deleted {delivered}"
            )
            return
        typer.echo(
            f"refreshed {report.refreshed}, needs_reauth {report.needs_reauth}, "
            f"failed {report.failed}, expired flows deleted {report.pending_deleted}, "
            f"unconfirmed consents revoked {closed}, "
            f"delivered webhook events deleted {delivered}"
        )
        if report.failed:
            raise typer.Exit(1)
