"""`Spy`: a transport between the service and the emulator that shows what reached
Miro's REST API (and what did not), for the proxy's tests."""

from __future__ import annotations

import struct

import httpx2

__all__ = ["Spy", "png"]


class Spy(httpx2.AsyncBaseTransport):
    """Passes requests on to the emulator; keeps those to `/v2/`; answers with
    `canned` responses first when there are any; adds to each of Miro's answers a
    cookie and hop-by-hop headers that must not reach the app."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[httpx2.Request] = []
        self.canned: list[httpx2.Response] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.startswith("/v2/") and not request.url.path.startswith(
            "/v2/oauth"
        ):
            # A copy: a request sent again after a 401 is the same object, re-signed.
            content = await request.aread()
            self.sent.append(
                httpx2.Request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=content,
                )
            )
            if self.canned:
                return self.canned.pop(0)
        response = await self.inner.handle_async_request(request)
        response.headers["set-cookie"] = "miro_session=do-not-pass"
        response.headers["keep-alive"] = "timeout=5"
        response.headers["x-miro-internal"] = "1"
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def png(padding: int) -> bytes:
    """Bytes that look like a 200x100 PNG to the emulator, `padding` bytes long."""
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
    return header + struct.pack(">II", 200, 100) + b"\0" * padding
