"""Everything the routers share for one app: built once by `build_context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from miroconnect.assembly import Stack
from miroconnect.config import Settings
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.outcomes import FlowLaunch
from miroconnect.oauth.vault import TokenVault
from miroconnect.storage.boards import SQLBoardList
from miroconnect.storage.db import Database
from miroconnect.storage.throttle import SQLThrottle
from miroconnect.types import Clock
from miroconnect.web.accounts import Accounts
from miroconnect.web.flash import Flashes
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


@dataclass
class SchemaCheck:
    """Whether the database was found at this version's tables (checked once, on the
    first request of the connect routes: a host app's lifespan may not check it)."""

    ready: bool = False


@dataclass(frozen=True)
class WebContext:
    """The services of one app, found by routers through `request.app.state`."""

    stack: Stack
    accounts: Accounts
    sessions: Sessions
    metrics: Metrics
    templates: Jinja2Templates
    csrf: CSRFSigner
    # The reference app's one-time messages ("Board created", ...).
    flashes: Flashes
    api_keys: tuple[bytes, ...]
    reference_app: bool
    # This service's public origin (of its Miro redirect URI): launch links live there.
    public_url: str
    # Miro's web origins (and the configured emulator's): where board links may point.
    miro_origins: tuple[str, ...] = ("https://miro.com",)
    # Where an error page's "Back to the app" leads when the flow's own return URL is not
    # known: the app's home. `None` for the service, whose users come from another app
    # (its `/` is a page for developers): no such link then.
    home_url: str | None = "/"
    schema: SchemaCheck = field(default_factory=SchemaCheck)

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def flow(self) -> ConnectFlow:
        return self.stack.flow

    @property
    def vault(self) -> TokenVault:
        return self.stack.vault

    @property
    def boards(self) -> SQLBoardList:
        """The boards made for each app user (from their operations)."""
        return self.stack.storage.boards

    @property
    def throttle(self) -> SQLThrottle:
        return self.stack.storage.throttle

    @property
    def database(self) -> Database:
        return self.stack.database

    @property
    def clock(self) -> Clock:
        return self.stack.clock

    def launch_url(self, launch: FlowLaunch) -> str:
        """The one-time link of service mode: a browser opening it starts consent."""
        return f"{self.public_url}/connect/launch/{quote(launch.launch_token, safe='')}"

    def start(self) -> None:
        """Start the background work (webhook delivery, if configured); call it in the
        app's lifespan, before `aclose`."""
        self.stack.start()

    async def aclose(self) -> None:
        """Stop the background work; close the HTTP clients and database connections."""
        await self.stack.aclose()

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
