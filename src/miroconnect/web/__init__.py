"""The web layer: `create_app(settings)` serves the service API, the connect routes and,
optionally, the reference app; `connect_router` mounts the connect flow in a host app."""

from __future__ import annotations

from miroconnect.web.app import create_app
from miroconnect.web.connect import connect_router

__all__ = ["connect_router", "create_app"]
