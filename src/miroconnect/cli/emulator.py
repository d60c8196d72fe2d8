"""`miroconnect emulator`: serve the Miro emulator."""

from __future__ import annotations

import typer

from miroconnect.config import is_loopback

__all__ = ["is_loopback", "parse_client", "register"]


def parse_client(spec: str) -> tuple[str, str, str]:
    """Split `ID:SECRET:REDIRECT_URI` (the URI may itself contain colons)."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise typer.BadParameter(
            "expected ID:SECRET:REDIRECT_URI, e.g. 3074457:secret:http://127.0.0.1:8000/cb",
            param_hint="--client",
        )
    return parts[0], parts[1], parts[2]


def register(app: typer.Typer) -> None:
    @app.command("emulator")
    def emulator(
        host: str = typer.Option("127.0.0.1", help="address to bind (loopback only)"),
        port: int = typer.Option(8765, help="port to listen on"),
        public: bool = typer.Option(
            False, "--public", help="allow binding a non-loopback address"
        ),
        auto_approve: bool = typer.Option(
            False, "--auto-approve", help="skip the consent page and approve at once"
        ),
        client: list[str] = typer.Option(  # noqa: B008  # Typer's declaration style
            [], "--client", help="register an app: ID:SECRET:REDIRECT_URI (repeatable)"
        ),
        access_token_ttl: int = typer.Option(
            3600, min=2, help="access token lifetime of --client apps, in seconds"
        ),
        non_expiring: bool = typer.Option(
            False, "--non-expiring", help="--client apps get non-expiring tokens"
        ),
        credits: int = typer.Option(
            100_000, min=1, help="rate-limit credits per (user, app) per window"
        ),
        window: int = typer.Option(60, min=1, help="rate-limit window, in seconds"),
        default_user: str = typer.Option(
            "demo", help="the Miro user signed in by default"
        ),
        search_delay: float = typer.Option(
            3.0,
            min=0.0,
            help="seconds before a new board shows in board searches other than by "
            "team or project, as on Miro (0: at once)",
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

        from miroconnect.emulator import EmulatorClient, create_emulator

        apps = [
            EmulatorClient(
                client_id=client_id,
                client_secret=secret,
                redirect_uris=(redirect_uri,),
                expiring=not non_expiring,
                access_token_ttl=access_token_ttl,
            )
            for client_id, secret, redirect_uri in map(parse_client, client)
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
        uvicorn.run(emulator_app, host=host, port=port, log_level="warning")
