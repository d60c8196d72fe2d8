"""`miroconnect emulator`: serve the Miro emulator."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("emulator")
    def emulator(
        host: str = typer.Option("127.0.0.1", help="address to bind (loopback only)"),
        port: int = typer.Option(8765, help="port to listen on"),
    ) -> None:
        """Serve the Miro emulator (OAuth server + REST API)."""
        import uvicorn

        from miroconnect.emulator import create_emulator

        uvicorn.run(create_emulator(), host=host, port=port)
