"""`create_emulator`: assemble the emulator's ASGI app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from miroconnect.emulator import control, oauth, router
from miroconnect.emulator.api import rate_headers, state_of
from miroconnect.emulator.pages import FAVICON_SVG, board_page, error_page
from miroconnect.emulator.state import EmulatorClient, EmulatorState, utc_now
from miroconnect.emulator.transport import FaultMiddleware
from miroconnect.emulator.wire import error_body, json_response, origin

__all__ = ["DEFAULT_SEARCH_DELAY", "create_emulator"]


# Miro documents "a few seconds" of search-index lag for new boards.
DEFAULT_SEARCH_DELAY = 3.0


async def _board_page(request: Request) -> Response:
    board = state_of(request).boards.get(request.path_params["board_id"])
    if board is None:
        return HTMLResponse(error_page("Board not found", "No such board."), 404)
    # No X-Frame-Options or frame-ancestors: a demo app may iframe this page.
    return HTMLResponse(board_page(board, origin(request)))


async def _board_file(request: Request) -> Response:
    """An uploaded image or document, for the board page (Miro's own file URLs are
    short-lived signed links; these are open like the board page itself)."""
    board = state_of(request).boards.get(request.path_params["board_id"])
    item = board.items.get(request.path_params["item_id"]) if board else None
    if item is None or item.file is None:
        return HTMLResponse(error_page("Not found", "No such file."), 404)
    # Anyone's upload, on an origin beside the app's (same site, another port): served
    # so that it can never run as a page here (an HTML document, an SVG with a script),
    # and a document is a download, not a page.
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if not item.file.content_type.startswith("image/"):
        headers["Content-Disposition"] = "attachment"
    return Response(item.file.data, media_type=item.file.content_type, headers=headers)


async def _favicon(request: Request) -> Response:
    return Response(
        FAVICON_SVG,
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def _home(request: Request) -> Response:
    state = state_of(request)
    apps = "".join(
        f"<li><code>{escape(c.client_id)}</code> {escape(c.name)}</li>"
        for c in state.clients.values()
    )
    return HTMLResponse(
        "<!doctype html><title>Miro emulator</title><h1>Miro emulator</h1>"
        "<p>OAuth: <code>/oauth/authorize</code>, <code>POST /v1/oauth/token</code>. "
        "REST API v2 under <code>/v2</code>. Control: <code>/_emulator/*</code>.</p>"
        f"<p>Registered apps:</p><ul>{apps or '<li>none</li>'}</ul>"
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101  # registered for HTTPException only
    path = request.url.path
    if path.startswith(("/v1/", "/v2/")):
        code = "notFound" if exc.status_code == 404 else "methodNotAllowed"
        message = "Not found." if exc.status_code == 404 else "Method not allowed."
        body = error_body(exc.status_code, code, message)
        headers = rate_headers(state_of(request).idle_rate())
        if exc.headers:  # Allow, on a 405
            headers.update(exc.headers)
        return json_response(body, exc.status_code, headers)
    return HTMLResponse(
        error_page("Not found", f"{exc.status_code}: {exc.detail}"), exc.status_code
    )


def create_emulator(
    *,
    clock: Callable[[], datetime] | None = None,
    auto_approve: bool = False,
    default_user: str = "demo",
    credits: int = 100_000,
    window_seconds: int = 60,
    clients: Sequence[EmulatorClient] = (),
    seed: int | None = None,
    search_delay: float = DEFAULT_SEARCH_DELAY,
) -> Starlette:
    """Build a fake Miro (OAuth server + REST API v2) as an ASGI app.

    * `clock` returns aware UTC datetimes (default: the system clock); the emulator's
      time is `clock()` plus whatever `POST /_emulator/clock` has added.
    * `auto_approve` skips the consent page and approves as the signed-in user
      (`default_user` unless the sign-in cookie names another).
    * `credits` per `window_seconds` is the rate-limit budget per (user, app).
    * `clients` are registered from the start, and survive `POST /_emulator/reset`.
    * `seed` makes ids and tokens repeat from run to run; within one emulator no id is
      made twice, not even across `POST /_emulator/reset`.
    * `search_delay` is how many seconds (of the emulator's clock) a new board takes to
      show up in `GET /v2/boards` searches other than by `team_id` or `project_id`, as
      Miro documents; 0 shows it at once.

    ```python
    app = create_emulator(clients=[EmulatorClient("id", "secret", ("http://app/cb",))])
    ```
    """
    if credits < 1 or window_seconds < 1:
        raise ValueError("credits and window_seconds must be positive")
    if search_delay < 0:
        raise ValueError("search_delay must not be negative")
    state = EmulatorState(
        clock=clock or utc_now,
        clients=clients,
        default_user=default_user,
        credits=credits,
        window_seconds=window_seconds,
        auto_approve=auto_approve,
        seed=seed,
        search_delay=search_delay,
    )
    pages = [
        Route("/", _home, methods=["GET"]),
        Route("/favicon.ico", _favicon, methods=["GET"]),
        Route("/app/board/{board_id}", _board_page, methods=["GET"]),
        Route("/app/board/{board_id}/", _board_page, methods=["GET"]),
        Route("/app/live-embed/{board_id}/", _board_page, methods=["GET"]),
        Route("/app/live-embed/{board_id}", _board_page, methods=["GET"]),
        Route("/app/board/{board_id}/files/{item_id}", _board_file, methods=["GET"]),
    ]
    app = Starlette(
        routes=[*oauth.routes, *control.routes, *router.routes, *pages],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.emulator = state
    return app
