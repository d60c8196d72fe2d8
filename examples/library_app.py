"""A FastAPI app embedding miroconnect as a library: the README's snippet, whole and runnable.

The host app keeps its own login; miroconnect adds the connect routes under `/connect`
and the button's form on the host's own page. Run it against the Miro emulator with the
recipe in the README's "Library" item ("to run it against the emulator"):

    .venv/bin/python examples/library_app.py      # http://127.0.0.1:8001/

`tests/web/test_library_example.py` drives this file through the whole flow.
"""

from __future__ import annotations

import html
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from miroconnect import Settings
from miroconnect.web import build_context, connect_router, csrf_token, install

HOST, PORT = "127.0.0.1", int(os.environ.get("PORT", "8001"))


def current_user_id(request: Request) -> str:
    """Your login, as a FastAPI dependency: the signed-in user's id in your app (raise,
    or redirect to your sign-in page, when nobody is signed in). This example has one
    user; yours reads your session."""
    return "alice"


def make_app(settings: Settings | None = None, **parts: Any) -> FastAPI:
    """The host app. `settings`: `MIROCONNECT_*` from the environment when None; `parts`
    go to `build_context` (tests pass the emulator's transport)."""
    # Every missing setting is named at once (a `ConfigurationError`).
    context = build_context(settings or Settings(), **parts)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context.start()  # background work (webhook delivery, when configured)
        yield
        await context.aclose()

    app = FastAPI(lifespan=lifespan)
    install(app, context)
    app.include_router(
        connect_router(current_user_id, home_url="/projects"), prefix="/connect"
    )

    @app.get("/")
    async def index() -> RedirectResponse:
        return RedirectResponse("/projects")

    @app.get("/projects", response_class=HTMLResponse)
    async def projects(request: Request) -> str:
        # After the flow the browser lands here with `miro_board_id` (or `miro_error`).
        board = request.query_params.get("miro_board_id")
        error = request.query_params.get("miro_error")
        said = ""
        if board:
            said = f"<p>Board created on Miro: <code>{html.escape(board)}</code></p>"
        elif error:
            said = f"<p>Miro said no: <code>{html.escape(error)}</code></p>"
        # `data:,`: an empty icon, so the browser asks for no /favicon.ico (none here).
        return f"""<!doctype html><title>Projects</title><link rel="icon" href="data:,">
<h1>Projects of {html.escape(current_user_id(request))}</h1>
{said}
<form method="post" action="/connect/boards">
  <input type="hidden" name="csrf_token" value="{csrf_token(request)}">
  <input type="hidden" name="request_id" value="{secrets.token_hex(16)}">
  <input name="name" value="Sprint 12" required>
  <button>Create board on Miro</button>
</form>"""

    return app


if __name__ == "__main__":
    import uvicorn

    from miroconnect.errors import ConfigurationError
    from miroconnect.logs import configure_logging_from_settings

    configure_logging_from_settings()  # MIROCONNECT_LOG_FORMAT / _LEVEL
    try:
        app = make_app()
    except ConfigurationError as exc:  # every missing setting, named: no traceback
        raise SystemExit(str(exc)) from None
    print(f"library app on http://{HOST}:{PORT}/ (Ctrl+C stops it)", flush=True)
    # No access log: Miro's callback carries the one-time code in its query string.
    uvicorn.run(app, host=HOST, port=PORT, access_log=False, log_config=None)
