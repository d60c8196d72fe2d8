"""`miroconnect demo`: the reference app against the Miro emulator, on SQLite, offline.

Everything lives in a data folder (default `./data`, which git ignores): the database and
`demo-secrets.json`, the demo's own generated keys (cookie signing, token encryption, the
service API key, the emulated Miro app's credentials), created once with mode 0600 and
reused, so sign-ins and connections survive a restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

__all__ = ["DemoSecrets", "register"]

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo account, loopback only


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
        port: int = typer.Option(8000, min=1, max=65535, help="port of the app"),
        emulator_port: int = typer.Option(
            0, help="port of the Miro emulator (default: port + 765)"
        ),
        host: str = typer.Option("127.0.0.1", help="loopback address to bind"),
        data_dir: Path = typer.Option(  # noqa: B008 - Typer's declaration style
            Path("data"), "--data", help="folder for the database and demo keys"
        ),
        verbose: bool = typer.Option(
            False, "--verbose", help="log every request and flow step (info level)"
        ),
    ) -> None:
        """Run the reference app with the Miro emulator as Miro (offline, SQLite)."""
        from miroconnect.cli.emulator import is_loopback
        from miroconnect.logs import configure_logging

        # A terminal a person reads: readable lines, and only warnings unless asked
        # (`serve` keeps JSON for log collectors).
        configure_logging(json=False, level="INFO" if verbose else "WARNING")

        if not is_loopback(host):
            typer.echo(
                f"Refusing to bind {host}: the demo has a fixed account (demo/demo) "
                "and an emulated Miro that approves anyone. Use a loopback address.",
                err=True,
            )
            raise typer.Exit(code=2)
        emulator_port = emulator_port or port + 765
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = DemoSecrets.load_or_create(data_dir / "demo-secrets.json")
        shown = f"[{host}]" if ":" in host else host
        app_url = f"http://{shown}:{port}"
        miro_url = f"http://{shown}:{emulator_port}"
        database_url = f"sqlite+aiosqlite:///{(data_dir / 'demo.db').resolve()}"
        import anyio

        anyio.run(
            _run, keys, host, port, emulator_port, app_url, miro_url, database_url
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
    port: int,
    emulator_port: int,
    app_url: str,
    miro_url: str,
    database_url: str,
) -> None:
    import anyio
    import uvicorn

    from miroconnect.config import Settings
    from miroconnect.emulator import EmulatorClient, create_emulator
    from miroconnect.web import create_app

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
                values["miro_client_id"], values["miro_client_secret"], (redirect_uri,)
            )
        ]
    )
    servers = [
        _Server(
            uvicorn.Config(emulator, host=host, port=emulator_port, log_level="warning")
        ),
        _Server(
            uvicorn.Config(
                create_app(settings, reference_app=True),
                host=host,
                port=port,
                log_level="warning",
            )
        ),
    ]
    typer.echo(
        "\nmiroconnect demo\n"
        f"  App:       {app_url}/  (sign in as {DEMO_USER} / {DEMO_PASSWORD})\n"
        f"  Miro:      {miro_url}/  (the Miro emulator)\n"
        f"  API:       {app_url}/docs  (key in the data folder's demo-secrets.json)\n"
        "Press Ctrl+C to stop.\n"
    )
    async with anyio.create_task_group() as group:
        for server in servers:
            group.start_soon(server.serve)
        group.start_soon(_stop_on_signal, servers)


class _Server:
    """A uvicorn server that leaves signals to `_stop_on_signal`.

    Each `uvicorn.Server` installs its own handlers and re-raises the signal once it has
    stopped, which would cancel the other server mid-shutdown; two servers in one process
    must stop together instead.
    """

    def __init__(self, config: Any) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self._server = Quiet(config)

    async def serve(self) -> None:
        await self._server.serve()

    def stop(self) -> None:
        self._server.should_exit = True

    @property
    def stopped(self) -> bool:
        return bool(self._server.should_exit)


async def _stop_on_signal(servers: list[_Server]) -> None:
    """Ctrl+C or SIGTERM stops both servers; so does one of them stopping on its own
    (e.g. its port was taken)."""
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as group:

            async def on_signal() -> None:
                async for _ in signals:
                    break
                group.cancel_scope.cancel()

            async def on_stop() -> None:
                while not any(server.stopped for server in servers):
                    await anyio.sleep(0.2)
                group.cancel_scope.cancel()

            group.start_soon(on_signal)
            group.start_soon(on_stop)
    for server in servers:
        server.stop()
