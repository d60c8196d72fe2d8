"""A proxied request's body, received once and sent to Miro as often as needed.

`receive_body` reads the app's body as it streams in (the body cap of `web/limits.py`
stops it at `MIROCONNECT_PROXY_MAX_BODY`) into a spool: in memory up to 64 KiB, in a
temporary file beyond, so an image upload is never held whole in memory. `SpooledBody` is
an `httpx2` request stream that reads the spool from its start each time it is sent: a
request retried after Miro's 401 (with a refreshed token) or after a safe retry sends the
same bytes. Spooling first also means a slow upload never holds a connection to Miro, nor
the user's rate-limit credits, while it trickles in.

While the body streams in, its SHA-256 is taken (the operation journal compares a repeated
`Idempotency-Key` by it), with a multipart body's boundary left out: the same upload sent
again by a client that draws a new boundary (curl does) is the same request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
from starlette.requests import Request

__all__ = [
    "IN_MEMORY",
    "BodyDigest",
    "SpooledBody",
    "multipart_boundary",
    "receive_body",
]

IN_MEMORY = 64 * 1024
"""Bytes of a body kept in memory; a larger body goes to a temporary file."""
_CHUNK = 64 * 1024


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a `multipart/*` content type, if it has one."""
    media_type, _, parameters = content_type.partition(";")
    if not media_type.strip().lower().startswith("multipart/"):
        return None
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1")
    return None


class BodyDigest:
    """SHA-256 of a body fed in chunks, each occurrence of `boundary` written as one
    marker: two uploads that differ only in their boundary hash the same.

    The hashed form is unambiguous: a NUL byte of the body is hashed as `00 01`, the
    boundary as `00 02` (a boundary holds no NUL), so no body can hash like another one
    with a boundary where it has other bytes.
    """

    _NUL, _MARK = b"\0\1", b"\0\2"

    def __init__(self, boundary: bytes | None) -> None:
        self._hash = hashlib.sha256()
        self._boundary = boundary or b""
        self._tail = b""  # bytes that may begin a boundary the next chunk completes

    def _feed(self, data: bytes) -> None:
        self._hash.update(data.replace(b"\0", self._NUL))

    def update(self, chunk: bytes) -> None:
        boundary = self._boundary
        if not boundary:
            self._feed(chunk)
            return
        data = self._tail + chunk
        start = 0
        while (found := data.find(boundary, start)) != -1:
            self._feed(data[start:found])
            self._hash.update(self._MARK)
            start = found + len(boundary)
        # What is left may end with the start of a boundary: keep that much for later.
        cut = max(start, len(data) - (len(boundary) - 1))
        self._feed(data[start:cut])
        self._tail = data[cut:]

    def hexdigest(self) -> str:
        self._feed(self._tail)
        self._tail = b""
        return self._hash.hexdigest()


class SpooledBody(httpx2.AsyncByteStream):
    """A received body, sent from its start every time it is iterated."""

    def __init__(
        self, spool: anyio.SpooledTemporaryFile[bytes], size: int, sha256: str
    ) -> None:
        self._spool = spool
        self.size = size
        self.sha256 = sha256

    async def __aiter__(self) -> AsyncIterator[bytes]:
        await self._spool.seek(0)
        while chunk := await self._spool.read(_CHUNK):
            yield chunk

    async def json_if_small(self) -> Any:
        """The body parsed as JSON if it is at most `IN_MEMORY` bytes and is JSON;
        None otherwise (a body nested deeper than the parser's recursion allows, too:
        about a thousand `[` fit in 64 KiB)."""
        if self.size > IN_MEMORY:
            return None
        await self._spool.seek(0)
        try:
            return json.loads(await self._spool.read())
        except (ValueError, RecursionError):
            return None

    async def aclose(self) -> None:
        """Forget the body (its temporary file, if any, is deleted)."""
        await self._spool.aclose()


async def receive_body(request: Request) -> SpooledBody:
    """Read the app's body into a spool (see the module docstring)."""
    boundary = multipart_boundary(request.headers.get("content-type", ""))
    digest = BodyDigest(boundary)
    spool: anyio.SpooledTemporaryFile[bytes] = anyio.SpooledTemporaryFile(
        max_size=IN_MEMORY
    )
    size = 0
    try:
        async for chunk in request.stream():
            if chunk:
                digest.update(chunk)
                size += len(chunk)
                await spool.write(chunk)
    except BaseException:
        await spool.aclose()
        raise
    return SpooledBody(spool, size, digest.hexdigest())
