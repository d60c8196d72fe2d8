"""RFC 9457 problem details: every error of the service API has this JSON shape.

```json
{"type": "about:blank", "title": "Unauthorized", "status": 401,
 "detail": "send Authorization: Bearer <key>"}
```

served as `application/problem+json`.

When the database cannot be reached (a PostgreSQL restart or failover, a SQLite file that
cannot be opened), the answer is a 503 with `Retry-After` instead of a 500:

```json
{"type": "urn:miroconnect:problem:database-unavailable", "title": "Database unavailable",
 "status": 503, "detail": "...", "reason": "database_unavailable"}
```

`miroconnect.storage.outage.database_unavailable(exc)` decides which errors those are.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

__all__ = [
    "DATABASE_RETRY_AFTER",
    "DATABASE_UNAVAILABLE_TITLE",
    "DATABASE_UNAVAILABLE_TYPE",
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "ProblemError",
    "database_unavailable_error",
    "database_unavailable_response",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
DATABASE_UNAVAILABLE_TYPE = "urn:miroconnect:problem:database-unavailable"
DATABASE_UNAVAILABLE_TITLE = "Database unavailable"
# Seconds a client should wait: a PostgreSQL restart or failover takes a few.
DATABASE_RETRY_AFTER = 5


class Problem(BaseModel):
    """A problem details object (RFC 9457)."""

    type: str = Field(
        "about:blank",
        description="A URI reference naming the kind: `about:blank` (see `reason`), or "
        f"`{DATABASE_UNAVAILABLE_TYPE}` (503, retry after `Retry-After` seconds).",
    )
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What happened, for this occurrence.")
    reason: str | None = Field(
        None, description="A stable machine-readable code, e.g. `invalid_return_url`."
    )
    errors: list[dict[str, Any]] | None = Field(
        None, description="For 422: each invalid field and why."
    )


class ProblemError(Exception):
    """Raised by API handlers to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        type: str = "about:blank",
        title: str | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.headers = headers
        self.type = type
        self.title = title
        # Members of the problem beyond RFC 9457's (e.g. `authorize_url`).
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    reason: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    type: str = "about:blank",
    title: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A `application/problem+json` response.

    `title` defaults to the status phrase, as RFC 9457 asks for `about:blank`; a `type` of
    our own comes with a title of its own. `extensions`: more members (RFC 9457 §3.2).
    """
    problem = Problem(
        type=type,
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        reason=reason,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True) | dict(extensions or {}),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def database_unavailable_error() -> ProblemError:
    """The 503 for a database that does not answer, with `Retry-After`, to raise."""
    return ProblemError(
        503,
        "the database does not answer right now; retry after a few seconds "
        "(with the same Idempotency-Key)",
        reason="database_unavailable",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
        type=DATABASE_UNAVAILABLE_TYPE,
        title=DATABASE_UNAVAILABLE_TITLE,
    )


def database_unavailable_response() -> JSONResponse:
    """`database_unavailable_error()` as a response."""
    error = database_unavailable_error()
    return problem_response(
        error.status,
        error.detail,
        reason=error.reason,
        headers=error.headers,
        type=error.type,
        title=error.title,
    )
