"""Faults, and the in-process transport that shows them as a network would.

A fault rule can answer with a status, add a delay, or break the connection:
`reset_before_commit` (nothing was done) or `drop_after_commit` (the work was done, the
answer is lost: the case that makes clients create duplicates). Over a real socket the
emulator starts a response and aborts it, so the client sees a broken connection, not a
500. In process, `emulator_transport` turns the same abort into the httpx2 exception a
real network gives.
"""

from __future__ import annotations

import asyncio
import json

import httpx2
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from miroconnect.emulator.state import EmulatorState, Fault
from miroconnect.emulator.wire import error_body

__all__ = [
    "ConnectionAborted",
    "EmulatorTransport",
    "FaultMiddleware",
    "emulator_transport",
]

_FAULT_CODES = {
    400: "invalidParameters",
    401: "tokenNotProvided",
    403: "forbiddenAccess",
    404: "notFound",
    409: "conflict",
    429: "tooManyRequests",
    500: "internalError",
    502: "badGateway",
    503: "serviceUnavailable",
    504: "gatewayTimeout",
}


class ConnectionAborted(Exception):
    """Raised by the emulator to cut a connection on purpose (a fault rule).

    `committed` tells whether the request's work was done before the cut.
    """

    def __init__(self, committed: bool) -> None:
        when = "after" if committed else "before"
        super().__init__(f"emulator fault: connection cut {when} commit (on purpose)")
        self.committed = committed


class FaultMiddleware:
    """Counts requests and applies the first matching fault rule."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        self.state.stats["requests"] += 1
        fault = self.state.match_fault(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.action == "delay":
            await asyncio.sleep(fault.seconds)
            await self.app(scope, receive, send)
        elif fault.action == "status":
            await self._answer(fault, send)
        elif fault.action == "reset_before_commit":
            await _abort(send)
            raise ConnectionAborted(committed=False)
        else:  # drop_after_commit: do the work, lose the answer

            async def discard(message: Message) -> None:
                return None

            await self.app(scope, receive, discard)
            await _abort(send)
            raise ConnectionAborted(committed=True)

    async def _answer(self, fault: Fault, send: Send) -> None:
        status = fault.status
        if fault.body is not None:
            body = fault.body
        else:
            code = _FAULT_CODES.get(status, "internalError")
            message = (
                "Request rate limit exceeded." if status == 429 else "Injected fault."
            )
            body = error_body(status, code, message)
        rate = self.state.idle_rate()
        remaining = 0 if status == 429 else rate.remaining
        headers = [
            (b"content-type", b"application/json"),
            (b"x-ratelimit-limit", str(rate.limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(rate.reset).encode()),
        ]
        payload = json.dumps(body).encode()
        headers.append((b"content-length", str(len(payload)).encode()))
        await send(
            {"type": "http.response.start", "status": status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": payload})


async def _abort(send: Send) -> None:
    # Promise a body and never send it: the server then closes the connection mid-
    # response, which every HTTP client reports as a broken connection.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"2"),
            ],
        }
    )


class EmulatorTransport(httpx2.AsyncBaseTransport):
    """`httpx2.ASGITransport` for the emulator, with connection faults made real:
    `drop_after_commit` raises `httpx2.RemoteProtocolError`, `reset_before_commit`
    raises `httpx2.ConnectError`."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx2.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ConnectionAborted as abort:
            if abort.committed:
                raise httpx2.RemoteProtocolError(
                    "Server disconnected without sending a complete response.",
                    request=request,
                ) from None
            raise httpx2.ConnectError(
                "Connection reset by peer.", request=request
            ) from None

    async def aclose(self) -> None:
        await self._inner.aclose()


def emulator_transport(app: ASGIApp) -> httpx2.AsyncBaseTransport:
    """An in-process transport to the emulator, for `httpx2.AsyncClient(transport=...)`.

    ```python
    app = create_emulator(auto_approve=True)
    async with httpx2.AsyncClient(
        transport=emulator_transport(app), base_url="http://miro.test"
    ) as client:
        ...
    ```
    """
    return EmulatorTransport(app)
