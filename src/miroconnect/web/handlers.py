"""How the web app answers what went wrong: problem documents on the API, pages elsewhere.

`install_error_handlers` registers one handler per kind of failure: our problem errors,
a database that cannot be reached (`503` with `Retry-After`, the connection kept), a token
that does not decrypt (`500 vault_key_error`), invalid input, HTTP errors, CSRF, sign-in,
and, last, anything else (`500`, never a stack trace, `Connection: close`).
`install_openapi` documents every error response as `application/problem+json`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response
from starlette.types import Scope

from miroconnect.errors import (
    CryptoError,
    CSRFRejectedError,
    DatabaseNotReadyError,
    SignInRequiredError,
)
from miroconnect.logs import log_event
from miroconnect.storage.outage import DATABASE_ERROR_CLASSES, database_unavailable
from miroconnect.web.context import WebContext
from miroconnect.web.problems import (
    DATABASE_RETRY_AFTER,
    PROBLEM_MEDIA_TYPE,
    ProblemError,
    database_unavailable_response,
    problem_response,
)
from miroconnect.web.reasons import FailureText
from miroconnect.web.replies import error_page
from miroconnect.web.requestlog import route_label
from miroconnect.web.security import MAX_BODY_BYTES

__all__ = [
    "answers_problems",
    "install_connect_handlers",
    "install_error_handlers",
    "install_openapi",
    "too_large",
]

logger = logging.getLogger(__name__)

# The reference app's page while the database is away (reasons.py has the flow's pages).
_DATABASE_UNAVAILABLE_PAGE = FailureText(
    "The app cannot reach its database",
    "The app's database is not answering right now (it may be restarting). "
    "Nothing was lost.",
    "Wait a few seconds and try again.",
)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def answers_problems(request: Request) -> bool:
    """Whether errors on this path are problem documents (else HTML pages)."""
    return _is_api(request) or request.url.path in ("/healthz", "/readyz")


def too_large(
    context: WebContext, scope: Scope, limit: int = MAX_BODY_BYTES
) -> Response:
    """The 413 of a body declared over `limit`: a problem or a page, unread."""
    request = Request(scope)
    detail = f"the request body is larger than {limit} bytes"
    if answers_problems(request):
        return problem_response(413, detail, reason="body_too_large")
    return error_page(context, request, "body_too_large", status_code=413)


def install_connect_handlers(app: FastAPI, context: WebContext) -> None:
    """The answers the connect routes need in any app, a host's included: a failed CSRF
    check (403 page) and a database without this version's tables (503 page, and one
    log line saying to run `miroconnect db upgrade`)."""

    @app.exception_handler(CSRFRejectedError)
    async def on_csrf(request: Request, exc: CSRFRejectedError) -> Response:
        return error_page(context, request, "csrf_rejected", status_code=403)

    @app.exception_handler(DatabaseNotReadyError)
    async def on_not_ready(request: Request, exc: DatabaseNotReadyError) -> Response:
        log_event(
            logger,
            "database.not_ready",
            level=logging.ERROR,
            path=route_label(request.scope),
            problem=str(exc),
        )
        if answers_problems(request):
            return problem_response(503, str(exc), reason="database_not_ready")
        return error_page(context, request, "database_not_ready", status_code=503)


def install_error_handlers(app: FastAPI, context: WebContext) -> None:
    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(
            exc.status,
            exc.detail,
            reason=exc.reason,
            headers=exc.headers,
            type=exc.type,
            title=exc.title,
            extensions=exc.extensions,
        )

    def unavailable(request: Request, exc: BaseException) -> Response:
        log_event(
            logger,
            "http.database_unavailable",
            level=logging.WARNING,
            path=route_label(request.scope),
            error_type=type(exc).__name__,
        )
        if answers_problems(request):
            return database_unavailable_response()
        page = context.render(
            request,
            "error.html",
            {
                "reason": "database_unavailable",
                "text": _DATABASE_UNAVAILABLE_PAGE,
                "back_url": context.home_url,
            },
            status_code=503,
        )
        page.headers["retry-after"] = str(DATABASE_RETRY_AFTER)
        return page

    def crashed(request: Request, exc: BaseException) -> Response:
        # Never a stack trace to the client; the log has it (with no secrets in it:
        # our exceptions never carry tokens).
        logger.error("unhandled error on %s", request.url.path, exc_info=exc)
        if answers_problems(request):
            return problem_response(500, "internal error", reason="internal")
        return error_page(context, request, "internal", status_code=500)

    async def on_database_error(request: Request, exc: Exception) -> Response:
        # Handled here (Starlette's ExceptionMiddleware), not by `on_crash`: nothing is
        # re-raised, so the connection to the client stays usable after a 503. After a
        # bug, as after `on_crash`, the client gets a fresh connection.
        if database_unavailable(exc):
            return unavailable(request, exc)
        return _closing(crashed(request, exc))

    for error_class in DATABASE_ERROR_CLASSES:
        app.add_exception_handler(error_class, on_database_error)

    @app.exception_handler(CryptoError)
    async def on_vault_key(request: Request, exc: CryptoError) -> Response:
        # A stored token does not open with the configured keys: the operator's problem
        # (MIROCONNECT_ENCRYPTION_KEYS), not Miro's. The key id helps; never the key.
        log_event(
            logger,
            "vault.key_error",
            level=logging.ERROR,
            path=route_label(request.scope),
            error_type=type(exc).__name__,
            key_id=getattr(exc, "key_id", None),
        )
        if answers_problems(request):
            return problem_response(
                500,
                "a stored token does not decrypt with the configured encryption keys",
                reason="vault_key_error",
            )
        return error_page(context, request, "vault_key_error", status_code=500)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", ""))}
            for error in exc.errors()
        ]
        logger.info("invalid request on %s: %s", request.url.path, errors)
        if _is_api(request):
            return problem_response(
                422, "the request does not validate", reason="invalid", errors=errors
            )
        return error_page(context, request, "invalid_request", status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        reason = {404: "not_found", 413: "body_too_large"}.get(exc.status_code)
        if answers_problems(request):
            return problem_response(exc.status_code, str(exc.detail), reason=reason)
        return error_page(
            context, request, reason or "invalid_request", status_code=exc.status_code
        )

    install_connect_handlers(app, context)

    @app.exception_handler(SignInRequiredError)
    async def on_signin(request: Request, exc: SignInRequiredError) -> Response:
        if not context.reference_app:
            return error_page(context, request, "not_found", status_code=404)
        return RedirectResponse("/signin", status_code=303)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        # Starlette's ServerErrorMiddleware sends this answer and then re-raises `exc`,
        # and uvicorn closes the connection of a request that raised. `_closing` says so
        # in the answer: a client that pooled the connection would otherwise send its
        # next request on it and see it reset with no answer at all.
        if database_unavailable(exc):  # e.g. wrapped in an error of ours
            return _closing(unavailable(request, exc))
        return _closing(crashed(request, exc))


def _closing(response: Response) -> Response:
    """`response` with `Connection: close`: the client opens a new connection next time."""
    response.headers["connection"] = "close"
    return response


def install_openapi(app: FastAPI) -> None:
    """Errors are documented as `application/problem+json`, which they are; the
    webhook events (`miroconnect.web.webhooks`) as answered by any 2xx."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
            webhooks=app.webhooks.routes,
        )
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[
            "bearer"
        ] = {"type": "http", "scheme": "bearer"}
        schema["security"] = [{"bearer": []}]
        components = schema["components"]["schemas"]
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                for status, response in operation.get("responses", {}).items():
                    if not status.startswith(("4", "5")):
                        continue
                    # A route's own problem model (a `Problem` with more members) is
                    # kept; FastAPI's validation error is our `Problem` too.
                    declared = response.get("content", {}).get("application/json", {})
                    problem = declared.get("schema", {})
                    if not problem or problem.get("$ref", "").endswith(
                        "/HTTPValidationError"
                    ):
                        problem = {"$ref": "#/components/schemas/Problem"}
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem}}
        for path_item in schema.get("webhooks", {}).values():
            for operation in path_item.values():
                # What the host app answers us (`miroconnect.web.webhooks`).
                operation["responses"] = {
                    "2XX": {"description": "Delivered; anything else is retried."}
                }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
