"""The reference app's own pages: accounts and the home page with the user's boards."""

from __future__ import annotations

import re
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from miroconnect.errors import MiroConnectError
from miroconnect.web.accounts import UsernameTakenError
from miroconnect.web.dependencies import ContextDep, CSRFDep, OptionalAccountDep
from miroconnect.web.reasons import failure_text

__all__ = ["live_embed_url", "pages_router"]

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PASSWORD_MIN = 4  # the demo account's password is "demo"
PASSWORD_MAX = 256


def live_embed_url(view_link: str, board_id: str) -> str | None:
    """The live-embed URL of a board, on the same origin as its view link.

    Miro's is `https://miro.com/app/live-embed/{id}/`; the emulator serves the same path on
    its own origin, so the demo works offline.
    """
    parts = urlsplit(view_link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}/app/live-embed/{board_id}/"


def pages_router() -> APIRouter:
    """Home, sign up, sign in, sign out."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def home(
        request: Request,
        context: ContextDep,
        account: OptionalAccountDep,
        miro_board_id: str | None = None,
        miro_error: str | None = None,
        disconnected: str | None = None,
    ) -> Response:
        if account is None:
            return context.render(request, "landing.html")
        user_id = account.app_user_id
        connection_error = False
        try:
            connection = await context.connector.connection(user_id)
        except MiroConnectError:
            connection, connection_error = None, True
        boards, _ = await context.boards.page(user_id, limit=50)
        newest = boards[0] if boards else None
        embed = live_embed_url(newest.view_link, newest.board_id) if newest else None
        return context.render(
            request,
            "home.html",
            {
                "account": account,
                "connection": connection,
                "connection_error": connection_error,
                "boards": boards,
                "newest": newest,
                "embed_url": embed,
                "created": miro_board_id,
                "failure": failure_text(miro_error) if miro_error else None,
                "disconnected": disconnected is not None,
                # An idempotency key per rendered form: a double submit makes one board.
                "request_id": secrets.token_urlsafe(16),
            },
        )

    @router.get("/signin")
    async def signin_form(request: Request, context: ContextDep) -> Response:
        return context.render(request, "signin.html", {"error": None})

    @router.post("/signin", dependencies=[CSRFDep])
    async def signin(
        request: Request,
        context: ContextDep,
        username: Annotated[str, Form(max_length=200)] = "",
        password: Annotated[str, Form(max_length=PASSWORD_MAX)] = "",
    ) -> Response:
        account = await context.accounts.authenticate(username.strip(), password)
        if account is None:
            return context.render(
                request,
                "signin.html",
                {"error": "Wrong username or password.", "username": username},
                status_code=401,
            )
        response = RedirectResponse("/", status_code=303)
        context.sessions.sign_in(request, response, account.id)
        return response

    @router.get("/signup")
    async def signup_form(request: Request, context: ContextDep) -> Response:
        return context.render(request, "signup.html", {"error": None})

    @router.post("/signup", dependencies=[CSRFDep])
    async def signup(
        request: Request,
        context: ContextDep,
        username: Annotated[str, Form(max_length=200)] = "",
        password: Annotated[str, Form(max_length=PASSWORD_MAX)] = "",
    ) -> Response:
        username = username.strip()
        error = None
        if not _USERNAME.match(username):
            error = "Choose a username of 1-64 letters, digits, dots, dashes or _."
        elif len(password) < PASSWORD_MIN:
            error = f"Choose a password of at least {PASSWORD_MIN} characters."
        if error is None:
            try:
                account = await context.accounts.create(username, password)
            except UsernameTakenError:
                error = "That username is taken."
            else:
                response = RedirectResponse("/", status_code=303)
                context.sessions.sign_in(request, response, account.id)
                return response
        return context.render(
            request,
            "signup.html",
            {"error": error, "username": username},
            status_code=422,
        )

    @router.post("/signout", dependencies=[CSRFDep])
    async def signout(request: Request, context: ContextDep) -> Response:
        response = RedirectResponse("/", status_code=303)
        context.sessions.sign_out(request, response)
        return response

    return router
