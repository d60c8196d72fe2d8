"""`create_app(settings)`: the service API, the connect routes and the reference app."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from miroconnect.config import Settings
from miroconnect.errors import ConfigurationError, CryptoError
from miroconnect.logs import log_event
from miroconnect.oauth.actions import ActionRunner
from miroconnect.storage.db import Database
from miroconnect.storage.sessions import SQLSessionStore
from miroconnect.storage.throttle import SQLThrottle
from miroconnect.types import Clock, system_clock
from miroconnect.web.accounts import AccountStore, BoardStore
from miroconnect.web.api import api_router
from miroconnect.web.connect import connect_router, error_page
from miroconnect.web.connector import Connector
from miroconnect.web.context import WebContext, build_templates
from miroconnect.web.dependencies import (
    CSRFRejectedError,
    SignInRequiredError,
    reference_app_user_id,
)
from miroconnect.web.limits import BodyLimitMiddleware
from miroconnect.web.metrics import CONTENT_TYPE_LATEST, MeteredTransport, Metrics
from miroconnect.web.pages import pages_router
from miroconnect.web.problems import (
    DATABASE_RETRY_AFTER,
    PROBLEM_MEDIA_TYPE,
    ProblemError,
    database_unavailable,
    database_unavailable_response,
    problem_response,
)
from miroconnect.web.reasons import FailureText
from miroconnect.web.requestlog import RequestLogMiddleware, route_label
from miroconnect.web.security import (
    FORM_LIMITS,
    MAX_BODY_BYTES,
    CSRFSigner,
    SecurityMiddleware,
    content_security_policy,
)
from miroconnect.web.sessions import Sessions

__all__ = ["build_context", "create_app", "create_service_app", "install"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _miro_web_origins(settings: Settings) -> list[str]:
    """Origins the pages may frame (live embeds) and send forms' redirects to."""
    origins = {"https://miro.com"}
    auth_origin = _origin(settings.miro_auth_url)
    if auth_origin:
        origins.add(auth_origin)
    return sorted(origins)


def _callback_path(settings: Settings) -> str:
    """The callback's path under `/connect`, from `MIROCONNECT_MIRO_REDIRECT_URI`."""
    path = urlsplit(settings.miro_redirect_uri).path
    if path.startswith("/connect/") and len(path) > len("/connect/"):
        return path[len("/connect") :]
    return "/callback"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _answers_problems(request: Request) -> bool:
    """Whether errors on this path are problem documents (else HTML pages)."""
    return _is_api(request) or request.url.path in ("/healthz", "/readyz")


