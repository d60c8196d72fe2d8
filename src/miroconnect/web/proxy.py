"""`/api/v1/users/{user_id}/miro/{path}`: Miro's REST API v2, as the user, for an app in
any language.

`GET|POST|PUT|PATCH|DELETE|HEAD .../miro/v2/boards/...` is sent to Miro with the user's
token (the service API key proves the caller; the user's token never leaves the
service), and Miro's answer comes back as it is: status, body, `Content-Type`,
`Location`, `Retry-After` and `X-RateLimit-*`. Answers of the service itself (a refused
path, no connection) are problem documents (`application/problem+json`, with `reason`);
everything else is Miro's. Each request gets what the typed client gets:

* the path is checked before anything is read or sent (`web/proxy_target.py`: only
  `/v2/...`, at the configured Miro API base, never another host), `400` otherwise
  (`403` for `/v2/oauth/...`);
* no live connection: `409` `not_connected` / `needs_reauth` (`web/live.py`);
* the body is spooled as it arrives (`web/spool.py`), up to `MIROCONNECT_PROXY_MAX_BODY`
  (`413` past it); the answer streams back unless it is small;
* the token is refreshed single-flight when near its end, and once more after a 401;
* credits are booked at the operation's level (`client/routes.py`) on the budget the
  user's other calls share, so a burst waits instead of collecting 429s; a 429 is sent
  again once the credits are back;
* `GET` and `HEAD` are retried after a 5xx or a network error; a `POST` with an
  `Idempotency-Key` goes through the operation journal (`actions/forward.py`): one Miro
  write per key, the first answer replayed to every repeat (`Idempotent-Replayed: true`),
  `POST /v2/boards` reconciled after an ambiguous failure and anything else answered
  `409 outcome_unknown`, never sent twice. Other requests are sent once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx2
from fastapi import APIRouter, Request
from fastapi import Path as FastAPIPath
from starlette.responses import Response, StreamingResponse

from miroconnect.actions.forward import Answer, Forwarder, KeyedRequest
from miroconnect.actions.journal import Journal
from miroconnect.client import MiroClient, RetryPolicy
from miroconnect.client.requester import Requester, credits_for
from miroconnect.client.routes import DEFAULT_LEVEL, route_for
from miroconnect.errors import (
    KeySpentNotSentError,
    MiroAPIError,
    MiroConnectError,
    MiroTransportError,
    NotConnectedError,
    OutcomeUnknownError,
    ReauthorizationRequiredError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.pending import ActionContext
from miroconnect.oauth.tokens import Connection
from miroconnect.web.api_common import (
    UserIdPath,
    idempotency_key_header,
    key_problem,
    reraise_if_not_miros,
)
from miroconnect.web.context import WebContext
from miroconnect.web.dependencies import APIKeyRoute, context_of
from miroconnect.web.live import ReturnURLHeader, connection_required, live_connection
from miroconnect.web.problems import Problem, ProblemError
from miroconnect.web.proxy_target import (
    ProxyTarget,
    TargetForbiddenError,
    TargetRefusedError,
    answer_headers,
    proxy_target,
    request_headers,
)
from miroconnect.web.schemas import ConnectionRequired
from miroconnect.web.spool import IN_MEMORY, SpooledBody, receive_body

__all__ = ["PROXY_PATH", "proxy_router"]

PROXY_PATH = re.compile(r"^/api/v1/users/[^/]+/miro/")
"""The proxy's paths, which take bodies up to `MIROCONNECT_PROXY_MAX_BODY`."""

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
_SAFE = ("GET", "HEAD")
_RETRY = RetryPolicy()

logger = logging.getLogger(__name__)

