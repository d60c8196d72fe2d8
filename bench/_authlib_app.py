"""The baseline of `bench_connect`: the connect flow as a minimal Authlib Starlette app.

What a developer would otherwise write with Authlib's Starlette client (which runs on
httpx2 since Authlib 1.9.10): `GET /login?user=ID` keeps the app user in Starlette's
signed session cookie and redirects to Miro's authorize URL (Authlib keeps the `state` in
that session); `GET /callback` lets Authlib check the state and exchange the code
(`client_secret_post`, as Miro wants), stores the token response in SQLite (one row per
user, in plaintext), creates a board with a raw `httpx2` call and redirects (303) to the
host app with `miro_board_id`.

It does less than miroconnect, on purpose: no encryption at rest, no token-info call for
the team's name, no exactly-once operation row, no browser binding beyond the session
cookie, no rate-limit pacing or retries.

Authlib builds a new `AsyncOAuth2Client` (an `httpx2.AsyncClient`) for every code exchange,
and each builds a TLS context (loading the CA bundle, about 20 ms of CPU) even for plain
http. `/tuned/login` and `/tuned/callback` are the same flow with one TLS context shared
through `client_kwargs={"verify": context}`: the one-line fix a developer who profiled it
would make.

Served by uvicorn: `uvicorn bench._authlib_app:create_app --factory`, configured by
`BENCH_AUTHLIB_*` variables.
"""

from __future__ import annotations

import os
import sqlite3
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiosqlite
import httpx2
from authlib.integrations.starlette_client import OAuth  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["create_app"]

RETURN_URL = "https://app.bench.test/done"


def create_app() -> Starlette:
    """The app, from `BENCH_AUTHLIB_{EMULATOR,BASE_URL,CLIENT_ID,CLIENT_SECRET,DATABASE,
    SESSION_SECRET}`; its redirect URIs are BASE_URL + `/callback` and `/tuned/callback`."""
    emulator = os.environ["BENCH_AUTHLIB_EMULATOR"]
    base_url = os.environ["BENCH_AUTHLIB_BASE_URL"]
    database = os.environ["BENCH_AUTHLIB_DATABASE"]
    oauth = OAuth()
    for name, extra in (
        ("plain", {}),
        ("tuned", {"verify": ssl.create_default_context()}),
    ):
        oauth.register(
            name,
            client_id=os.environ["BENCH_AUTHLIB_CLIENT_ID"],
            client_secret=os.environ["BENCH_AUTHLIB_CLIENT_SECRET"],
            authorize_url=f"{emulator}/oauth/authorize",
            access_token_url=f"{emulator}/v1/oauth/token",
            client_kwargs={"token_endpoint_auth_method": "client_secret_post", **extra},
        )
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with sqlite3.connect(database) as setup:
            setup.execute(
                "CREATE TABLE IF NOT EXISTS tokens (app_user_id TEXT PRIMARY KEY, "
                "miro_user_id TEXT, team_id TEXT, access_token TEXT, refresh_token TEXT, "
                "expires_at REAL)"
            )
        async with (
            aiosqlite.connect(database) as db,
            httpx2.AsyncClient(base_url=emulator, timeout=30) as http,
        ):
            state["db"], state["http"] = db, http
            yield

    def client(request: Request) -> Any:
        return oauth.create_client(request.path_params.get("variant", "plain"))

    async def login(request: Request) -> Response:
        request.session["user"] = request.query_params["user"]
        variant = request.path_params.get("variant")
        callback = (
            f"{base_url}/{variant}/callback" if variant else f"{base_url}/callback"
        )
        response: Response = await client(request).authorize_redirect(request, callback)
        return response

    async def callback(request: Request) -> Response:
        token: dict[str, Any] = await client(request).authorize_access_token(request)
        user = request.session.pop("user", None)
        if not user:
            return PlainTextResponse("no user in the session", status_code=400)
        db: aiosqlite.Connection = state["db"]
        await db.execute(
            "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?, ?, ?)",
            (
                user,
                token.get("user_id"),
                token.get("team_id"),
                token["access_token"],
                token.get("refresh_token"),
                token.get("expires_at"),
            ),
        )
        await db.commit()
        http: httpx2.AsyncClient = state["http"]
        answer = await http.post(
            "/v2/boards",
            json={"name": "connect"},
            headers={"authorization": f"Bearer {token['access_token']}"},
        )
        if answer.status_code != 201:
            return PlainTextResponse("Miro refused the board", status_code=502)
        board = answer.json()["id"]
        return RedirectResponse(
            f"{RETURN_URL}?{urlencode({'miro_board_id': board})}", status_code=303
        )

    return Starlette(
        routes=[
            Route("/login", login),
            Route("/callback", callback),
            Route("/{variant:str}/login", login),
            Route("/{variant:str}/callback", callback),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=os.environ["BENCH_AUTHLIB_SESSION_SECRET"],
                https_only=False,
            )
        ],
        lifespan=lifespan,
    )
