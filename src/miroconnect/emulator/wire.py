"""What goes on the wire: Miro's error envelope, JSON bodies, timestamps, links."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "APIError",
    "error_body",
    "iso",
    "json_response",
    "origin",
    "read_json_object",
]

_DEFAULT_CODES = {
    400: "invalidParameters",
    401: "tokenNotProvided",
    403: "forbiddenAccess",
    404: "notFound",
    405: "methodNotAllowed",
    409: "conflict",
    429: "tooManyRequests",
}


class APIError(Exception):
    """An error answer in Miro's envelope `{status, code, message, context?, type}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _DEFAULT_CODES.get(status, "internalError")
        self.message = message
        self.context = context

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.code, self.message, self.context)


def error_body(
    status: int, code: str, message: str, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if context is not None:
        body["context"] = context
    body["type"] = "error"
    return body


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A compact JSON response (faster than JSONResponse's indirections)."""
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


# Cached: a page of 50 items formats 100 timestamps, and strftime was a third of the
# time a page took. Datetimes are immutable, so a cached string is always right.
@lru_cache(maxsize=1 << 16)
def iso(moment: datetime) -> str:
    """Miro's timestamp format: UTC, milliseconds, trailing Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def origin(request: Request) -> str:
    """`scheme://host[:port]` of this request, so links point back at this emulator."""
    url = request.url
    return f"{url.scheme}://{url.netloc}"


async def read_json_object(
    request: Request, *, required: bool = False
) -> dict[str, Any]:
    """The request's JSON object body; {} when empty and not required; else 400."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise APIError(400, "Request body is required.")
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # nested too deep
        raise APIError(400, "Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise APIError(400, "Request body must be a JSON object.")
    return body