# The reference app's page while the database is away (reasons.py has the flow's pages).
_DATABASE_UNAVAILABLE_PAGE = FailureText(
    "The app cannot reach its database",
    "The app's database is not answering right now (it may be restarting). "
    "Nothing was lost.",
    "Wait a few seconds and try again.",
)
# Classes a connection-level database failure arrives as: SQLAlchemy's wrapper, asyncpg's
# own errors (raw where SQLAlchemy does not translate them), and the OSError asyncpg raises
# when the server refuses the connection. `database_unavailable` picks the right ones.
_DATABASE_ERROR_CLASSES: tuple[type[Exception], ...] = (
    DBAPIError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


class _RequestTimer:
    """Observes how long each request took, labelled by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            label = route_label(scope)
            self.metrics.http_latency.labels(label, scope["method"]).observe(
                time.perf_counter() - started
            )


def build_context(
    settings: Settings,
    *,
    miro_transport: httpx2.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    connector: Connector | None = None,
    reference_app: bool = False,
    database: Database | None = None,
    runner: ActionRunner | None = None,
) -> WebContext:
    """The services behind the routers (see `create_app` for the arguments)."""
    clock = clock or system_clock
    metrics = Metrics()
    database = database or Database(
        settings.database_url, pool_size=settings.database_pool_size
    )
    transport = MeteredTransport(
        miro_transport or httpx2.AsyncHTTPTransport(retries=0), metrics
    )
    if connector is None:
        from miroconnect.web.wiring import build_connector

        connector = build_connector(
            settings,
            database=database,
            transport=transport,
            clock=clock,
            runner=runner,
        )
    secret_key = settings.secret_key.get_secret_value()
    return WebContext(
        settings=settings,
        database=database,
        connector=connector,
        accounts=AccountStore(database, clock),
        boards=BoardStore(database, clock),
        metrics=metrics,
        templates=build_templates(),
        csrf=CSRFSigner(secret_key),
        sessions=Sessions(SQLSessionStore(database), clock),
        api_keys=tuple(
            key.strip().encode()
            for key in settings.api_keys.get_secret_value().split(",")
            if key.strip()
        ),
        throttle=SQLThrottle(database, clock),
        clock=clock,
        reference_app=reference_app,
        miro_origins=tuple(_miro_web_origins(settings)),
        closers=(connector, transport),
    )


def install(app: FastAPI, context: WebContext, *, prefix: str = "/connect") -> None:
    """Prepare a host FastAPI app for `connect_router`, mounted at `prefix`.

    Sets `app.state.miroconnect`, gives browsers the CSRF cookie (security headers only
    on `prefix`, so the host's own pages keep their policy), answers a failed CSRF
    check with a 403 page, and gives each request under `prefix` a request id
    (`X-Request-ID`, on every event it logs) and an `http.request` event, as
    `create_app` does for all of its requests. Close `context` in the host's lifespan.

    ```python
    context = build_context(Settings())
    install(host, context)
    host.include_router(connect_router(current_user_id), prefix="/connect")
    ```
    """
    app.state.miroconnect = context
    context.templates.env.globals["static_path"] = f"{prefix}/static"
    app.mount(
        f"{prefix}/static",
        StaticFiles(directory=STATIC_DIR),
        name="miroconnect-static",
    )

    @app.exception_handler(CSRFRejectedError)
    async def on_csrf(request: Request, exc: CSRFRejectedError) -> Response:
        return error_page(context, request, "csrf_rejected", status_code=403)

    app.add_middleware(
        SecurityMiddleware,
        csp=content_security_policy(_miro_web_origins(context.settings)),
        header_paths=(prefix,),
    )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=MAX_BODY_BYTES,
        too_large=lambda scope: _too_large(context, scope),
        prefixes=(prefix,),
    )
    # Outermost of ours; the host's own routes pass through it untouched.
    app.add_middleware(RequestLogMiddleware, prefixes=(prefix,))


def create_app(
    settings: Settings,
    *,
    miro_transport: httpx2.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    connector: Connector | None = None,
    reference_app: bool = False,
    database: Database | None = None,
    runner: ActionRunner | None = None,
) -> FastAPI:
    """Build the miroconnect web app.

    * `settings`: the service's settings (`Settings()` reads the environment).
    * `miro_transport`: how to reach Miro; tests pass the emulator's in-process transport.
      Every Miro request goes through it and is counted on `/metrics`.
    * `clock`: the time source (tests move it forward instead of sleeping).
    * `reference_app`: also serve the reference app's pages (accounts, home, boards).
    * `connector`, `runner`, `database`: replace the parts built from `settings`.

    ```python
    app = create_app(Settings(), reference_app=True)
    ```
    """
    context = build_context(
        settings,
        miro_transport=miro_transport,
        clock=clock,
        connector=connector,
        reference_app=reference_app,
        database=database,
        runner=runner,
    )
    database = context.database
    metrics = context.metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await context.aclose()

    app = FastAPI(
        title="miroconnect",
        version="1.0.0",
        summary="Connect your app's users to Miro: create boards for them.",
        lifespan=lifespan,
        redoc_url=None,
        form_limits=FORM_LIMITS,  # type: ignore[arg-type]  # a private TypedDict
    )
    app.state.miroconnect = context
    _install_error_handlers(app, context)
    _install_openapi(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        try:
            async with database.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            # Not ready, whatever the error (a probe repeats: no traceback each time).
            log_event(
                logger,
                "readiness.database_unavailable",
                level=logging.WARNING,
                error_type=type(exc).__name__,
            )
            return database_unavailable_response()
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/connect/done", include_in_schema=False)
    async def done(request: Request) -> Response:
        return context.render(
            request,
            "done.html",
            {
                "board_id": request.query_params.get("miro_board_id"),
                "error": request.query_params.get("miro_error"),
            },
        )

    app.include_router(api_router(), prefix="/api/v1")
    user_dependency: Callable[..., Awaitable[str]] = (
        reference_app_user_id if reference_app else _no_browser_users
    )
    app.include_router(
        connect_router(user_dependency, callback_path=_callback_path(settings)),
        prefix="/connect",
    )
    if reference_app:
        app.include_router(pages_router())
    else:

        @app.get("/", include_in_schema=False)
        async def index(request: Request) -> Response:
            return context.render(request, "service.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="miroconnect-static")
    app.add_middleware(
        SecurityMiddleware,
        csp=content_security_policy(_miro_web_origins(settings)),
    )
    app.add_middleware(_RequestTimer, metrics=metrics)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=MAX_BODY_BYTES,
        too_large=lambda scope: _too_large(context, scope),
    )
    # Outermost: every event of the request, and the timer's, carries its request id.
    app.add_middleware(RequestLogMiddleware)
    if settings.allowed_hosts:
        # Before everything: a request for another host name is refused unread.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    return app


def create_service_app() -> FastAPI:
    """`miroconnect serve`'s app factory: settings from the environment, checked.

    Each worker process calls it (uvicorn `factory=True`), so it sets up the logs too:
    with `--workers N` > 1 the workers are fresh processes that never ran the CLI's
    `main()`. Raises `ConfigurationError` naming every missing setting.
    """
    from miroconnect.logs import configure_logging_from_settings
    from miroconnect.web.checks import settings_problems

    settings = Settings()
    configure_logging_from_settings(settings)
    problems = settings_problems(settings)
    if problems:
        raise ConfigurationError("; ".join(problems))
    return create_app(settings)


async def _no_browser_users() -> str:
    # Without the reference app, no browser is signed in to this service: the
    # browser-facing "Create board" and "Disconnect" are the host app's.
    raise SignInRequiredError


def _install_error_handlers(app: FastAPI, context: WebContext) -> None:
    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(
            exc.status,
            exc.detail,
            reason=exc.reason,
            headers=exc.headers,
            type=exc.type,
            title=exc.title,
        )

    def unavailable(request: Request, exc: BaseException) -> Response:
        log_event(
            logger,
            "http.database_unavailable",
            level=logging.WARNING,
            path=route_label(request.scope),
            error_type=type(exc).__name__,
        )
        if _answers_problems(request):
            return database_unavailable_response()
        page = context.render(
            request,
            "error.html",
            {"reason": "database_unavailable", "text": _DATABASE_UNAVAILABLE_PAGE},
            status_code=503,
        )
        page.headers["retry-after"] = str(DATABASE_RETRY_AFTER)
        return page

    def crashed(request: Request, exc: BaseException) -> Response:
        # Never a stack trace to the client; the log has it (with no secrets in it:
        # our exceptions never carry tokens).
        logger.error("unhandled error on %s", request.url.path, exc_info=exc)
        if _answers_problems(request):
            return problem_response(500, "internal error", reason="internal")
        return error_page(context, request, "internal", status_code=500)

    async def on_database_error(request: Request, exc: Exception) -> Response:
        # Handled here (Starlette's ExceptionMiddleware), not by `on_crash`: nothing is
        # re-raised, so the connection to the client stays usable after a 503. After a
        # bug, as after `on_crash`, the client gets a fresh connection.
        if database_unavailable(exc):
            return unavailable(request, exc)
        return _closing(crashed(request, exc))

    for error_class in _DATABASE_ERROR_CLASSES:
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
        if _answers_problems(request):
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
        if _answers_problems(request):
            return problem_response(exc.status_code, str(exc.detail), reason=reason)
        return error_page(
            context, request, reason or "invalid_request", status_code=exc.status_code
        )

    @app.exception_handler(CSRFRejectedError)
    async def on_csrf(request: Request, exc: CSRFRejectedError) -> Response:
        return error_page(context, request, "csrf_rejected", status_code=403)

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


def _too_large(context: WebContext, scope: Scope) -> Response:
    """The 413 of a body declared over the limit: a problem or a page, unread."""
    request = Request(scope)
    detail = f"the request body is larger than {MAX_BODY_BYTES} bytes"
    if _answers_problems(request):
        return problem_response(413, detail, reason="body_too_large")
    return error_page(context, request, "body_too_large", status_code=413)


def _closing(response: Response) -> Response:
    """`response` with `Connection: close`: the client opens a new connection next time."""
    response.headers["connection"] = "close"
    return response


def _install_openapi(app: FastAPI) -> None:
    """Errors are documented as `application/problem+json`, which they are."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
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
                    response["content"] = {
                        PROBLEM_MEDIA_TYPE: {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
