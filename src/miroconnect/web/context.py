"""Everything the routers share for one app: built once by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from miroconnect.config import Settings
from miroconnect.storage.db import Database
from miroconnect.storage.throttle import SQLThrottle
from miroconnect.types import Clock
from miroconnect.web.accounts import AccountStore, BoardStore
from miroconnect.web.connector import Connector
from miroconnect.web.metrics import Metrics
from miroconnect.web.security import CSRFSigner
from miroconnect.web.sessions import Sessions

__all__ = ["TEMPLATES_DIR", "WebContext", "build_templates"]

TEMPLATES_DIR = Path(__file__).parent / "templates"


def build_templates(static_path: str = "/static") -> Jinja2Templates:
    """The page templates; Starlette turns autoescape on for `.html` files.

    `static_path` is where the stylesheet is served: pages link it by path, never by a
    URL built from the request's `Host` header (which the client chooses).
    """
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals["static_path"] = static_path
    return templates


@dataclass(frozen=True)
class WebContext:
    """The services of one app, found by routers through `request.app.state`."""

    settings: Settings
    database: Database
    connector: Connector
    accounts: AccountStore
    boards: BoardStore
    metrics: Metrics
    templates: Jinja2Templates
    csrf: CSRFSigner
    sessions: Sessions
    api_keys: tuple[bytes, ...]
    throttle: SQLThrottle
    clock: Clock
    reference_app: bool
    # Miro's web origins (and the configured emulator's): where board links may point.
    miro_origins: tuple[str, ...] = ("https://miro.com",)
    # What `aclose` closes besides the database: the connector, the Miro transport.
    closers: tuple[Any, ...] = ()

    async def aclose(self) -> None:
        """Close the HTTP clients and the database connections."""
        for closer in self.closers:
            close = getattr(closer, "aclose", None)
            if close is not None:
                await close()
        await self.database.dispose()

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        *,
        status_code: int = 200,
    ) -> HTMLResponse:
        """Render a page with its CSRF token and the signed-in account, if any."""
        values: dict[str, Any] = {
            "csrf_token": self.csrf.token_for(request),
            "reference_app": self.reference_app,
        }
        values.update(context or {})
        response = self.templates.TemplateResponse(
            request, name, values, status_code=status_code
        )
        response.headers.setdefault("cache-control", "no-store")
        return response
