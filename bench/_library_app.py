"""The library side of `bench_connect`: miroconnect embedded in a FastAPI host app.

The like-for-like of `bench/_authlib_app.py`: an app with its own login that connects its
user to Miro itself, no service in between. The host's login here is a cookie,
`bench_user`, that the bench's browsers set (a real host reads its session). `GET /projects`
renders the host's page with the "Create board on Miro" form and its CSRF token; the form
posts to miroconnect's `POST /connect/boards`, which sends the browser to Miro with a state
bound to the browser and the user; Miro's callback at `/connect/callback` exchanges the
code, reads the token's user and team, stores the tokens encrypted, makes the board exactly
once and redirects (303) back to `/projects?miro_board_id=...`.

Served by uvicorn as the Authlib app is: `uvicorn bench._library_app:create_app
--factory`, configured by the `MIROCONNECT_*` variables (as `miroconnect serve` is), its
events logged as `serve` logs them (JSON lines at INFO).
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from miroconnect import Settings
from miroconnect.logs import configure_logging_from_settings
from miroconnect.web import build_context, connect_router, csrf_token, install

__all__ = ["USER_COOKIE", "create_app"]

USER_COOKIE = "bench_user"


def current_user_id(request: Request) -> str:
    """The host's signed-in user: the `bench_user` cookie."""
    user = request.cookies.get(USER_COOKIE)
    if not user:
        raise HTTPException(401, "sign in first")
    return f"host:{user}"


def create_app() -> FastAPI:
    """The host app, from the `MIROCONNECT_*` variables."""
    settings = Settings()
    configure_logging_from_settings(settings)
    context = build_context(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context.start()
        yield
        await context.aclose()

    app = FastAPI(lifespan=lifespan)
    install(app, context)
    app.include_router(
        connect_router(current_user_id, home_url="/projects"), prefix="/connect"
    )

    @app.get("/projects", response_class=HTMLResponse)
    async def projects(request: Request) -> str:
        board = html.escape(request.query_params.get("miro_board_id", ""))
        return (
            f"<!doctype html><title>Projects</title><p>{board}</p>"
            '<form method="post" action="/connect/boards">'
            f'<input type="hidden" name="csrf_token" value="{csrf_token(request)}">'
            '<input name="name" value="connect"><button>Create board on Miro</button>'
            "</form>"
        )

    return app
