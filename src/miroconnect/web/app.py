"""`create_app(settings)`: the service API, the connect routes and the reference app.

Also `build_context` + `install` for a host FastAPI app that mounts the connect routes
behind its own login, and `create_service_app`, the factory `miroconnect serve` runs in
each worker.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import FileResponse, JSONResponse, Response

from miroconnect.assembly import build_stack
from miroconnect.config import Settings
from miroconnect.errors import (
    ConfigurationError,
    SignInRequiredError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.pending import ActionRunner
from miroconnect.storage.db import Database
from miroconnect.types import Clock, system_clock
from miroconnect.web.accounts import Accounts
from miroconnect.web.api import api_router
from miroconnect.web.checks import settings_problems
from miroconnect.web.connect import connect_router
from miroconnect.web.context import WebContext, build_templates
from miroconnect.web.dependencies import reference_app_user_id
from miroconnect.web.docs import install_docs
from miroconnect.web.flash import Flashes
from miroconnect.web.handlers import (
    install_connect_handlers,
    install_error_handlers,
    install_openapi,
    too_large,
)
from miroconnect.web.limits import BodyLimitMiddleware
from miroconnect.web.metrics import CONTENT_TYPE_LATEST, MeteredTransport, Metrics
from miroconnect.web.pages import pages_router
from miroconnect.web.problems import database_unavailable_response
from miroconnect.web.proxy import PROXY_PATH, proxy_router
from miroconnect.web.reasons import known_reasons
from miroconnect.web.requestlog import RequestLogMiddleware
from miroconnect.web.security import (
    FORM_LIMITS,
    MAX_BODY_BYTES,
    CSRFSigner,
    SecurityMiddleware,
    content_security_policy,
)
from miroconnect.web.sessions import Sessions
from miroconnect.web.token_api import token_router
from miroconnect.web.webhooks import install_webhooks

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


def _public_url(settings: Settings) -> str:
    """This service's public origin: the origin of its Miro redirect URI."""
    origin = _origin(settings.miro_redirect_uri)
    if origin is None:
        raise ConfigurationError(
            "MIROCONNECT_MIRO_REDIRECT_URI must be an absolute http(s) URL"
        )
    return origin


def _callback_path(settings: Settings) -> str:
    """The callback's path under `/connect`, from `MIROCONNECT_MIRO_REDIRECT_URI`."""
    path = urlsplit(settings.miro_redirect_uri).path
    if path.startswith("/connect/") and len(path) > len("/connect/"):
        return path[len("/connect") :]
    return "/callback"


def build_context(
    settings: Settings,
    *,
    miro_transport: httpx2.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    reference_app: bool = False,
    database: Database | None = None,
    runner: ActionRunner | None = None,
    webhook_transport: httpx2.AsyncBaseTransport | None = None,
) -> WebContext:
    """The services behind the routers, built by `miroconnect.assembly.build_stack` (see
    `create_app` for the arguments). Every Miro request is counted on `/metrics`.

    Raises `ConfigurationError` naming every setting that is missing or malformed (one
    message for all, as `miroconnect serve` says them), before anything is built."""
    problems = settings_problems(settings, service=False)
    if problems:
        raise ConfigurationError("miroconnect cannot start: " + "; ".join(problems))
    metrics = Metrics()
    transport = MeteredTransport(
        miro_transport or httpx2.AsyncHTTPTransport(retries=0), metrics
    )
    stack = build_stack(
        settings,
        miro_transport=transport,
        clock=clock or system_clock,
        database=database,
        runner=runner,
        closers=(transport,),
        webhook_transport=webhook_transport,
    )
    return WebContext(
        stack=stack,
        accounts=Accounts(stack.storage.accounts),
        sessions=Sessions(stack.storage.sessions, stack.clock),
        metrics=metrics,
        templates=build_templates(),
        csrf=CSRFSigner(settings.secret_key.get_secret_value()),
        flashes=Flashes(settings.secret_key.get_secret_value()),
        api_keys=tuple(
            key.strip().encode()
            for key in settings.api_keys.get_secret_value().split(",")
            if key.strip()
        ),
        reference_app=reference_app,
        public_url=_public_url(settings),
        miro_origins=tuple(_miro_web_origins(settings)),
    )


