"""`miroconnect serve`: the service (REST API + connect routes) for apps in any language.

Settings come from the `MIROCONNECT_*` variables and are checked before anything starts.
uvicorn logs through miroconnect's handler (`miroconnect.logs.uvicorn_log_config`), so
the process writes one format: JSON lines by default.

`--with-emulator` is for trying the service on a laptop: it serves the Miro emulator on a
loopback port beside the service, registers the service's callback there as an app, and
points the `MIROCONNECT_MIRO_*` settings at it for this run (saying what it did).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import partial

import typer
from pydantic import SecretStr

from miroconnect.config import Settings

__all__ = ["EMULATOR_APP_NAME", "register"]

logger = logging.getLogger("miroconnect.cli.serve")

EMULATOR_APP_NAME = "miroconnect service"


@dataclass(frozen=True)
class _Emulated:
    """The Miro emulator of one `serve --with-emulator` run: where it is, and the app."""

    url: str
    port: int
    client_id: str
    client_secret: str
    redirect_uri: str


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _emulated(
    settings: Settings, host: str, port: int, emulator_port: int
) -> _Emulated:
    """The emulator's app: the configured client id, secret and redirect URI, or made up
    for this run when they are not set."""
    return _Emulated(
        url=_url(host, emulator_port),
        port=emulator_port,
        client_id=settings.miro_client_id
        or str(3458764000000000 + secrets.randbelow(10**9)),
        client_secret=settings.miro_client_secret.get_secret_value()
        or secrets.token_urlsafe(32),
        redirect_uri=settings.miro_redirect_uri
        or f"{_url(host, port)}/connect/callback",
    )


def _with_emulator(settings: Settings, emulated: _Emulated) -> Settings:
    """`settings` with Miro's settings pointing at the emulator (the rest unchanged)."""
    return settings.model_copy(
        update={
            "miro_client_id": emulated.client_id,
            "miro_client_secret": SecretStr(emulated.client_secret),
            "miro_redirect_uri": emulated.redirect_uri,
            "miro_auth_url": f"{emulated.url}/oauth/authorize",
            "miro_api_url": emulated.url,
        }
    )


def _refuse(problems: list[str]) -> None:
    if problems:
        typer.echo("miroconnect serve cannot start:", err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option(
            "127.0.0.1", metavar="ADDRESS", help="address to bind"
        ),
        port: int = typer.Option(
            8000, min=1, max=65535, metavar="PORT", help="port to listen on"
        ),
        workers: int = typer.Option(1, min=1, metavar="N", help="worker processes"),
        forwarded_allow_ips: str = typer.Option(
            "127.0.0.1",
            metavar="ADDRESSES",
            help="proxies trusted for X-Forwarded-Proto/For (comma-separated, or *)",
        ),
        with_emulator: bool = typer.Option(
            False,
            "--with-emulator",
            help="also serve the Miro emulator on loopback and use it as Miro "
            "(development only: anyone signs in to it, with no password)",
        ),
        emulator_port: int | None = typer.Option(
            None,
            min=1,
            max=65535,
            metavar="PORT",
            help="the emulator's port with --with-emulator  [default: PORT + 765]",
            show_default=False,
        ),
        auto_approve: bool = typer.Option(
            False,
            "--auto-approve",
            help="with --with-emulator: the emulator approves at once, with no consent "
            "page (to try the flow without a browser)",
        ),
    ) -> None:
        """Serve the miroconnect service; settings come from MIROCONNECT_* variables.

        Run `miroconnect db upgrade` first. Behind a TLS-terminating proxy, list it in
        --forwarded-allow-ips so cookies get `Secure`.
        """
        import asyncio

        from miroconnect.cli.servers import (
            default_emulator_port,
            in_use_text,
            ports_in_use,
        )
        from miroconnect.config import is_loopback
        from miroconnect.storage.migrate import schema_problem
        from miroconnect.web.checks import settings_problems

        settings = Settings()
        emulated = None
        if auto_approve and not with_emulator:
            _refuse(["--auto-approve is the emulator's: use it with --with-emulator"])
        if with_emulator:
            given = [
                flag
                for flag, wrong in (
                    ("--workers", workers != 1),
                    ("--host", not is_loopback(host)),
                )
                if wrong
            ]
            if given:
                _refuse(
                    [
                        "--with-emulator runs one process on a loopback address "
                        "(anyone signs in to the emulator, with no password): drop "
                        + " and ".join(given)
                    ]
                )
            emulated = _emulated(
                settings,
                host,
                port,
                emulator_port or default_emulator_port(port),
            )
            settings = _with_emulator(settings, emulated)
        _refuse(settings_problems(settings))
        behind = asyncio.run(schema_problem(settings.database_url))
        if behind is not None:
            _refuse([behind])
        # Tokens the keys cannot open would fail every request as `vault_key_error`:
        # say so now, before serving (a re-run with a new key, a key left out).
        _refuse(asyncio.run(_key_problems(settings)))
        ports = (port,) if emulated is None else (port, emulated.port)
        taken = ports_in_use(host, ports)
        if taken:
            _refuse(
                [
                    f"{in_use_text(host, taken)}: choose a free one with --port"
                    + ("" if emulated is None else " (the emulator's: --emulator-port)")
                ]
            )
        if emulated is not None:
            _serve_with_emulator(
                settings, emulated, host, port, auto_approve=auto_approve
            )
        else:
            _serve(settings, host, port, workers, forwarded_allow_ips)


