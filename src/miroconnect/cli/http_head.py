"""uvicorn's httptools protocol with a limit on the size of a request's head.

uvicorn bounds a request's head (request line and headers) only with its pure-Python h11
protocol; with httptools, the faster one it picks when installed, a client could send
headers without end, and the parser kept them all (a 150 MB header: 43 s of CPU and 350
MB more memory). Here a head still unfinished once more than `MAX_HEAD_BYTES` have
arrived for it gets `431 Request Header Fields Too Large`, and the connection is closed.
The bytes are counted by read, before they are parsed: at most one read (up to 256 KiB)
past the limit is ever parsed, and a head that ends within that read is served.

Every server this package starts uses it: `uvicorn.Config(..., http=HTTP_PROTOCOL)`.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HTTP_PROTOCOL", "MAX_HEAD_BYTES", "BoundedHttpToolsProtocol"]

# Browsers send a few KiB; nginx's default buffers hold 8 KiB, its largest 32 KiB.
MAX_HEAD_BYTES = 64 * 1024
HTTP_PROTOCOL = "miroconnect.cli.http_head:BoundedHttpToolsProtocol"

_REFUSAL = b"Request header fields too large"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that refuses a request head over `MAX_HEAD_BYTES`."""

    _in_head = True  # between requests, or reading a head: the bytes count
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._in_head
            and self._head_bytes > MAX_HEAD_BYTES
            and not self.transport.is_closing()
        ):
            self.logger.warning(
                "Request head over %d bytes: refused with 431", MAX_HEAD_BYTES
            )
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (len(_REFUSAL), _REFUSAL)
            )
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # the next request on this connection