IdempotencyKeyHeader = Annotated[
    str | None,
    idempotency_key_header(
        "On a POST: Miro gets the request once per key; a repeat with the same key "
        "(and the same path and body) gets the first answer again. Other methods "
        "ignore it."
    ),
]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Miro's answer, as Miro sent it (any status)."},
    "default": {"description": "Miro's answer, as Miro sent it (any status)."},
    400: {
        "model": Problem,
        "description": "`path_not_allowed`: only `/v2/...` of Miro's REST API (no "
        "`..`, encoded slashes or other hosts).",
    },
    401: {"model": Problem, "description": "No API key, or a wrong one."},
    403: {
        "model": Problem,
        "description": "`path_forbidden`: Miro's OAuth endpoints (`/v2/oauth/...`) are "
        "this service's; `return_url_rejected`: X-Miroconnect-Return-Url is not on an "
        "allowed origin.",
    },
    409: {
        "model": ConnectionRequired,
        "description": "`not_connected` or `needs_reauth` (with `authorize_url` when "
        "X-Miroconnect-Return-Url was sent); `outcome_unknown`: the first request "
        "with this Idempotency-Key may have run at Miro, it is not sent again; "
        "`operation_in_progress`: it is still running, retry after `Retry-After`.",
    },
    413: {
        "model": Problem,
        "description": "The body is larger than MIROCONNECT_PROXY_MAX_BODY.",
    },
    422: {
        "model": Problem,
        "description": "A parameter does not validate; `idempotency_key_reused`: the "
        "key was sent before with another method, path or body.",
    },
    500: {"model": Problem, "description": "`vault_key_error`."},
    502: {"model": Problem, "description": "Miro could not be reached."},
    503: {"model": Problem, "description": "The database does not answer."},
}


MiroPath = Annotated[
    str,
    FastAPIPath(
        description="The path at Miro's REST API, from `v2/` on (e.g. "
        "`v2/boards/uXjVOD6LSME=/sticky_notes`), slashes unencoded; the query string "
        "is passed on too. Anything else is refused (400).",
    ),
]


async def proxy(
    request: Request,
    user_id: UserIdPath,
    path: MiroPath,
    idempotency_key: IdempotencyKeyHeader = None,
    return_url: ReturnURLHeader = None,
) -> Response:
    """Send this request to Miro's REST API v2 as the user: `.../miro/v2/boards` is
    `https://api.miro.com/v2/boards`. Miro's answer comes back as it is."""
    context = context_of(request)
    try:
        target = proxy_target(request.scope, path, context.stack.miro.config.api_url)
    except TargetForbiddenError as exc:
        raise ProblemError(403, str(exc), reason="path_forbidden") from None
    except TargetRefusedError as exc:
        raise ProblemError(400, str(exc), reason="path_not_allowed") from None
    connection = await live_connection(context, user_id, return_url)
    method = request.method
    body = None if method in _SAFE else await receive_body(request)
    try:
        build = _builder(
            context, method, target, request_headers(request.headers), body
        )
        credits = await _credits(target, method, body)
        if method == "POST" and idempotency_key is not None and body is not None:
            keyed = await _keyed_request(request, target, body)
            key = f"api:{idempotency_key}"  # the service API's keys, one namespace
            answer = await _forward_keyed(
                context, connection, build, credits, keyed, key
            )
            return _replayable(answer)
        # Without a key: safe methods are retried, others sent once.
        response = await _requester(context, connection).exchange(
            build, credits=credits, idempotent=method in _SAFE, stream=True
        )
        return await _passed_back(response)
    except MiroConnectError as exc:
        raise await _problem(context, user_id, return_url, exc) from None
    finally:
        if body is not None:
            await body.aclose()  # sent: Miro has answered


def _requester(context: WebContext, connection: Connection) -> Requester:
    return Requester(
        context.stack.http,
        context.vault.token_source(connection.id),
        base_url=context.stack.miro.config.api_url,
        pacer=context.stack.pacer,
        retry=_RETRY,
    )


async def _credits(target: ProxyTarget, method: str, body: SpooledBody | None) -> int:
    """What the operation costs: its level, per item of a bulk create's JSON array."""
    route = route_for(method, target.path, target.query_names)
    units = 1
    if route is not None and route.per_item and body is not None:
        items = await body.json_if_small()
        units = max(1, len(items)) if isinstance(items, list) else 1
    return credits_for(route.level if route else DEFAULT_LEVEL, units)


def _builder(
    context: WebContext,
    method: str,
    target: ProxyTarget,
    headers: dict[str, str],
    body: SpooledBody | None,
) -> Callable[[], httpx2.Request]:
    """Makes the request to Miro, anew for each attempt (the body is sent from its
    start each time)."""

    def build() -> httpx2.Request:
        # The client's defaults (headers, timeouts), then the spooled body as stream.
        base = context.stack.http.build_request(method, target.url, headers=headers)
        if body is None:
            return base
        base.headers["content-length"] = str(body.size)
        return httpx2.Request(
            method,
            base.url,
            headers=base.headers,
            stream=body,
            extensions=base.extensions,
        )

    return build