async def _key_problems(settings: Settings) -> list[str]:
    from miroconnect.assembly import open_storage
    from miroconnect.cli.keys import stored_key_problems

    storage = open_storage(settings)
    try:
        _, problems = await stored_key_problems(storage.connections)
    finally:
        await storage.aclose()
    return problems


def _announce(settings: Settings, host: str, port: int) -> None:
    from miroconnect.logs import log_event
    from miroconnect.storage.db import shown_url

    url = _url(host, port)
    log_event(
        logger,
        "serve.starting",
        url=f"{url}/",
        docs=f"{url}/docs",
        database=shown_url(settings.database_url),
    )


def _serve(
    settings: Settings, host: str, port: int, workers: int, forwarded_allow_ips: str
) -> None:
    import uvicorn

    from miroconnect.cli.http_head import HTTP_PROTOCOL
    from miroconnect.logs import uvicorn_log_config

    _announce(settings, host, port)
    uvicorn.run(
        "miroconnect.web.app:create_service_app",
        factory=True,
        host=host,
        port=port,
        http=HTTP_PROTOCOL,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_config=uvicorn_log_config(settings.log_level),
        # The app logs one `http.request` event per request, by route template.
        # uvicorn's access log would write the raw URL: Miro's callback carries the
        # one-time code and state in its query.
        access_log=False,
    )


def _serve_with_emulator(
    settings: Settings,
    emulated: _Emulated,
    host: str,
    port: int,
    *,
    auto_approve: bool = False,
) -> None:
    import anyio
    import uvicorn

    from miroconnect.cli.http_head import HTTP_PROTOCOL
    from miroconnect.cli.servers import serve_together
    from miroconnect.emulator import EmulatorClient, create_emulator
    from miroconnect.logs import log_event, uvicorn_log_config
    from miroconnect.web import create_app

    emulator = create_emulator(
        clients=[
            EmulatorClient(
                emulated.client_id,
                emulated.client_secret,
                (emulated.redirect_uri,),
                name=EMULATOR_APP_NAME,
            )
        ],
        auto_approve=auto_approve,
    )
    log_event(
        logger,
        "serve.emulator",
        url=f"{emulated.url}/",
        client_id=emulated.client_id,
        redirect_uri=emulated.redirect_uri,
        miro_auth_url=settings.miro_auth_url,
        miro_api_url=settings.miro_api_url,
        note="the Miro emulator plays Miro for this run: anyone signs in to it, with no password",
    )
    _announce(settings, host, port)
    log_config = uvicorn_log_config(settings.log_level)
    emulator_config = uvicorn.Config(
        emulator,
        host=host,
        port=emulated.port,
        http=HTTP_PROTOCOL,
        log_config=log_config,
    )
    app_config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        http=HTTP_PROTOCOL,
        log_config=log_config,
        access_log=False,  # raw URLs: see `_serve`
    )
    anyio.run(partial(serve_together, emulator=emulator_config, app=app_config))
