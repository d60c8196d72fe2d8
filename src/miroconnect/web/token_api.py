"""`POST /api/v1/users/{user_id}/connection/token`: a fresh access token for an app that
calls Miro with its own SDK.

The token has at least 5 minutes left: when it has less, the vault refreshes it first,
single-flight with every other use of the connection (`TokenVault.tokens_valid_for`), so
an app asking often never makes Miro rotate the pair twice. The answer is
`Cache-Control: no-store`, and each one is logged as `connection.token_issued` with the
user's and the connection's ids, never the token. Calls the app makes with it are its
own: they are not paced or retried here (the proxy, `web/proxy.py`, does that).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.responses import Response

from miroconnect.errors import (
    MiroConnectError,
    NotConnectedError,
    ReauthorizationRequiredError,
)
from miroconnect.logs import log_event
from miroconnect.web.api_common import UserIdPath, json_answer, reraise_if_not_miros
from miroconnect.web.dependencies import APIKeyRoute, context_of
from miroconnect.web.live import ReturnURLHeader, connection_required, live_connection
from miroconnect.web.problems import Problem, ProblemError
from miroconnect.web.schemas import AccessToken, ConnectionRequired

__all__ = ["TOKEN_VALID_FOR", "token_router"]

TOKEN_VALID_FOR = timedelta(minutes=5)

logger = logging.getLogger(__name__)

router = APIRouter(route_class=APIKeyRoute, tags=["service API"])


@router.post(
    "/users/{user_id}/connection/token",
    response_model=AccessToken,
    responses={
        200: {"description": "A token with at least 5 minutes left."},
        401: {"model": Problem, "description": "No API key, or a wrong one."},
        403: {
            "model": Problem,
            "description": "`return_url_rejected`: X-Miroconnect-Return-Url is not on "
            "an allowed origin.",
        },
        409: {
            "model": ConnectionRequired,
            "description": "`not_connected` or `needs_reauth`, with `authorize_url` "
            "when X-Miroconnect-Return-Url was sent.",
        },
        422: {"model": Problem, "description": "A parameter does not validate."},
        500: {"model": Problem, "description": "`vault_key_error`."},
        502: {"model": Problem, "description": "Miro could not refresh the token."},
        503: {"model": Problem, "description": "The database does not answer."},
    },
)
async def issue_token(
    request: Request, user_id: UserIdPath, return_url: ReturnURLHeader = None
) -> Response:
    """A user's Miro access token, valid for at least 5 more minutes (refreshed first
    if needed), for your app's own calls to Miro. Never cache it, never send it to a
    browser."""
    context = context_of(request)
    connection = await live_connection(context, user_id, return_url)
    try:
        tokens = await context.vault.tokens_valid_for(connection.id, TOKEN_VALID_FOR)
    except ReauthorizationRequiredError:
        raise await connection_required(
            context, user_id, "needs_reauth", return_url
        ) from None
    except NotConnectedError:
        raise await connection_required(
            context, user_id, "not_connected", return_url
        ) from None
    except MiroConnectError as exc:
        reraise_if_not_miros(exc)
        raise ProblemError(
            502, "Miro could not refresh the token", reason="miro_error"
        ) from None
    log_event(
        logger,
        "connection.token_issued",
        app_user_id=user_id,
        connection_id=connection.id,
        expires_at=tokens.expires_at.isoformat() if tokens.expires_at else None,
    )
    answer = AccessToken(access_token=tokens.access_token, expires_at=tokens.expires_at)
    return json_answer(answer, headers={"Cache-Control": "no-store"})


def token_router() -> APIRouter:
    """The token route (mount under `/api/v1`)."""
    return router
