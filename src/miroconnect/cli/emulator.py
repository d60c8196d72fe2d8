"""`miroconnect emulator`: serve the Miro emulator.

`--client` registers an app: `CLIENT_ID:CLIENT_SECRET:REDIRECT_URI`, optionally prefixed
with the name its consent page shows, `Name=CLIENT_ID:...` (the redirect URI may itself
hold colons and `=`; a client id holds neither).
"""

from __future__ import annotations

import typer

from miroconnect.config import is_loopback

__all__ = ["is_loopback", "parse_client", "register"]

CLIENT_FORMAT = "CLIENT_ID:CLIENT_SECRET:REDIRECT_URI"


def parse_client(spec: str) -> tuple[str, str, str, str]:
    """`[Name=]CLIENT_ID:CLIENT_SECRET:REDIRECT_URI` -> (id, secret, URI, name or "")."""
    name = ""
    head, colon, rest = spec.partition(":")
    if "=" in head:
        name, _, head = head.rpartition("=")
    parts = [head, *rest.split(":", 1)] if colon else [head]
    if len(parts) != 3 or not all(parts) or len(name) > 100:
        raise typer.BadParameter(
            f"expected {CLIENT_FORMAT} or Name={CLIENT_FORMAT}, e.g. "
            "'Acme CRM=3074457:secret:http://127.0.0.1:8000/connect/callback'",
            param_hint="--client",
        )
    return parts[0], parts[1], parts[2], name.strip()


def register(app: typer.Typer) -> None:
    @app.command("emulator")
    def emulator(
        host: str = typer.Option(
            "127.0.0.1", metavar="ADDRESS", help="address to bind (loopback only)"
        ),
        port: int = typer.Option(
            8765, min=1, max=65535, metavar="PORT", help="port to listen on"
        ),
        public: bool = typer.Option(
            False, "--public", help="allow binding a non-loopback address"
        ),
        auto_approve: bool = typer.Option(
            False, "--auto-approve", help="skip the consent page and approve at once"
        ),
        client: list[str] = typer.Option(  # noqa: B008  # Typer's declaration style
            [],
            "--client",
            metavar=CLIENT_FORMAT,
            help="register an app (repeatable); prefix `Name=` to give it the name its "
            "consent page shows, e.g. 'Acme CRM=3074457:secret:http://127.0.0.1:8000"
            "/connect/callback'",
            show_default=False,
        ),
        access_token_ttl: int = typer.Option(
            3600,
            min=2,
            metavar="SECONDS",
            help="access token lifetime of --client apps",
        ),
        non_expiring: bool = typer.Option(
            False, "--non-expiring", help="--client apps get non-expiring tokens"
        ),
        credits: int = typer.Option(
            100_000,
            min=1,
            metavar="N",
            help="rate-limit credits per (user, app) per window",
        ),
        window: int = typer.Option(
            60, min=1, metavar="SECONDS", help="rate-limit window"
        ),
        default_user: str = typer.Option(
            "demo", metavar="NAME", help="the Miro user signed in by default"
        ),
        search_delay: float = typer.Option(
            3.0,
            min=0.0,
            metavar="SECONDS",
            help="before a new board shows in board searches other than by team or "
            "project, as on Miro (0: at once)",
        ),
    ) -> None:
        """Serve the Miro emulator (OAuth server + REST API v2)."""
        if not public and not is_loopback(host):
            typer.echo(
                f"Refusing to bind {host}: the emulator hands out tokens to anyone who "
                "asks. Bind a loopback address, or pass --public if you mean it.",
                err=True,
            )
            raise typer.Exit(code=2)
        import uvicorn

        from miroconnect.cli.http_head import HTTP_PROTOCOL
        from miroconnect.emulator import EmulatorClient, create_emulator
        from miroconnect.logs import uvicorn_log_config

        apps = [
            EmulatorClient(
                client_id=client_id,
                client_secret=secret,
                redirect_uris=(redirect_uri,),
                expiring=not non_expiring,
                access_token_ttl=access_token_ttl,
                name=name,
            )
            for client_id, secret, redirect_uri, name in map(parse_client, client)
        ]
        emulator_app = create_emulator(
            auto_approve=auto_approve,
            default_user=default_user,
            credits=credits,
            window_seconds=window,
            clients=apps,
            search_delay=search_delay,
        )
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"Miro emulator on http://{shown}:{port}/ (Ctrl+C to stop)")
        # uvicorn's warnings in the format of the process's other lines.
        uvicorn.run(
            emulator_app,
            host=host,
            port=port,
            http=HTTP_PROTOCOL,
            log_config=uvicorn_log_config("WARNING"),
        )
