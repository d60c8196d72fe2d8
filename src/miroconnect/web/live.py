"""The live connection a request needs, or the `409` problem that says how to get one.

The proxy (`web/proxy.py`) and the token endpoint (`web/token_api.py`) act for a user's
Miro connection. Without a live one they answer `409` with `reason` `not_connected` or
`needs_reauth`. A host app that sends `X-Miroconnect-Return-Url` (an absolute URL on the
allow-list, as `return_url` elsewhere) also gets `authorize_url` in that problem: a launch
link started as `POST .../connection` starts one, so it can send the user's browser there
at once and confirm the `miro_result` it comes back with. Without the header no flow is
started (a consent with nowhere to come back to could not be confirmed); the detail says
to send it or to call `POST .../connection`. A header, not a query parameter or a body
field, because the proxy forwards those to Miro.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from miroconnect.oauth.tokens import Connection
from miroconnect.web.api_common import checked_return_url, read_connection
from miroconnect.web.context import WebContext
from miroconnect.web.problems import ProblemError

__all__ = [
    "RETURN_URL_HEADER",
    "ReturnURLHeader",
    "connection_required",
    "live_connection",
]

RETURN_URL_HEADER = "X-Miroconnect-Return-Url"

ReturnURLHeader = Annotated[
    str | None,
    Header(
        alias=RETURN_URL_HEADER,
        max_length=2048,
        description="Where the user's browser comes back to after consent, if the "
        "user must connect first: the `409` then has an `authorize_url`. An absolute "
        "URL on an origin of MIROCONNECT_ALLOWED_RETURN_URLS.",
    ),
]


async def connection_required(
    context: WebContext, user_id: str, reason: str, return_url: str | None
) -> ProblemError:
    """The `409` for a user without a live connection (`reason`: `not_connected` or
    `needs_reauth`), with a launch link if `return_url` is given."""
    what = (
        "the user has not connected Miro"
        if reason == "not_connected"
        else "the user's Miro connection must be authorized again"
    )
    if return_url is None:
        return ProblemError(
            409,
            f"{what}: send {RETURN_URL_HEADER} to get an authorize_url here, or start "
            "with POST /api/v1/users/{user_id}/connection",
            reason=reason,
        )
    checked = checked_return_url(context, return_url)  # 403 return_url_rejected
    launch = await context.flow.start_launch(user_id, None, checked)
    return ProblemError(
        409,
        f"{what}: send the user's browser to authorize_url, then confirm the "
        "miro_result it comes back with (POST .../connection/confirm)",
        reason=reason,
        extensions={"authorize_url": context.launch_url(launch)},
    )


async def live_connection(
    context: WebContext, user_id: str, return_url: str | None
) -> Connection:
    """The user's live connection, or the `409` problem (raised)."""
    found = await read_connection(context, user_id)
    if found is None:
        raise await connection_required(context, user_id, "not_connected", return_url)
    if not found.is_live:
        raise await connection_required(context, user_id, "needs_reauth", return_url)
    return found
