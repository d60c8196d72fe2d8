"""`miroconnect demo`: the reference app against the Miro emulator, on SQLite, offline.

Everything lives in a data folder (default `./data`, which git ignores): the database and
`demo-secrets.json`, the demo's own generated keys (cookie signing, token encryption, the
service API key, the emulated Miro app's credentials), created once with mode 0600 and
reused, so sign-ins and connections survive a restart.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import typer

__all__ = ["DemoSecrets", "register"]

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo account, loopback only
# The name Miro's (the emulator's) consent page shows for the demo's app.
DEMO_APP_NAME = "miroconnect demo"


class DemoSecrets:
    """The demo's generated keys, kept in `<data>/demo-secrets.json`."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    @classmethod
    def load_or_create(cls, path: Path) -> DemoSecrets:
        """Read the file, or create it with fresh keys (mode 0600)."""
        from miroconnect.crypto import generate_key

        if path.exists():
            values: dict[str, Any] = json.loads(path.read_text())
            return cls({str(k): str(v) for k, v in values.items()})
        values = {
            "secret_key": secrets.token_urlsafe(48),
            "encryption_keys": generate_key("demo1"),
            "api_key": "demo-" + secrets.token_urlsafe(24),
            "miro_client_id": str(3458764000000000 + secrets.randbelow(10**9)),
            "miro_client_secret": secrets.token_urlsafe(32),
        }
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(values, file, indent=2)
        return cls(values)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        port: int = typer.Option(
            8000, min=1, max=65535, metavar="PORT", help="port of the app"
        ),
        emulator_port: int | None = typer.Option(
            None,
            min=1,
            max=65535,
            metavar="PORT",
            help="port of the Miro emulator  [default: the app's port + 765]",
            show_default=False,
        ),
        host: str = typer.Option(
            "127.0.0.1", metavar="ADDRESS", help="loopback address to bind"
        ),
        data_dir: Path = typer.Option(  # noqa: B008 - Typer's declaration style
            Path("data"),
            "--data",
            metavar="FOLDER",
            help="folder for the database and demo keys",
        ),
        verbose: bool = typer.Option(
            False, "--verbose", help="log every request and flow step (info level)"
        ),
    ) -> None:
        """Run the reference app with the Miro emulator as Miro (offline, SQLite)."""
        from miroconnect.cli.emulator import is_loopback
        from miroconnect.cli.servers import (
            default_emulator_port,
            in_use_text,
            ports_in_use,
        )
        from miroconnect.logs import configure_logging

        # A terminal a person reads: readable lines, and only warnings unless asked
        # (`serve` keeps JSON for log collectors).
        level = "INFO" if verbose else "WARNING"
        configure_logging(json=False, level=level)

        if not is_loopback(host):
            typer.echo(
                f"Refusing to bind {host}: the demo has a fixed account (demo/demo) "
                "and an emulated Miro anyone signs in to, with no password. Use a loopback address.",
                err=True,
            )
            raise typer.Exit(code=2)
        if emulator_port is None:
            emulator_port = default_emulator_port(port)
        taken = ports_in_use(host, (port, emulator_port))
        if taken:
            typer.echo(
                f"The demo cannot start: {in_use_text(host, taken)}. Choose free ones "
                "with --port (the app) and --emulator-port (the emulator); with make: "
                "DEMO_PORT=... DEMO_EMULATOR_PORT=...",
                err=True,
            )
            raise typer.Exit(code=2)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = DemoSecrets.load_or_create(data_dir / "demo-secrets.json")
        shown = f"[{host}]" if ":" in host else host
        app_url = f"http://{shown}:{port}"
        miro_url = f"http://{shown}:{emulator_port}"
        database_url = f"sqlite+aiosqlite:///{(data_dir / 'demo.db').resolve()}"
        import anyio

        anyio.run(
            _run,
            keys,
            host,
            (port, emulator_port),
            (app_url, miro_url),
            database_url,
            level,
        )


async def _prepare(database_url: str, encryption_keys: str) -> None:
    from miroconnect.errors import UsernameTakenError
    from miroconnect.storage.accounts import SQLAccountStore
    from miroconnect.storage.db import Database
    from miroconnect.storage.migrate import upgrade
    from miroconnect.types import system_clock
    from miroconnect.web.accounts import Accounts

    await upgrade(database_url, encryption_keys=encryption_keys)
    database = Database(database_url)
    try:
        accounts = Accounts(SQLAccountStore(database, system_clock))
        try:
            await accounts.create(DEMO_USER, DEMO_PASSWORD)
        except UsernameTakenError:
            pass  # made by an earlier run
    finally:
        await database.dispose()


async def _run(
    keys: DemoSecrets,
    host: str,
    ports: tuple[int, int],
    urls: tuple[str, str],
    database_url: str,
    log_level: str,
) -> None:
    """Serve the app on `ports[0]` (at `urls[0]`) and the emulator on `ports[1]`."""
    import uvicorn

    from miroconnect.cli.http_head import HTTP_PROTOCOL
    from miroconnect.cli.servers import serve_together
    from miroconnect.config import Settings
    from miroconnect.emulator import EmulatorClient, create_emulator
    from miroconnect.logs import uvicorn_log_config
    from miroconnect.web import create_app

    (port, emulator_port), (app_url, miro_url) = ports, urls
    await _prepare(database_url, keys.values["encryption_keys"])
    values = keys.values
    redirect_uri = f"{app_url}/connect/callback"
    settings = Settings(
        database_url=database_url,
        miro_client_id=values["miro_client_id"],
        miro_client_secret=values["miro_client_secret"],
        miro_redirect_uri=redirect_uri,
        miro_auth_url=f"{miro_url}/oauth/authorize",
        miro_api_url=miro_url,
        encryption_keys=values["encryption_keys"],
        secret_key=values["secret_key"],
        api_keys=values["api_key"],
        allowed_return_urls=[app_url],
    )
    emulator = create_emulator(
        clients=[
            EmulatorClient(
                values["miro_client_id"],
                values["miro_client_secret"],
                (redirect_uri,),
                name=DEMO_APP_NAME,
            )
        ]
    )
    # uvicorn logs through our handler: the same readable lines as the app's events.
    log_config = uvicorn_log_config(log_level)
    emulator_config = uvicorn.Config(
        emulator,
        host=host,
        port=emulator_port,
        http=HTTP_PROTOCOL,
        log_config=log_config,
    )
    app_config = uvicorn.Config(
        create_app(settings, reference_app=True),
        host=host,
        port=port,
        http=HTTP_PROTOCOL,
        log_config=log_config,
        access_log=False,
    )
    typer.echo(
        "\nmiroconnect demo\n"
        f"  App:       {app_url}/  (sign in as {DEMO_USER} / {DEMO_PASSWORD})\n"
        f"  Miro:      {miro_url}/  (the Miro emulator)\n"
        f"  API:       {app_url}/docs  (key in the data folder's demo-secrets.json)\n"
        "Press Ctrl+C to stop.\n"
    )
    await serve_together(emulator=emulator_config, app=app_config)
