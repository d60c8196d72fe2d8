"""The connect router: "Create board on Miro", Miro's callback, launch links, Disconnect.

A host FastAPI app mounts it behind its own login by passing a dependency that returns
the current user's id; the reference app is built on it the same way:

```python
app.include_router(connect_router(current_user_id), prefix="/connect")
```

Every handler is thin: it asks the `Connector` (flow + vault + actions) and turns the
answer into a redirect or a page. Nothing secret reaches a URL we build or a page.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from miroconnect.errors import AuthorizationError, MiroConnectError
from miroconnect.oauth.actions import ActionResult, PendingAction
from miroconnect.web.accounts import BoardRecord
from miroconnect.web.connector import (
    AuthorizationNeeded,
    CallbackFailedError,
    CallbackOutcome,
)
from miroconnect.web.context import WebContext
from miroconnect.web.dependencies import ContextDep, CSRFDep, SignInRequiredError
from miroconnect.web.reasons import failure_text
from miroconnect.web.security import FORM_LIMITS, cookie_is_secure, cookie_name

__all__ = [
    "BINDING_COOKIE",
    "BOARD_NAME_MAX",
    "connect_router",
    "csrf_token",
    "error_page",
    "record_board",
    "safe_view_link",
    "signed_in_or_none",
    "with_query",
]

logger = logging.getLogger(__name__)

BINDING_COOKIE = "mc_flow"
BINDING_MAX_AGE = 10 * 60  # the lifetime of a pending authorization, in seconds
BOARD_NAME_MAX = 60  # Miro's limit on a board name
BOARD_DESCRIPTION_MAX = 300  # Miro's limit on a board description
# The form's idempotency key, as the pages render it (`secrets.token_urlsafe(16)`).
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def csrf_token(request: Request) -> str:
    """The CSRF token a host app's form posting to the connect routes must carry
    (as the `csrf_token` field)."""
    context: WebContext = request.app.state.miroconnect
    return context.csrf.token_for(request)


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query string."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in params] + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def error_page(
    context: WebContext, request: Request, reason: str, *, status_code: int = 400
) -> Response:
    """The page for one failure reason: what happened and what to do."""
    return context.render(
        request,
        "error.html",
        {"reason": reason, "text": failure_text(reason)},
        status_code=status_code,
    )


def safe_view_link(link: object, origins: Iterable[str]) -> str:
    """`link` if it is an https link on one of Miro's web `origins` (or the configured
    emulator's, which is the only origin that may be plain http), else `""`.

    A board's `viewLink` comes from Miro's answer and goes into an `href`: a
    `javascript:` or foreign link must never get there.
    """
    if not isinstance(link, str) or len(link) > 2048:
        return ""
    try:
        parts = urlsplit(link)
        port = parts.port
    except ValueError:
        return ""
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return ""
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in link):
        return ""
    for origin in origins:
        allowed = urlsplit(origin)
        if (
            parts.scheme == allowed.scheme
            and parts.hostname == allowed.hostname
            and port == allowed.port
        ):
            return link
    return ""


async def record_board(
    context: WebContext, app_user_id: str, result: ActionResult, name: str
) -> BoardRecord | None:
    """Remember a board an action created (`None` if none was made). Recording the same
    board again returns the first record, so a repeated call answers what the first did.
    """
    board_id = result.data.get("board_id")
    if not isinstance(board_id, str) or not board_id:
        return None
    record = await context.boards.record(
        app_user_id,
        board_id,
        str(result.data.get("name") or name),
        safe_view_link(result.data.get("view_link"), context.miro_origins),
    )
    context.metrics.actions.labels(result.kind, "done").inc()
    return record


def _set_binding_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        cookie_name(BINDING_COOKIE, request.scope),
        value,
        max_age=BINDING_MAX_AGE,
        httponly=True,
        # Lax: the cookie must come back on Miro's top-level redirect to our callback.
        samesite="lax",
        secure=cookie_is_secure(request.scope),
    )


def _to_miro(
    context: WebContext, request: Request, needed: AuthorizationNeeded
) -> Response:
    response = RedirectResponse(needed.authorize_url, status_code=303)
    if needed.binding_cookie_value is not None:
        _set_binding_cookie(request, response, needed.binding_cookie_value)
        context.metrics.flows_started.inc()
    return response


def signed_in_or_none(
    get_current_user_id: Callable[..., Awaitable[str]] | Callable[..., str],
) -> Callable[..., Awaitable[str | None]]:
    """`get_current_user_id` as a dependency that answers `None` when nobody is signed in.

    The host's dependency says "nobody" by raising `HTTPException` (a 401, a redirect to
    its login) or `SignInRequiredError`. Its own parameters are resolved by FastAPI as
    usual (same signature); a sub-dependency that raises still ends the request.
    """
    call: Callable[..., Any] = get_current_user_id
    signature = inspect.signature(call, eval_str=True)
    # A function, or an instance of a class with `async def __call__`.
    is_async = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        type(call).__call__
    )

    async def optional_user_id(**kwargs: Any) -> str | None:
        try:
            if is_async:
                return str(await call(**kwargs))
            # A plain `def` runs in the thread pool, as FastAPI would run it.
            return str(await run_in_threadpool(call, **kwargs))
        except (HTTPException, SignInRequiredError):
            return None

    # FastAPI reads the parameters to resolve from the signature.
    optional_user_id.__signature__ = signature.replace(  # type: ignore[attr-defined]
        return_annotation=str | None
    )
    return optional_user_id


def connect_router(
    get_current_user_id: Callable[..., Awaitable[str]] | Callable[..., str],
    *,
    callback_path: str = "/callback",
    home_url: str = "/",
) -> APIRouter:
    """The connect routes, for users identified by `get_current_user_id`.

    `get_current_user_id` is a FastAPI dependency of the host app: it returns the signed-in
    user's id, or raises (e.g. a redirect to the host's login). The router needs
    `create_app`'s (or `install`'s) `WebContext` on `app.state.miroconnect`.

    Routes (relative to the prefix the host mounts it at):

    * `POST /boards`: form `name`, `description`, `request_id` (an idempotency key per
      rendered form), `csrf_token`; creates the board now, or goes through consent first.
    * `GET {callback_path}`: Miro's redirect back; finishes the flow and the action.
      It does not require the host's login (the binding cookie proves the browser), but
      when `get_current_user_id` names a signed-in user, a flow started for another
      user is refused (`user_mismatch`): a signed-out callback completes, a callback in
      a different user's session does not (see `signed_in_or_none`).
    * `GET /launch/{token}`: the one-time link of service mode.
    * `POST /reconnect`: consent again, with nothing pending.
    * `POST /disconnect`: revoke at Miro and forget the tokens.
    """
    router = APIRouter(
        include_in_schema=False,
        form_limits=FORM_LIMITS,  # type: ignore[arg-type]  # a private TypedDict
    )
    # A default, not an `Annotated` alias: with postponed annotations FastAPI resolves
    # names in the module's globals, where a local alias does not exist.
    current_user = Depends(get_current_user_id)
    signed_in_user = Depends(signed_in_or_none(get_current_user_id))

    @router.post("/boards", dependencies=[CSRFDep])
    async def create_board(
        request: Request,
        context: ContextDep,
        user_id: str = current_user,
        name: Annotated[str, Form()] = "",
        description: Annotated[str, Form()] = "",
        request_id: Annotated[str, Form()] = "",
    ) -> Response:
        name = name.strip()
        if not name or len(name) > BOARD_NAME_MAX or not name.isprintable():
            return error_page(context, request, "invalid_board_name", status_code=422)
        description = description.strip()
        if len(description) > BOARD_DESCRIPTION_MAX or not description.isprintable():
            return error_page(context, request, "invalid_board_name", status_code=422)
        key = request_id.strip()
        if key and not _REQUEST_ID.fullmatch(key):
            return error_page(context, request, "invalid_request", status_code=422)
        params: dict[str, Any] = {"name": name}
        if description:
            params["description"] = description
        action = PendingAction(
            "create_board",
            params,
            # Operations are keyed by (app user, key): the user needs no place in it.
            idempotency_key=f"form:{key}" if key else None,
        )
        try:
            answer = await context.connector.run_or_authorize(user_id, action, home_url)
        except MiroConnectError as exc:
            logger.warning("create board failed: %s", type(exc).__name__)
            context.metrics.actions.labels("create_board", "failed").inc()
            return error_page(context, request, _reason_of(exc), status_code=502)
        if isinstance(answer, AuthorizationNeeded):
            return _to_miro(context, request, answer)
        record = await record_board(context, user_id, answer, name)
        target = (
            with_query(home_url, miro_board_id=record.board_id) if record else home_url
        )
        return RedirectResponse(target, status_code=303)

    @router.get(callback_path)
    async def callback(
        request: Request,
        context: ContextDep,
        state: str | None = None,
        code: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
        user_id: str | None = signed_in_user,
    ) -> Response:
        try:
            outcome = await context.connector.complete(
                state=state,
                code=code,
                error=error,
                error_description=error_description,
                binding_cookie_value=request.cookies.get(
                    cookie_name(BINDING_COOKIE, request.scope)
                ),
                app_user_id=user_id,
            )
        except CallbackFailedError as exc:
            context.metrics.flows_failed.labels(exc.reason).inc()
            response = _callback_failure(context, request, exc.reason, exc.return_url)
        except AuthorizationError as exc:
            context.metrics.flows_failed.labels(exc.reason).inc()
            response = error_page(context, request, exc.reason)
        except MiroConnectError as exc:
            logger.warning("callback failed: %s", type(exc).__name__)
            context.metrics.flows_failed.labels("miro_error").inc()
            response = error_page(context, request, "miro_error", status_code=502)
        else:
            context.metrics.flows_completed.inc()
            response = await _callback_success(context, request, outcome)
        # The callback URL carries the code: it must not leak as a Referer, and the
        # 303 keeps it out of the history. The binding cookie has done its job.
        response.headers["referrer-policy"] = "no-referrer"
        response.delete_cookie(
            cookie_name(BINDING_COOKIE, request.scope),
            httponly=True,
            samesite="lax",
            secure=cookie_is_secure(request.scope),
        )
        return response

    @router.get("/launch/{token}")
    async def launch(request: Request, context: ContextDep, token: str) -> Response:
        try:
            needed = await context.connector.launch(token)
        except AuthorizationError as exc:
            context.metrics.flows_failed.labels(exc.reason).inc()
            response = error_page(context, request, exc.reason)
        else:
            response = _to_miro(context, request, needed)
        response.headers["referrer-policy"] = "no-referrer"
        return response

    @router.post("/reconnect", dependencies=[CSRFDep])
    async def reconnect(
        request: Request, context: ContextDep, user_id: str = current_user
    ) -> Response:
        try:
            needed = await context.connector.reconnect(user_id, home_url)
        except MiroConnectError as exc:
            logger.warning("reconnect failed: %s", type(exc).__name__)
            return error_page(context, request, _reason_of(exc), status_code=502)
        return _to_miro(context, request, needed)

    @router.post("/disconnect", dependencies=[CSRFDep])
    async def disconnect(
        request: Request, context: ContextDep, user_id: str = current_user
    ) -> Response:
        try:
            await context.connector.disconnect(user_id)
        except MiroConnectError as exc:
            logger.warning("disconnect failed: %s", type(exc).__name__)
            return error_page(context, request, "miro_error", status_code=502)
        return RedirectResponse(with_query(home_url, disconnected="1"), 303)

    return router


def _reason_of(exc: MiroConnectError) -> str:
    if isinstance(exc, AuthorizationError):
        return exc.reason
    return "miro_error"


def _callback_failure(
    context: WebContext, request: Request, reason: str, return_url: str | None
) -> Response:
    # A flow that ends on another site (service mode, an allow-listed return URL) goes
    # back there with `miro_error`, so that app can say what happened in its own words;
    # a flow that ends on our own pages gets our page for the reason.
    if return_url and urlsplit(return_url).scheme in ("http", "https"):
        return RedirectResponse(with_query(return_url, miro_error=reason), 303)
    return error_page(context, request, reason)


async def _callback_success(
    context: WebContext, request: Request, outcome: CallbackOutcome
) -> Response:
    if outcome.result_token is not None:
        # Service mode: the host app's backend confirms which of its users this is.
        target = with_query(outcome.return_url, miro_result=outcome.result_token)
        return RedirectResponse(target, status_code=303)
    board_id = None
    if outcome.result is not None and outcome.app_user_id is not None:
        record = await record_board(context, outcome.app_user_id, outcome.result, "")
        board_id = record.board_id if record else None
    if outcome.action_failed:
        # Consent worked and the connection is stored; the board was not made. The app
        # behind `return_url` says so in its own words.
        context.metrics.actions.labels("create_board", "failed").inc()
        target = with_query(outcome.return_url, miro_error="action_failed")
    elif board_id is not None:
        target = with_query(outcome.return_url, miro_board_id=board_id)
    else:
        target = outcome.return_url
    return RedirectResponse(target, status_code=303)
