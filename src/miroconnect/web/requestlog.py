"""One request id and one `http.request` event per HTTP request.

`RequestLogMiddleware` runs each request inside `miroconnect.logs.request_context`, so every
event the request causes (flow steps, vault refreshes, Miro calls) carries the same
`request_id`. The id is the client's `X-Request-ID` when it is a short token of safe
characters (a proxy's or the calling app's id joins their logs to ours), else a fresh one;
either way it comes back in the response's `X-Request-ID`.

The event names the route by its template (`/connect/launch/{token}`), never the raw URL:
Miro's callback carries the one-time `code` and `state` in its query, and launch links carry
a token in their path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from miroconnect.logs import log_event, request_context

__all__ = ["REQUEST_ID_HEADER", "PathPrefixes", "RequestLogMiddleware", "route_label"]

REQUEST_ID_HEADER = "x-request-id"

logger = logging.getLogger(__name__)


def route_label(scope: Scope) -> str:
    """The request's path with its path parameters named, e.g. `/connect/launch/{token}`.

    Built from the path, because an included router's route knows only its own suffix;
    the values are replaced, so no id or launch token becomes a label. `unmatched` when
    no route took the request (a 404: its path is whatever the client sent).
    """
    if scope.get("route") is None:
        return "unmatched"
    path = str(scope["path"])
    params: dict[str, str] = {}
    for name, value in (scope.get("path_params") or {}).items():
        value = str(value)
        if "/" in value and path.endswith("/" + value):
            # A `{name:path}` parameter: the rest of the path, slashes and all.
            path = path[: len(path) - len(value)] + "{" + name + "}"
        else:
            params[value] = name
    return "/".join(
        "{" + params[segment] + "}" if segment in params else segment
        for segment in path.split("/")
    )


class PathPrefixes:
    """Which requests a middleware covers: those at or under `prefixes` (`/connect`,
    `/connect/...`), or every request when `prefixes` is `None`.

    A host app that mounts the connect routes keeps its own routes' answers and logs as
    they were; `create_app` covers everything.
    """

    def __init__(self, prefixes: tuple[str, ...] | None) -> None:
        self._prefixes = (
            None if prefixes is None else tuple(p.rstrip("/") for p in prefixes)
        )

    def cover(self, scope: Scope) -> bool:
        """Whether this middleware handles the request of `scope`."""
        if scope["type"] != "http":
            return False
        if self._prefixes is None:
            return True
        path = str(scope["path"])
        return any(path == p or path.startswith(p + "/") for p in self._prefixes)


class RequestLogMiddleware:
    """Sets the request id for each HTTP request, echoes it, and logs `http.request`
    (method, route template, status code, duration in ms).

    `prefixes`: see `PathPrefixes`. `observe(route, method, seconds)`, when given, is told
    each request's duration too (the service's latency histogram on `/metrics`), so the
    route and the time are worked out once for both.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefixes: tuple[str, ...] | None = None,
        observe: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.app = app
        self.paths = PathPrefixes(prefixes)
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.paths.cover(scope):
            await self.app(scope, receive, send)
            return
        # `request_context` keeps the client's id only if it is 1-100 characters of
        # letters, digits and `-_.:` (it ends up in log lines and a response header).
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        with request_context(incoming) as request_id:
            status = 500  # what the client gets if the app raises before answering
            started = time.perf_counter()

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = route_label(scope)
                if self.observe is not None:
                    self.observe(route, scope["method"], seconds)
                log_event(
                    logger,
                    "http.request",
                    level=logging.INFO if status < 500 else logging.WARNING,
                    method=scope["method"],
                    route=route,
                    status_code=status,
                    duration_ms=round(seconds * 1000, 1),
                )
