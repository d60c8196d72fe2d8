"""`miroconnect connections list|show|disconnect`: the vault's connections, for operators.

Nothing here prints a token: the commands read `Connection` values, which carry none.
`list` and `show` need `MIROCONNECT_DATABASE_URL` and `MIROCONNECT_ENCRYPTION_KEYS`;
`disconnect` also the `MIROCONNECT_MIRO_*` settings, because it revokes at Miro. `show`
takes a connection id or an app user id (the two columns `list` prints first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import httpx2
import typer
from rich.table import Table

from miroconnect.cli.database import run_on_database
from miroconnect.cli.output import console, plain, when
from miroconnect.config import Settings
from miroconnect.logs import printable
from miroconnect.oauth.tokens import Connection, ConnectionStatus
from miroconnect.types import Clock, system_clock

__all__ = ["register"]


def _table(connections: Sequence[Connection]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    for column in (
        "id",
        "app user",
        "Miro user",
        "Miro team",
        "status",
        "key",
        "updated",
    ):
        table.add_column(column, no_wrap=column in ("id", "key", "updated"))
    for c in connections:
        status = c.status.value
        if c.status_reason:
            status += f" ({c.status_reason})"
        # Names are chosen by the users themselves: shown as text, never as markup.
        table.add_row(
            plain(c.id),
            plain(c.app_user_id),
            plain(c.miro_user_name or c.miro_user_id),
            plain(c.miro_team_name or c.miro_team_id),
            plain(status),
            plain(c.key_id or "-"),
            when(c.updated_at),
        )
    return table


def _details(c: Connection) -> list[tuple[str, str]]:
    return [
        ("id", c.id),
        ("app user", c.app_user_id),
        ("Miro user", f"{c.miro_user_id} ({c.miro_user_name or '?'})"),
        ("Miro team", f"{c.miro_team_id} ({c.miro_team_name or '?'})"),
        ("status", c.status.value),
        ("reason", c.status_reason or "-"),
        ("scopes", " ".join(c.scopes) or "-"),
        ("key id", c.key_id or "- (no tokens stored)"),
        ("access token expires", when(c.access_expires_at)),
        ("refresh token issued", when(c.refresh_issued_at)),
        ("connected", when(c.connected_at)),
        ("created", when(c.created_at)),
        ("updated", when(c.updated_at)),
    ]


def register(
    app: typer.Typer,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    clock: Clock = system_clock,
) -> None:
    """Add the `connections` group; `transport` reaches Miro (tests pass the emulator)."""
    connections = typer.Typer(
        help="The connections in the vault (never their tokens).",
        no_args_is_help=True,
        rich_markup_mode=None,
    )

    @connections.command("list")
    def list_(
        user: str | None = typer.Option(
            None, "--user", metavar="APP_USER_ID", help="only this app user"
        ),
        status: Annotated[
            ConnectionStatus | None,
            typer.Option("--status", case_sensitive=False, help="only this status"),
        ] = None,
        limit: int = typer.Option(
            100, min=1, max=10_000, metavar="N", help="at most this many"
        ),
    ) -> None:
        """Connections, most recently updated first."""
        from miroconnect.assembly import open_storage

        settings = Settings()

        async def work() -> tuple[Sequence[Connection], int]:
            storage = open_storage(settings)
            try:
                return await storage.connections.list_connections(
                    app_user_id=user, status=status, limit=limit
                )
            finally:
                await storage.aclose()

        found, total = run_on_database(settings, work)
        if not found:
            typer.echo("no connections")
            return
        out = console()
        out.print(_table(found))
        shown = f"{len(found)} of {total}" if total > len(found) else str(total)
        out.print(f"{shown} connection(s)")

    @connections.command("show")
    def show(
        id_or_user: str = typer.Argument(
            ...,
            metavar="ID",
            help="a connection id, or an app user id (shows each of its connections)",
        ),
    ) -> None:
        """One connection: who, which team, status and key (no tokens)."""
        from miroconnect.assembly import open_storage
        from miroconnect.errors import NotConnectedError

        settings = Settings()

        async def work() -> Sequence[Connection]:
            storage = open_storage(settings)
            try:
                found = await storage.connections.get_connection(id_or_user)
                if found is not None:
                    return [found]
                of_user, _ = await storage.connections.list_connections(
                    app_user_id=id_or_user, status=None, limit=100
                )
            finally:
                await storage.aclose()
            if not of_user:
                raise NotConnectedError(
                    f"no connection has the id {id_or_user}, and no app user with that "
                    "id has one (`miroconnect connections list` shows both ids)"
                )
            return of_user

        for number, c in enumerate(run_on_database(settings, work)):
            if number:
                typer.echo("")
            rows = _details(c)
            width = max(len(name) for name, _ in rows)
            for name, value in rows:
                typer.echo(f"{name:<{width}}  {printable(value)}")

    @connections.command("disconnect")
    def disconnect(
        connection_id: str = typer.Argument(
            ..., metavar="CONNECTION_ID", help="the connection id"
        ),
        yes: bool = typer.Option(False, "--yes", "-y", help="do not ask to confirm"),
    ) -> None:
        """Revoke the connection at Miro and delete its tokens here.

        The tokens are deleted even when Miro cannot be reached; the output says whether
        Miro confirmed the revocation.
        """
        from miroconnect.assembly import build_stack
        from miroconnect.oauth.vault import DisconnectResult

        settings = Settings()
        if not yes:
            typer.confirm(
                f"Disconnect {connection_id} (revoke at Miro, delete its tokens)?",
                abort=True,
            )

        async def work() -> DisconnectResult:
            stack = build_stack(settings, miro_transport=transport, clock=clock)
            try:
                return await stack.vault.disconnect(connection_id=connection_id)
            finally:
                await stack.aclose()

        result = run_on_database(settings, work)
        if result.revoked_at_miro:
            typer.echo(
                f"disconnected {connection_id}: Miro confirmed the revocation; "
                "tokens deleted"
            )
        else:
            typer.echo(
                f"disconnected {connection_id}: tokens deleted, but Miro did NOT confirm "
                "the revocation (unreachable or refused); the user can also remove the "
                "app in Miro's settings"
            )

    app.add_typer(connections, name="connections")