async def _passed_back(response: httpx2.Response) -> Response:
    """Miro's answer to the app: read whole when small, streamed otherwise."""
    headers = answer_headers(response.headers)
    length = response.headers.get("content-length", "")
    if response.request.method == "HEAD" or (
        length.isdigit() and int(length) <= IN_MEMORY
    ):
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return Response(content, status_code=response.status_code, headers=headers)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        finally:
            await response.aclose()

    return StreamingResponse(
        chunks(), status_code=response.status_code, headers=headers
    )


async def _keyed_request(
    request: Request, target: ProxyTarget, body: SpooledBody
) -> KeyedRequest:
    content_type = request.headers.get("content-type", "")
    return KeyedRequest(
        method=request.method,
        path=target.path,
        query=target.query,
        # The boundary is no part of the request (the digest leaves it out too).
        content_type=re.sub(r";\s*boundary=[^;]*", "", content_type).strip().lower(),
        body_sha256=body.sha256,
        json_body=await body.json_if_small(),
    )


async def _forward_keyed(
    context: WebContext,
    connection: Connection,
    build: Callable[[], httpx2.Request],
    credits: int,
    keyed: KeyedRequest,
    key: str,
) -> Answer:
    """A POST with an `Idempotency-Key`: once per key (`actions/forward.py`)."""
    tokens = context.vault.token_source(connection.id)
    requester = _requester(context, connection)

    async def send() -> Answer:
        response = await requester.exchange(build, credits=credits, idempotent=False)
        return Answer(
            response.status_code, answer_headers(response.headers), response.content
        )

    client = MiroClient(
        context.stack.http,
        tokens,
        base_url=context.stack.miro.config.api_url,
        pacer=context.stack.pacer,
        retry=_RETRY,
    )
    forwarder = Forwarder(
        Journal(context.stack.storage.operations, clock=context.clock), retry=_RETRY
    )
    answer = await forwarder.forward(
        key, keyed, ActionContext.of(connection, tokens), client, send
    )
    if answer.replayed:
        log_event(
            logger, "proxy.replayed", connection_id=connection.id, path=keyed.path
        )
    return answer


def _replayable(answer: Answer) -> Response:
    headers = dict(answer.headers)
    if answer.replayed:
        headers["idempotent-replayed"] = "true"
    return Response(answer.body, status_code=answer.status, headers=headers)


async def _problem(
    context: WebContext, user_id: str, return_url: str | None, exc: MiroConnectError
) -> ProblemError:
    """The problem for what went wrong while forwarding."""
    reraise_if_not_miros(exc)
    if isinstance(exc, ReauthorizationRequiredError):
        return await connection_required(context, user_id, "needs_reauth", return_url)
    if isinstance(exc, NotConnectedError):
        return await connection_required(context, user_id, "not_connected", return_url)
    if isinstance(exc, OutcomeUnknownError):
        log_event(
            logger, "proxy.outcome_unknown", level=logging.WARNING, app_user_id=user_id
        )
        return ProblemError(409, str(exc), reason="outcome_unknown")
    if (refused := key_problem(exc)) is not None:
        return refused
    if isinstance(exc, KeySpentNotSentError):
        return ProblemError(502, str(exc), reason="miro_unreachable")
    if isinstance(exc, MiroTransportError | MiroAPIError):
        # A keyed board creation left open: the same key resumes it (reconciling first).
        detail = (
            "Miro could not be reached or failed"
            if not isinstance(exc, MiroTransportError) or exc.maybe_processed
            else "Miro could not be reached; nothing was sent"
        )
        return ProblemError(502, detail, reason="miro_error")
    return ProblemError(502, "the request could not be forwarded", reason="miro_error")


def proxy_router() -> APIRouter:
    """The proxy's routes (mount under `/api/v1`), one per method."""
    router = APIRouter(route_class=APIKeyRoute, tags=["service API: Miro proxy"])
    for method in METHODS:
        router.add_api_route(
            "/users/{user_id}/miro/{path:path}",
            proxy,
            methods=[method],
            name=f"proxy_{method.lower()}",
            response_model=None,
            responses=_RESPONSES,
            include_in_schema=method != "HEAD",
            summary=f"{method} to Miro's REST API v2 as the user",
        )
    return router
