"""The connect router: "Create board on Miro", Miro's callback, launch links, Disconnect.

A host FastAPI app mounts it behind its own login by passing a dependency that returns
the current user's id; the reference app is built on it the same way:

```python
app.include_router(connect_router(current_user_id), prefix="/connect")
```

Every handler is thin: it asks the connect flow (`context.flow`) or the vault and turns the
answer into a redirect or a page. Nothing secret reaches a URL we build or a page.

The browser lands on `home_url` with `miro_board_id` (or `miro_error`, `disconnected`) for
the host app to read. The reference app reads none of them: its home page shows what the
server put in a one-time message (`miroconnect.web.flash`) instead of what a URL says.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from miroconnect.actions import CreateBoard
from miroconnect.errors import (
    AuthorizationError,
    CryptoError,
    MiroConnectError,
    NotConnectedError,
    SignInRequiredError,
)
from miroconnect.oauth.outcomes import ActionDone, FlowHeld, FlowStart
from miroconnect.web.context import WebContext
from miroconnect.web.dependencies import CSRFDep, context_of, database_ready
from miroconnect.web.flash import Flash
from miroconnect.web.popup import back_to_app, keep_opener
from miroconnect.web.replies import board_record, error_page, with_query
from miroconnect.web.security import FORM_LIMITS, cookie_is_secure, cookie_name

__all__ = ["BINDING_COOKIE", "connect_router", "signed_in_or_none"]

logger = logging.getLogger(__name__)

BINDING_COOKIE = "mc_flow"
BINDING_MAX_AGE = 10 * 60  # the lifetime of a pending authorization, in seconds
# The form's idempotency key, as the pages render it (`secrets.token_urlsafe(16)`).
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def _to_miro(context: WebContext, request: Request, start: FlowStart) -> Response:
    """303 to Miro's consent page, binding this browser to the flow (a cookie)."""
    response = RedirectResponse(start.authorize_url, status_code=303)
    response.set_cookie(
        cookie_name(BINDING_COOKIE, request.scope),
        start.binding_cookie_value,
        max_age=BINDING_MAX_AGE,
        httponly=True,
        # Lax: the cookie must come back on Miro's top-level redirect to our callback.
        samesite="lax",
        secure=cookie_is_secure(request.scope),
    )
    context.metrics.flows_started.inc()
    return response


def _home_link(context: WebContext, home_url: str) -> str | None:
    """Where an error page's "Back to the app" leads: the host's home, except on the
    service (`context.home_url` is `None`), whose users came from another app."""
    return home_url if context.home_url is not None else None


def _landing(
    context: WebContext, request: Request, target: str, flash: Flash
) -> Response:
    """303 to `target`; in the reference app, with `flash` for its home page to show."""
    response = RedirectResponse(target, status_code=303)
    if context.reference_app:
        context.flashes.set(request, response, flash)
    return response


def _failure(
    context: WebContext,
    request: Request,
    exc: MiroConnectError,
    what: str,
    home_url: str,
) -> Response:
    """The page for a failed click: the flow's reason, or Miro's error."""
    if isinstance(exc, CryptoError):
        raise exc  # the app's keys, not Miro: the 500 vault_key_error page
    logger.warning("%s failed: %s", what, type(exc).__name__)
    reason = exc.reason if isinstance(exc, AuthorizationError) else "miro_error"
    return error_page(
        context,
        request,
        reason,
        status_code=502,
        back_url=_home_link(context, home_url),
    )


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
      rendered form: 1-100 letters, digits, `-` or `_`), `csrf_token`; creates the board
      now, or goes through consent first.
    * `GET {callback_path}`: Miro's redirect back; finishes the flow and the action.
      It does not require the host's login (the binding cookie proves the browser), but
      when `get_current_user_id` names a signed-in user, a flow started for another
      user is refused (`user_mismatch`): a signed-out callback completes, a callback in
      a different user's session does not (see `signed_in_or_none`). A service-mode
      flow ends held instead, at its return URL with `miro_result`.
    * `GET /launch/{token}`: the one-time link of service mode.
    * `POST /reconnect`: consent again, with nothing pending.
    * `POST /disconnect`: revoke at Miro and forget the tokens.
    """
    router = APIRouter(
        include_in_schema=False,
        form_limits=FORM_LIMITS,  # type: ignore[arg-type]  # a private TypedDict
        dependencies=[Depends(database_ready)],
    )
    # A default, not an `Annotated` alias: with postponed annotations FastAPI resolves
    # names in the module's globals, where a local alias does not exist.
    current_user = Depends(get_current_user_id)
    signed_in_user = Depends(signed_in_or_none(get_current_user_id))

    @router.post("/boards", dependencies=[CSRFDep])
    async def create_board(
        request: Request,
        user_id: str = current_user,
        name: Annotated[str, Form()] = "",
        description: Annotated[str, Form()] = "",
        request_id: Annotated[str, Form()] = "",
    ) -> Response:
        context = context_of(request)
        back = _home_link(context, home_url)
        try:
            board = CreateBoard(
                name=name.strip(), description=description.strip() or None
            )
        except ValidationError:
            if context.reference_app:  # said next to the form, the name kept
                return _landing(context, request, home_url, Flash("invalid_name", name))
            return error_page(
                context,
                request,
                "invalid_board_name",
                status_code=422,
                back_url=back,
            )
        key = request_id.strip()
        if key and not _REQUEST_ID.fullmatch(key):
            return error_page(
                context, request, "invalid_request", status_code=422, back_url=back
            )
        # Operations are keyed by (app user, key): the user needs no place in it.
        action = board.pending(f"form:{key}" if key else None)
        try:
            answer = await context.flow.run_or_authorize(user_id, action, home_url)
        except MiroConnectError as exc:
            context.metrics.actions.labels(CreateBoard.kind, "failed").inc()
            return _failure(context, request, exc, "create board", home_url)
        if not isinstance(answer, ActionDone):
            assert isinstance(answer.start, FlowStart)  # noqa: S101  # browser mode
            return _to_miro(context, request, answer.start)
        record = board_record(context, answer.result, board.name)
        if record is None:
            return RedirectResponse(home_url, status_code=303)
        target = with_query(home_url, miro_board_id=record.board_id)
        return _landing(context, request, target, Flash("created", record.board_id))

    @router.get(callback_path)
    async def callback(
        request: Request,
        state: str | None = None,
        code: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
        user_id: str | None = signed_in_user,
    ) -> Response:
        context = context_of(request)
        response = await _finish(
            context,
            request,
            state=state,
            code=code,
            error=error,
            error_description=error_description,
            user_id=user_id,
            home_url=home_url,
        )
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
    async def launch(request: Request, token: str) -> Response:
        context = context_of(request)
        try:
            start = await context.flow.launch(token)
        except AuthorizationError as exc:
            context.metrics.flows_failed.labels(exc.reason).inc()
            response = error_page(context, request, exc.reason)
        else:
            # A redirect makes no page: it may as well let a popup keep its opener.
            response = keep_opener(_to_miro(context, request, start))
        response.headers["referrer-policy"] = "no-referrer"
        return response

    @router.post("/reconnect", dependencies=[CSRFDep])
    async def reconnect(request: Request, user_id: str = current_user) -> Response:
        context = context_of(request)
        try:
            start = await context.flow.start(user_id, None, home_url)
        except MiroConnectError as exc:
            return _failure(context, request, exc, "reconnect", home_url)
        return _to_miro(context, request, start)

    @router.post("/disconnect", dependencies=[CSRFDep])
    async def disconnect(request: Request, user_id: str = current_user) -> Response:
        context = context_of(request)
        try:
            await context.vault.disconnect(app_user_id=user_id)
        except NotConnectedError:
            pass  # nothing to disconnect: the same page as after a disconnect
        except MiroConnectError as exc:
            return _failure(context, request, exc, "disconnect", home_url)
        target = with_query(home_url, disconnected="1")
        return _landing(context, request, target, Flash("disconnected"))

    return router


async def _finish(
    context: WebContext,
    request: Request,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    error_description: str | None,
    user_id: str | None,
    home_url: str,
) -> Response:
    """The callback's answer: where the flow ends, or why it did not."""
    try:
        outcome = await context.flow.complete(
            state=state,
            code=code,
            error=error,
            error_description=error_description,
            binding_cookie_value=request.cookies.get(
                cookie_name(BINDING_COOKIE, request.scope)
            ),
            app_user_id=user_id,
        )
    except AuthorizationError as exc:
        context.metrics.flows_failed.labels(exc.reason).inc()
        # A flow that ends on another site (service mode, an allow-listed return URL)
        # goes back there with `miro_error`, so that app says what happened in its own
        # words; a flow that ends on our own pages gets our page for the reason, whose
        # "Back to the app" leads to that return URL with `miro_error`. A browser that is
        # not the flow's own has no return URL (it is not sent on to the app's page).
        if exc.return_url and exc.return_url.startswith(("http://", "https://")):
            return back_to_app(
                context, request, exc.return_url, exc.display, miro_error=exc.reason
            )
        back = (
            with_query(exc.return_url, miro_error=exc.reason)
            if exc.return_url
            else _home_link(context, home_url)
        )
        return error_page(context, request, exc.reason, back_url=back)
    except MiroConnectError as exc:
        if not isinstance(exc, CryptoError):
            context.metrics.flows_failed.labels("miro_error").inc()
        # A CryptoError is the app's keys, not Miro: `_failure` raises it (the 500
        # vault_key_error page).
        return _failure(context, request, exc, "callback", home_url)
    context.metrics.flows_completed.inc()
    if isinstance(outcome, FlowHeld):
        # Service mode: the host app's backend confirms which of its users this is.
        return back_to_app(
            context,
            request,
            outcome.return_url,
            outcome.display,
            miro_result=outcome.result_token,
        )
    if outcome.action_error is not None:
        # Consent worked and the connection is stored; the board was not made. The app
        # behind `return_url` says so in its own words.
        context.metrics.actions.labels(CreateBoard.kind, "failed").inc()
        target = with_query(outcome.return_url, miro_error="action_failed")
        return _landing(context, request, target, Flash("failed", "action_failed"))
    record = None
    if outcome.action_result is not None:
        record = board_record(context, outcome.action_result, "")
    if record is not None:
        target = with_query(outcome.return_url, miro_board_id=record.board_id)
        return _landing(context, request, target, Flash("created", record.board_id))
    return RedirectResponse(outcome.return_url, status_code=303)