def install(app: FastAPI, context: WebContext, *, prefix: str = "/connect") -> None:
    """Prepare a host FastAPI app for `connect_router`, mounted at `prefix`.

    Sets `app.state.miroconnect`, gives browsers the CSRF cookie (security headers only
    on `prefix`, so the host's own pages keep their policy), caps request bodies under
    `prefix`, answers a failed CSRF check with a 403 page, and gives each request under
    `prefix` a request id (`X-Request-ID`, on every event it logs) and an `http.request`
    event, as `create_app` does for all of its requests. In the host's lifespan, call
    `context.start()` (webhook delivery, if configured) and close `context`.

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

    install_connect_handlers(app, context)
    app.add_middleware(
        SecurityMiddleware,
        csp=content_security_policy(context.miro_origins),
        header_paths=(prefix,),
    )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=MAX_BODY_BYTES,
        too_large=lambda scope, limit: too_large(context, scope, limit),
        prefixes=(prefix,),
    )
    # Outermost of ours; the host's own routes pass through it untouched.
    app.add_middleware(RequestLogMiddleware, prefixes=(prefix,))


def create_app(
    settings: Settings,
    *,
    miro_transport: httpx2.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    reference_app: bool = False,
    database: Database | None = None,
    runner: ActionRunner | None = None,
    webhook_transport: httpx2.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the miroconnect web app.

    * `settings`: the service's settings (`Settings()` reads the environment).
    * `miro_transport`: how to reach Miro; tests pass the emulator's in-process transport.
      Every Miro request goes through it and is counted on `/metrics`.
    * `clock`: the time source (tests move it forward instead of sleeping).
    * `reference_app`: also serve the reference app's pages (accounts, home, boards).
    * `runner`, `database`: replace the parts built from `settings`.
    * `webhook_transport`: how to reach `MIROCONNECT_WEBHOOK_URL` (tests inject one).
      With a webhook URL, the app's lifespan runs the delivery worker.

    ```python
    app = create_app(Settings(), reference_app=True)
    ```
    """
    context = build_context(
        settings,
        miro_transport=miro_transport,
        clock=clock,
        reference_app=reference_app,
        database=database,
        runner=runner,
        webhook_transport=webhook_transport,
    )
    if not reference_app:
        # The service's users come from another app: its `/` is no way back for them.
        context = replace(context, home_url=None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context.start()
        try:
            yield
        finally:
            await context.aclose()

    app = FastAPI(
        title="miroconnect",
        version="1.0.0",
        summary="Connect your app's users to Miro: create boards for them.",
        lifespan=lifespan,
        docs_url=None,  # served by `install_docs`, offline
        redoc_url=None,
        form_limits=FORM_LIMITS,  # type: ignore[arg-type]  # a private TypedDict
    )
    app.state.miroconnect = context
    install_error_handlers(app, context)
    install_openapi(app)
    install_webhooks(app)
    _operator_routes(app, context)
    app.include_router(api_router(), prefix="/api/v1")
    app.include_router(token_router(), prefix="/api/v1")
    app.include_router(proxy_router(), prefix="/api/v1")
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

    install_docs(app)  # before `/static`, which would answer for its files too

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return FileResponse(
            STATIC_DIR / "favicon.svg",
            media_type="image/svg+xml",
            headers={"cache-control": "public, max-age=86400"},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="miroconnect-static")
    app.add_middleware(
        SecurityMiddleware,
        csp=content_security_policy(context.miro_origins),
        # Called by programs with an API key, never by a browser's form.
        no_cookie_paths=("/api", "/healthz", "/readyz", "/metrics"),
    )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=MAX_BODY_BYTES,
        too_large=lambda scope, limit: too_large(context, scope, limit),
        # The proxy to Miro takes file uploads.
        wider=((PROXY_PATH, settings.proxy_max_body),),
    )
    # Outermost: every event of the request carries its request id. It also times the
    # request for the latency histogram.
    latency = context.metrics.http_latency
    app.add_middleware(
        RequestLogMiddleware,
        observe=lambda route, method, seconds: latency.labels(route, method).observe(
            seconds
        ),
    )
    if settings.allowed_hosts:
        # Before everything: a request for another host name is refused unread.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    return app


def _operator_routes(app: FastAPI, context: WebContext) -> None:
    """`/healthz`, `/readyz`, `/metrics`, and the service's own "done" page."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        try:
            await context.database.ping()
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
        return Response(context.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/connect/done", include_in_schema=False)
    async def done(request: Request) -> Response:
        # The reason is shown only if it is one of ours: anyone can write a link here,
        # and the page must not say what a stranger put in it.
        error = request.query_params.get("miro_error")
        if error is not None and error not in known_reasons():
            error = "error"
        return context.render(
            request,
            "done.html",
            {"board_id": request.query_params.get("miro_board_id"), "error": error},
        )


def create_service_app() -> FastAPI:
    """`miroconnect serve`'s app factory: settings from the environment, checked.

    Each worker process calls it (uvicorn `factory=True`), so it sets up the logs too:
    with `--workers N` > 1 the workers are fresh processes that never ran the CLI's
    `main()`. Raises `ConfigurationError` naming every missing setting.
    """
    from miroconnect.logs import configure_logging_from_settings

    settings = Settings()
    configure_logging_from_settings(settings)
    problems = settings_problems(settings)
    if problems:
        raise ConfigurationError("; ".join(problems))
    app = create_app(settings)
    # Everything built so far (modules, the app, its routes and models) lives as long
    # as the process: out of the collector's sight, a full collection has far less to
    # walk, which is what paused requests under load (`docs/benchmarks.md`).
    gc.freeze()
    return app


async def _no_browser_users() -> str:
    # Without the reference app, no browser is signed in to this service: the
    # browser-facing "Create board" and "Disconnect" are the host app's.
    raise SignInRequiredError
