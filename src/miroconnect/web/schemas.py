"""The service API's bodies and answers, as pydantic models (they make its OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from miroconnect.actions import CreateBoard
from miroconnect.web.problems import Problem

__all__ = [
    "AccessToken",
    "AuthorizationRequired",
    "Board",
    "BoardCreate",
    "BoardCreated",
    "BoardList",
    "Connection",
    "ConnectionConfirmed",
    "ConnectionRequired",
    "ConnectionStart",
    "ConsentConfirm",
]

RETURN_URL_DESCRIPTION = (
    "Where the browser lands after consent: an absolute URL on an origin listed in "
    "MIROCONNECT_ALLOWED_RETURN_URLS. It gets `miro_result` (confirm it with "
    "`POST /api/v1/users/{user_id}/connection/confirm`) or `miro_error`. Required "
    "when the user must connect first."
)
DISPLAY_DESCRIPTION = (
    "How the flow ends in the browser. `redirect` (default): the browser goes to "
    "`return_url` with `miro_result` or `miro_error`. `popup`, for single-page apps "
    "that open `authorize_url` in a popup (e.g. with `/static/miroconnect.js`): the "
    "flow ends on a page of this service that posts `{miro_result}` or `{miro_error}` "
    "with `postMessage` to the window that opened it, only at the exact origin of "
    "`return_url` (which must then be absolute: `403 return_url_rejected` if not), "
    "and closes. Confirm the result from your backend exactly as after a redirect."
)


class _EndsInTheBrowser(BaseModel):
    """`return_url` and `display`: where and how a flow that needs consent ends."""

    return_url: str | None = Field(
        None, max_length=2048, description=RETURN_URL_DESCRIPTION
    )
    display: Literal["redirect", "popup"] = Field(
        "redirect", description=DISPLAY_DESCRIPTION
    )


class BoardCreate(_EndsInTheBrowser, CreateBoard):
    """A board to create for a user (the `create_board` action), and where and how the
    browser comes back if the user must connect first."""

    not_params: ClassVar[frozenset[str]] = frozenset({"return_url", "display"})


class ConnectionStart(_EndsInTheBrowser):
    """Connect a user to Miro, with nothing else to do (e.g. a "Connect Miro" button)."""

    model_config = ConfigDict(extra="forbid")

    return_url: str = Field(max_length=2048, description=RETURN_URL_DESCRIPTION)


class ConsentConfirm(BaseModel):
    """The `miro_result` your return page received, for the user signed in there."""

    model_config = ConfigDict(extra="forbid")

    result: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `miro_result` query parameter of your `return_url`.",
    )


class Board(BaseModel):
    """A board made through miroconnect."""

    id: str
    name: str
    view_link: str
    created_at: datetime | None = None


class BoardCreated(BaseModel):
    """The board, created now (or by the first request with this key)."""

    board: Board


class AuthorizationRequired(BaseModel):
    """The user must consent first; the board is created once you confirm."""

    status: Literal["authorization_required"] = "authorization_required"
    authorize_url: str = Field(
        description="A one-time link to this service; send the user's browser to it."
    )


class Connection(BaseModel):
    """A user's Miro connection."""

    status: Literal["connected", "needs_reauth", "not_connected"]
    miro_user_id: str | None = None
    miro_user_name: str | None = None
    miro_team_id: str | None = None
    miro_team_name: str | None = None
    scopes: list[str] = Field(default_factory=list)
    connected_since: datetime | None = Field(
        None, description="When the user last gave consent."
    )
    reason: str | None = Field(None, description="Why a reconnect is needed.")


class ConnectionConfirmed(BaseModel):
    """The consent was confirmed: the user's connection is active."""

    connection: Connection


class BoardList(BaseModel):
    """One page of boards, newest first."""

    boards: list[Board]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )


class AccessToken(BaseModel):
    """A user's Miro access token, for an app that calls Miro with its own SDK. Keep it
    on your server; ask again when `expires_at` nears (each answer has at least 5
    minutes left)."""

    access_token: str = Field(
        description="Send to Miro as `Authorization: Bearer ...`."
    )
    expires_at: datetime | None = Field(
        description="When the token stops working (null: it does not expire)."
    )
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  # the scheme, no secret


class ConnectionRequired(Problem):
    """409: the user has no live Miro connection (`reason`: `not_connected` or
    `needs_reauth`)."""

    authorize_url: str | None = Field(
        None,
        description="A one-time link that starts the user's consent (as `POST "
        ".../connection` gives), present when the request carried "
        "`X-Miroconnect-Return-Url`: send the browser there, then confirm the "
        "`miro_result` it comes back with.",
    )
