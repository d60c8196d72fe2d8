"""`miroconnect webhooks list|retry|secret`: the events for the host app, for operators.

`list` shows the newest events and how many there are per status (never a payload: it
names users and boards, and the table stays readable); `retry ID` sends a pending or dead
event again now, with a new retry schedule; `secret` makes a signing secret for
`MIROCONNECT_WEBHOOK_SECRET`. `list` and `retry` need `MIROCONNECT_DATABASE_URL` and
`MIROCONNECT_ENCRYPTION_KEYS`, like the other operator commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from rich.table import Table

from miroconnect.cli.database import fail, run_on_database
from miroconnect.cli.output import console, plain, when
from miroconnect.config import Settings
from miroconnect.storage.outbox import EVENT_STATUSES, EventStatus, OutboxEvent
from miroconnect.types import Clock, system_clock
from miroconnect.webhooks.sender import new_webhook_secret

__all__ = ["register"]

_NOT_QUEUED = {
    "delivered": "was already delivered",
    "sending": "is being sent right now",
}


def _table(events: Sequence[OutboxEvent]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    for column in ("id", "type", "status", "attempts", "created", "next", "last error"):
        table.add_column(column, no_wrap=column in ("id", "created", "next"))
    for e in events:
        table.add_row(
            plain(e.id),
            plain(e.type),
            plain(e.status),
            str(e.attempts),
            when(e.created_at),
            when(e.next_attempt_at) if e.status in ("pending", "sending") else "-",
            plain(e.last_error or "-"),  # the receiver's answer: any text
        )
    return table


def register(app: typer.Typer, *, clock: Clock = system_clock) -> None:
    """Add the `webhooks` group."""
    webhooks = typer.Typer(
        help="Webhook events for the host app (MIROCONNECT_WEBHOOK_URL).",
        no_args_is_help=True,
        rich_markup_mode=None,
    )

    @webhooks.command("list")
    def list_(
        status: Annotated[
            EventStatus | None,
            typer.Option("--status", case_sensitive=False, help="only this status"),
        ] = None,
        limit: int = typer.Option(
            50, min=1, max=10_000, metavar="N", help="at most this many"
        ),
    ) -> None:
        """The newest events, and how many there are per status."""
        from miroconnect.assembly import open_storage

        settings = Settings()

        async def work() -> tuple[list[OutboxEvent], dict[str, int]]:
            storage = open_storage(settings)
            try:
                return await storage.webhook_queue.list_events(
                    status=None if status is None else str(status), limit=limit
                )
            finally:
                await storage.aclose()

        found, counts = run_on_database(settings, work)
        out = console()
        if found:
            out.print(_table(found))
        else:
            typer.echo("no events")
        typer.echo(
            ", ".join(f"{name} {counts.get(name, 0)}" for name in EVENT_STATUSES)
        )

    @webhooks.command("retry")
    def retry(
        event_id: str = typer.Argument(
            ..., metavar="EVENT_ID", help="the event id (msg_...)"
        ),
    ) -> None:
        """Send a pending or dead event again now, with a new retry schedule."""
        from miroconnect.assembly import open_storage

        settings = Settings()

        async def work() -> str:
            storage = open_storage(settings)
            try:
                return await storage.webhook_queue.retry(event_id, now=clock())
            finally:
                await storage.aclose()

        outcome = run_on_database(settings, work)
        if outcome == "queued":
            typer.echo(f"{event_id} will be sent again now")
            return
        if outcome == "unknown":
            fail(f"no event {event_id}")
        fail(f"{event_id} {_NOT_QUEUED[outcome]}")

    @webhooks.command("secret")
    def secret() -> None:
        """Print a new signing secret for MIROCONNECT_WEBHOOK_SECRET."""
        typer.echo(new_webhook_secret())

    app.add_typer(webhooks, name="webhooks")
