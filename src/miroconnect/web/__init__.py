"""The web layer: `create_app(settings)` serves the service API, the connect routes and,
optionally, the reference app; `connect_router` mounts the connect flow in a host app."""

from __future__ import annotations

from miroconnect.web.app import build_context, create_app, install
from miroconnect.web.connect import connect_router
from miroconnect.web.replies import csrf_token

__all__ = ["build_context", "connect_router", "create_app", "csrf_token", "install"]
