"""Request bodies are capped before anything reads them.

`BodyLimitMiddleware` answers `413` at once when `Content-Length` is over the limit (the
app is not called: no authentication, no parsing, nothing buffered), and for a body sent
without a length it counts what is received and stops the request at the limit by raising
`BodyTooLargeError` (an `HTTPException`, so the app's own handler answers: a problem
document on the API, a page elsewhere).

Starlette and FastAPI have a body limit of their own (`max_body_size`); it answers a
`Content-Length` that is too large with a plain-text 413 in place of whatever the app was
sending, so the API's problem documents and the pages' error text would be lost. Ours is
the same two checks, answering in the app's own formats.

One limit covers every path (`max_bytes`), except the paths of `wider`, which have their
own: the proxy to Miro takes file uploads (`MIROCONNECT_PROXY_MAX_BODY`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from miroconnect.web.requestlog import PathPrefixes

__all__ = ["BodyLimitMiddleware", "BodyTooLargeError"]


class BodyTooLargeError(HTTPException):
    """The request's body went over the limit while it was being received (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes`: see the module docstring.

    `too_large(scope, limit)` builds the answer to a `Content-Length` over the limit.
    `prefixes`: see `PathPrefixes` (a host app keeps its own limits elsewhere).
    `wider`: (path pattern, limit) pairs; the first pattern that matches the path gives
    its limit in place of `max_bytes`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        too_large: Callable[[Scope, int], Response],
        prefixes: tuple[str, ...] | None = None,
        wider: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.too_large = too_large
        self.paths = PathPrefixes(prefixes)
        self.wider = tuple(wider)

    def limit(self, scope: Scope) -> int:
        """The largest body a request to this path may send."""
        path = scope.get("path", "")
        for pattern, limit in self.wider:
            if pattern.match(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.paths.cover(scope):
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit(scope)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            response = self.too_large(scope, max_bytes)
            # The body is never read: the client must not reuse this connection.
            response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLargeError(max_bytes)
            return message

        await self.app(scope, counted, send)
