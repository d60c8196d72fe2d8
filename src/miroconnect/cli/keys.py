"""`miroconnect keys generate|status|rotate`: the encryption keys of stored tokens.

`rotate` first checks that the configured keys open what is stored: a key id that is
configured with other key bytes than the rows were sealed with would otherwise rotate
nothing ("0 re-encrypted") and look like success, while the rows stay unreadable.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from miroconnect.cli.database import fail, run_on_database
from miroconnect.config import Settings
from miroconnect.errors import MiroConnectError

if TYPE_CHECKING:
    from miroconnect.storage.repository import SQLStore

__all__ = ["register", "stored_key_problems"]


async def stored_key_problems(
    store: SQLStore,
) -> tuple[Mapping[str, int], list[str]]:
    """Rows per key id, and what is wrong with the configured keys: a key id on stored
    rows that is not configured, or configured with key bytes that do not open one of
    its connections (sampled)."""
    from miroconnect.errors import CryptoError
    from miroconnect.storage.rotation import count_by_key, one_connection_under

    counts = dict(await count_by_key(store))
    configured = store.cipher.key_ids
    problems: list[str] = []
    for key_id in sorted(counts):
        if key_id not in configured:
            problems.append(
                f"{counts[key_id]} row(s) under key {key_id!r}, which is not "
                "configured: add it back to MIROCONNECT_ENCRYPTION_KEYS"
            )
            continue
        sample = await one_connection_under(store, key_id)
        if sample is None:
            continue
        try:
            await store.load_tokens(sample)
        except CryptoError:
            problems.append(
                f"key {key_id!r} does not open its rows: wrong key material for that id"
            )
    return counts, problems


def register(app: typer.Typer) -> None:
    keys = typer.Typer(
        help="Encryption keys of the token vault.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )

    @keys.command("generate")
    def generate(
        key_id: str = typer.Option(
            "",
            "--key-id",
            metavar="ID",
            help="id of the new key (default: k<date><random>)",
            show_default=False,
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
        """How many stored rows each key id encrypts (an old key may go at 0); exits 1
        naming a key id that is on stored rows but not configured, or does not open them."""
        from miroconnect.assembly import open_storage

        settings = Settings()

        async def run() -> tuple[dict[str, int], list[str], tuple[str, ...]]:
            storage = open_storage(settings)
            try:
                counts, problems = await stored_key_problems(storage.connections)
                return dict(counts), problems, storage.connections.cipher.key_ids
            finally:
                await storage.aclose()

        counts, problems, configured = run_on_database(settings, run)
        for kid in configured:
            counts.setdefault(kid, 0)
        if not any(counts.values()):
            typer.echo("no stored tokens")
        for kid, count in sorted(counts.items()):
            typer.echo(f"{kid}: {count}")
        if problems:
            fail("; ".join(problems))

    @keys.command("rotate")
    def rotate() -> None:
        """Re-encrypt every stored token under the primary (first) key, online.

        Refuses to start when a configured key does not open the rows stored under its
        id (the same key id with other key bytes): rotating would change nothing.
        """
        from rich.progress import Progress

        from miroconnect.assembly import open_storage
        from miroconnect.storage.rotation import RotationReport, rotate_keys

        settings = Settings()

        async def check() -> list[str]:
            storage = open_storage(settings)
            try:
                return (await stored_key_problems(storage.connections))[1]
            finally:
                await storage.aclose()

        problems = run_on_database(settings, check)
        if problems:
            fail(
                "nothing rotated: "
                + "; ".join(problems)
                + " (MIROCONNECT_ENCRYPTION_KEYS must keep every key that sealed "
                "stored rows, with its original bytes, until `keys status` shows 0 "
                "rows under it)"
            )

        with Progress(transient=False) as progress:

            async def run() -> RotationReport:
                storage = open_storage(settings)
                primary = storage.cipher.primary_key_id
                task = progress.add_task(f"re-encrypting under {primary}", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                try:
                    return await rotate_keys(storage.connections, progress=advance)
                finally:
                    await storage.aclose()

            report = run_on_database(settings, run)
        typer.echo(
            f"{report.rotated} row(s) re-encrypted under {report.primary_key_id}; "
            "keys other than the primary can now be removed"
        )

    app.add_typer(keys, name="keys")
