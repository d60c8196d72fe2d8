"""`miroconnect keys generate|status|rotate`: the encryption keys of stored tokens."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import typer

from miroconnect.config import Settings
from miroconnect.errors import MiroConnectError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="Encryption keys of the token vault.", no_args_is_help=True)

    @keys.command("generate")
    def generate(
        key_id: str = typer.Option(
            "", "--key-id", help="id of the new key (default: k<date><random>)"
        ),
    ) -> None:
        """Print a new `key_id:key` entry: put it FIRST in MIROCONNECT_ENCRYPTION_KEYS."""
        from miroconnect.crypto import generate_key

        kid = key_id or f"k{datetime.now(UTC):%Y%m%d}{secrets.token_hex(2)}"
        try:
            typer.echo(generate_key(kid))
        except MiroConnectError as exc:
            raise typer.BadParameter(str(exc)) from None

    @keys.command("status")
    def status() -> None:
        """How many stored rows each key id encrypts (an old key may go at 0)."""
        from miroconnect.assembly import open_storage
        from miroconnect.storage.rotation import count_by_key

        settings = Settings()

        async def run() -> dict[str, int]:
            storage = open_storage(settings)
            try:
                return dict(await count_by_key(storage.connections))
            finally:
                await storage.aclose()

        try:
            counts = asyncio.run(run())
        except MiroConnectError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        if not counts:
            typer.echo("no stored tokens")
        for kid, count in sorted(counts.items()):
            typer.echo(f"{kid}: {count}")

    @keys.command("rotate")
    def rotate() -> None:
        """Re-encrypt every stored token under the primary (first) key, online."""
        from rich.progress import Progress

        from miroconnect.assembly import open_storage
        from miroconnect.storage.rotation import RotationReport, rotate_keys

        settings = Settings()

        async def run(progress: Progress) -> RotationReport:
            storage = open_storage(settings)
            primary = storage.cipher.primary_key_id
            task = progress.add_task(f"re-encrypting under {primary}", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                return await rotate_keys(storage.connections, progress=advance)
            finally:
                await storage.aclose()

        try:
            with Progress(transient=False) as progress:
                report = asyncio.run(run(progress))
        except MiroConnectError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(
            f"{report.rotated} row(s) re-encrypted under {report.primary_key_id}; "
            "keys other than the primary can now be removed"
        )

    app.add_typer(keys, name="keys")
