"""What the service API's routers share: the user id in the path, the return URL check,
reading a connection, and which errors keep their own answer instead of Miro's 502.

Used by `miroconnect.web.api`, `proxy`, `token_api` and `live`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Header, Path
from pydantic import BaseModel
from starlette.responses import Response

from miroconnect.errors import (
    CryptoError,
    IdempotencyKeyReusedError,
    MiroConnectError,
    OperationInProgressError,
    ReturnURLRejectedError,
)
from miroconnect.oauth.params import check_return_url
from miroconnect.oauth.tokens import Connection as VaultConnection
from miroconnect.storage.outage import database_unavailable
from miroconnect.web.context import WebContext
from miroconnect.web.popup import origin_of
from miroconnect.web.problems import ProblemError, database_unavailable_error

__all__ = [
    "UserIdPath",
    "json_answer",
    "idempotency_key_header",
    "checked_return_url",
    "key_problem",
    "read_connection",
    "reraise_if_not_miros",
]


def json_answer(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """`model` as the JSON body of a `status_code` answer, serialized by pydantic in one
    step (the same compact JSON as a `JSONResponse` of its dump, without the dict)."""
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


UserIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9._:@-]+$",
        description="Your app's id of the user: letters, digits and `. _ : @ -`.",
    ),
]


def idempotency_key_header(description: str) -> Any:
    """The `Idempotency-Key` header of a route (1-200 printable ASCII characters), with
    what a repeat of the key does there."""
    return Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description=description,
    )


def reraise_if_not_miros(exc: MiroConnectError) -> None:
    """Errors that are not Miro's fault keep their own answer: a database outage (e.g.
    `TokenStorageError`, Miro renewed the tokens but the database would not store them)
    is a 503, a token that does not decrypt is the app's `vault_key_error` (500)."""
    if database_unavailable(exc):
        raise database_unavailable_error() from None
    if isinstance(exc, CryptoError):
        raise exc


def checked_return_url(
    context: WebContext, return_url: str, display: str = "redirect"
) -> str:
    allowed = context.settings.allowed_return_urls
    try:
        checked = check_return_url(return_url, allowed)
    except ReturnURLRejectedError as exc:
        raise _refused(
            f"{exc}: return_url must be a path on this service or an absolute URL on "
            f"an allowed origin ({_origins(allowed)})"
        ) from None
    # A popup's result goes to the origin of `return_url`: a path has none of the host
    # page's (it would be this service's own).
    if display == "popup" and origin_of(checked) is None:
        raise _refused(
            "a popup's return_url must be an absolute URL on an allowed origin "
            f"({_origins(allowed)}): its result is posted there"
        )
    return checked


def _origins(allowed: Sequence[str]) -> str:
    """The allow-list, for a refusal: the caller holds the API key, it may see it."""
    return f"{', '.join(allowed) or 'none is set'}; MIROCONNECT_ALLOWED_RETURN_URLS"


def _refused(detail: str) -> ProblemError:
    # 403: the request is understood, and refused by the allow-list.
    return ProblemError(403, detail, reason="return_url_rejected")


async def read_connection(context: WebContext, user_id: str) -> VaultConnection | None:
    try:
        return await context.vault.connection_for(user_id)
    except MiroConnectError as exc:
        reraise_if_not_miros(exc)
        raise ProblemError(
            502, "the connection could not be read", reason="miro_error"
        ) from None


def key_problem(exc: MiroConnectError) -> ProblemError | None:
    """The problem for an idempotency key's refusal, or `None` for other errors: the
    key's request still runs (409 with `Retry-After`: nothing was sent for this one), or
    the key was used for another request (422)."""
    if isinstance(exc, OperationInProgressError):
        return ProblemError(
            409,
            str(exc),
            reason="operation_in_progress",
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, IdempotencyKeyReusedError):
        return ProblemError(422, str(exc), reason="idempotency_key_reused")
    return None
