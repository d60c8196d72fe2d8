"""The `miroconnect` command line.

Each command lives in its own module of this package and is registered in `build_app`.
Settings are built here, at the edge, and passed down.

Help is plain text (`rich_markup_mode=None` on every Typer): Rich markup would turn
`ID:SECRET:...` into an emoji and `[...]` into styles, and label every flag `<bool>`.
"""

from __future__ import annotations

import typer

__all__ = ["build_app", "main"]


def build_app() -> typer.Typer:
    """The Typer application with every command registered."""
    from miroconnect.cli import (
        connections,
        db,
        demo,
        doctor,
        emulator,
        keys,
        maintain,
        serve,
        webhooks,
    )

    app = typer.Typer(
        name="miroconnect",
        help="Connect a web app's users to Miro.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    emulator.register(app)
    db.register(app)
    keys.register(app)
    maintain.register(app)
    serve.register(app)
    demo.register(app)
    connections.register(app)
    doctor.register(app)
    webhooks.register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    from miroconnect.logs import configure_logging_from_settings

    configure_logging_from_settings()
    build_app()()
