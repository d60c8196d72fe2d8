"""The reference app's own pages: accounts and the home page with the user's boards."""

from __future__ import annotations

import logging
import math
import re
import secrets
from dataclasses import replace
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from miroconnect.errors import MiroConnectError, UsernameTakenError
from miroconnect.logs import log_event
from miroconnect.web.context import WebContext
from miroconnect.web.dependencies import (
    CSRFDep,
    OptionalAccountDep,
    context_of,
)
from miroconnect.web.reasons import failure_text
from miroconnect.web.replies import safe_view_link
from miroconnect.web.security import FORM_LIMITS

__all__ = ["live_embed_url", "pages_router", "router"]

logger = logging.getLogger(__name__)

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# New accounts; the demo's seeded account (demo/demo) is made by `miroconnect demo` itself.
PASSWORD_MIN = 10
PASSWORD_MAX = 256
# Sign-in and sign-up attempts per client address, and failed sign-ins per username, in a
# window of 15 minutes; counted in the database, so every process shares the limit.
THROTTLE_WINDOW = 15 * 60
PER_ADDRESS = 30
PER_USERNAME = 10


def live_embed_url(view_link: str, board_id: str) -> str | None:
    """The live-embed URL of a board, on the same origin as its view link.

    Miro's is `https://miro.com/app/live-embed/{id}/`; the emulator serves the same path on
    its own origin, so the demo works offline.
    """
    parts = urlsplit(view_link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}/app/live-embed/{board_id}/"


router = APIRouter(
    include_in_schema=False,
    form_limits=FORM_LIMITS,  # type: ignore[arg-type]  # a private TypedDict
)


def pages_router() -> APIRouter:
    """Home, sign up, sign in, sign out (mount at the root)."""
    return router


@router.get("/")
async def home(
    request: Request,
    account: OptionalAccountDep,
    board: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The signed-in user's connection, the new-board form, the boards, and one of them
    embedded: `?board=<id>` (a link in the list), the one just created, or the newest.

    The banner comes from the server's one-time message (`miroconnect.web.flash`), never
    from the URL: `miro_board_id`, `miro_error` and `disconnected` are for host apps.
    """
    context = context_of(request)
    if account is None:
        return context.render(request, "landing.html")
    user_id = account.app_user_id
    connection_error = False
    try:
        connection = await context.vault.connection_for(user_id)
    except MiroConnectError:
        connection, connection_error = None, True
    records, _ = await context.boards.page(user_id, limit=50)
    # Links are stored as Miro sent them: checked here, where they become `href`s.
    boards = [
        replace(b, view_link=safe_view_link(b.view_link, context.miro_origins))
        for b in records
    ]
    flash = context.flashes.read(request)
    shown_id = board or (flash.value if flash and flash.kind == "created" else None)
    shown = next((b for b in boards if b.board_id == shown_id), None)
    shown = shown or (boards[0] if boards else None)
    response = context.render(
        request,
        "home.html",
        {
            "account": account,
            "connection": connection,
            "connection_error": connection_error,
            "boards": boards,
            "shown": shown,
            "embed_url": live_embed_url(shown.view_link, shown.board_id)
            if shown
            else None,
            "flash": flash,
            "failure": failure_text(flash.value)
            if flash and flash.kind == "failed"
            else None,
            # An idempotency key per rendered form: a double submit makes one board.
            "request_id": secrets.token_urlsafe(16),
        },
    )
    context.flashes.clear(request, response)
    return response


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    context = context_of(request)
    return context.render(request, "signin.html", {"error": None})


@router.post("/signin", dependencies=[CSRFDep])
async def signin(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=PASSWORD_MAX)] = "",
) -> Response:
    context = context_of(request)
    username = username.strip()
    # A name that cannot exist is answered as a wrong password, without a query.
    known = bool(_USERNAME.match(username))
    wait = await _throttled(context, request)
    if wait is None and known:
        wait = await _username_attempt(context, username)
    if wait is not None:
        # The name is not logged: a password typed into its field would be.
        log_event(
            logger,
            "account.signin_throttled",
            level=logging.WARNING,
            client=_client(request),
            retry_after=wait,
        )
        return _too_many(context, request, "signin.html", wait, username, known)
    account = await context.accounts.authenticate(username, password) if known else None
    if account is None:
        log_event(
            logger,
            "account.signin_failed",
            level=logging.WARNING,
            client=_client(request),
        )
        return context.render(
            request,
            "signin.html",
            {"error": "Wrong username or password.", "username": username}
            if known
            else {"error": "Wrong username or password."},
            status_code=401,
        )
    # Only failures count against the name: the attempt counted for it is given back.
    await context.throttle.give_back(_user_key(username))
    log_event(
        logger, "account.signed_in", account_id=account.id, client=_client(request)
    )
    response = RedirectResponse("/", status_code=303)
    await context.sessions.sign_in(request, response, account.id)
    return response


@router.get("/signup")
async def signup_form(request: Request) -> Response:
    context = context_of(request)
    return context.render(
        request, "signup.html", {"error": None, "password_min": PASSWORD_MIN}
    )


@router.post("/signup", dependencies=[CSRFDep])
async def signup(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=PASSWORD_MAX)] = "",
) -> Response:
    context = context_of(request)
    username = username.strip()
    wait = await _throttled(context, request)
    if wait is not None:
        return _too_many(context, request, "signup.html", wait, username, False)
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
            await context.sessions.sign_in(request, response, account.id)
            return response
    return context.render(
        request,
        "signup.html",
        {
            "error": error,
            "username": username if _USERNAME.match(username) else "",
            "password_min": PASSWORD_MIN,
        },
        status_code=422,
    )


@router.post("/signout", dependencies=[CSRFDep])
async def signout(request: Request) -> Response:
    context = context_of(request)
    response = RedirectResponse("/", status_code=303)
    await context.sessions.sign_out(request, response)
    return response


def _user_key(username: str) -> str:
    return f"signin:user:{username.lower()}"


def _client(request: Request) -> str:
    """The client's address (the proxy's `X-Forwarded-For`, when it is trusted)."""
    return request.client.host if request.client else "unknown"


async def _throttled(context: WebContext, request: Request) -> int | None:
    """Seconds to wait when this client address has tried too often; `None` to go on.
    Counts the attempt against the address."""
    address_key = f"signin:address:{_client(request)}"
    return await _counted(context, address_key, PER_ADDRESS)


async def _username_attempt(context: WebContext, username: str) -> int | None:
    """Count a sign-in attempt against `username` before its password is checked;
    seconds to wait when it already had `PER_USERNAME` failures in the window.

    Counted first, not after a failure: each of many guesses sent at once gets its own
    number from the one atomic upsert, so no more than `PER_USERNAME` of them are ever
    checked (a read before and a count after let all of them through). A success gives
    its attempt back (`SQLThrottle.give_back`).
    """
    return await _counted(context, _user_key(username), PER_USERNAME)


async def _counted(context: WebContext, key: str, limit: int) -> int | None:
    """Count one attempt against `key`; seconds until its window ends when that makes
    more than `limit`, else `None`."""
    window = await context.throttle.hit(key, window_seconds=THROTTLE_WINDOW)
    if window.count > limit:
        return max(1, math.ceil(window.ends_at - context.clock().timestamp()))
    return None


def _too_many(
    context: WebContext,
    request: Request,
    template: str,
    wait: int,
    username: str,
    show_username: bool,
) -> Response:
    minutes = max(1, math.ceil(wait / 60))
    page = context.render(
        request,
        template,
        {
            "error": f"Too many attempts. Try again in {minutes} minute"
            + ("s." if minutes > 1 else "."),
            "username": username if show_username else "",
            "password_min": PASSWORD_MIN,
        },
        status_code=429,
    )
    page.headers["retry-after"] = str(wait)
    return page
