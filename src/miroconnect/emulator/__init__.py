"""A fake Miro: OAuth server and REST API v2, for tests and offline demos.

It imports nothing from the rest of miroconnect (except perhaps `errors`), so it cannot
share the bugs it exists to catch.
"""

from __future__ import annotations

from starlette.applications import Starlette

__all__ = ["create_emulator"]


def create_emulator() -> Starlette:
    """Build the emulator's ASGI app (work in progress)."""
    return Starlette()
