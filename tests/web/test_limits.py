"""Bodies are capped before anything reads them: no route, authenticated or not, takes more
than 64 KiB of anyone's upload, and forms take no files.

Requests are sent as raw ASGI messages, as uvicorn hands them over, so the test sees how
much of the body the app asked for.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI

from miroconnect.web.security import MAX_BODY_BYTES

from .conftest import Harness

CHUNK = 16 * 1024


@dataclass
class Upload:
    """A request body sent in chunks; counts what the app took."""

    size: int
    content_length: bool = True
    prefix: bytes = b""  # sent first, then `A`s up to `size`
    taken: int = 0
    answer_status: int = 0
    answer_headers: dict[str, str] = field(default_factory=dict)
    answer_body: bytes = b""
    answer_parts: int = 0  # body messages: more than one when streamed

    async def send_to(
        self,
        app: FastAPI,
        path: str,
        content_type: str,
        headers: list[Any],
        *,
        method: str = "POST",
    ) -> None:
        """Send to `path` (raw, as it would arrive: percent-escapes and all)."""
        raw_headers = [
            (b"host", b"testserver"),
            (b"content-type", content_type.encode()),
        ]
        raw_headers += headers
        if self.content_length:
            raw_headers.append((b"content-length", str(self.size).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        remaining = self.size

        async def receive() -> dict[str, Any]:
            nonlocal remaining
            if remaining <= 0:
                return {"type": "http.disconnect"}
            chunk = min(CHUNK, remaining)
            remaining -= chunk
            self.taken += chunk
            return {
                "type": "http.request",
                "body": b"A" * chunk,
                "more_body": remaining > 0,
            }

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.answer_status = message["status"]
                self.answer_headers = {
                    k.decode().lower(): v.decode() for k, v in message["headers"]
                }
            elif message["type"] == "http.response.body":
                self.answer_body += message.get("body", b"")
                self.answer_parts += 1

        await app(scope, receive, send)


async def test_a_huge_unauthenticated_json_body_is_refused_unread(
    harness: Harness,
) -> None:
    upload = Upload(size=100 * 1024 * 1024)
    await upload.send_to(harness.app, "/api/v1/users/u1/boards", "application/json", [])
    assert upload.answer_status == 413
    assert upload.answer_headers["content-type"] == "application/problem+json"
    problem = json.loads(upload.answer_body)
    assert (problem["status"], problem["reason"]) == (413, "body_too_large")
    assert upload.answer_headers["connection"] == "close"
    assert upload.taken == 0  # Content-Length said it all: nothing was read


async def test_a_body_without_a_length_is_cut_at_the_limit(harness: Harness) -> None:
    upload = Upload(size=10 * 1024 * 1024, content_length=False)
    key = [(b"authorization", b"Bearer test-api-key-0123456789")]
    await upload.send_to(
        harness.app, "/api/v1/users/u1/boards", "application/json", key
    )
    assert upload.answer_status == 413
    assert upload.answer_headers["content-type"] == "application/problem+json"
    assert upload.taken <= MAX_BODY_BYTES + CHUNK


async def test_a_huge_multipart_sign_in_is_refused_unread(harness: Harness) -> None:
    declared = Upload(size=300 * 1024 * 1024)
    await declared.send_to(
        harness.app, "/signin", "multipart/form-data; boundary=x", []
    )
    assert declared.answer_status == 413
    assert declared.answer_headers["content-type"].startswith("text/html")
    assert 'data-reason="body_too_large"' in declared.answer_body.decode()
    assert declared.taken == 0
    # Sent without a length, as one huge field: stopped at the limit, never spooled.
    streamed = Upload(size=300 * 1024 * 1024, content_length=False)
    streamed.prefix = b'--x\r\nContent-Disposition: form-data; name="username"\r\n\r\n'
    await streamed.send_to(
        harness.app, "/signin", "multipart/form-data; boundary=x", []
    )
    assert streamed.answer_status in (400, 413)
    assert streamed.answer_headers["content-type"].startswith("text/html")
    assert b"Traceback" not in streamed.answer_body
    assert streamed.taken <= MAX_BODY_BYTES + CHUNK


async def test_forms_take_no_files(harness: Harness) -> None:
    token = await harness.csrf_token()
    body = (
        "--x\r\n"
        'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{token}\r\n"
        "--x\r\n"
        'Content-Disposition: form-data; name="username"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        "hello\r\n"
        "--x--\r\n"
    )
    answer = await harness.browser.post(
        "/signin",
        content=body.encode(),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert answer.status_code == 400
    assert "Traceback" not in answer.text
