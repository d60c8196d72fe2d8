"""RFC 9457 problem details: every error of the service API has this JSON shape.

```json
{"type": "about:blank", "title": "Unauthorized", "status": 401,
 "detail": "send Authorization: Bearer <key>"}
```

served as `application/problem+json`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

__all__ = ["PROBLEM_MEDIA_TYPE", "Problem", "ProblemError", "problem_response"]

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """A problem details object (RFC 9457)."""

    type: str = Field("about:blank", description="A URI reference naming the kind.")
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
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.headers = headers


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    reason: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A `application/problem+json` response."""
    problem = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        reason=reason,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )
