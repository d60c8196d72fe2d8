"""The webhook events in the OpenAPI document: what the service POSTs to the host app's
`MIROCONNECT_WEBHOOK_URL` (OpenAPI 3.1 `webhooks`), as pydantic models.

The events are written by `miroconnect.storage.outbox` and sent by `miroconnect.webhooks`;
these models only describe them (`tests/web/test_webhooks.py` checks every delivered event
against them, so the document cannot drift from what is sent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field

from miroconnect.storage.outbox import (
    BOARD_CREATED,
    CONNECTION_CREATED,
    CONNECTION_NEEDS_REAUTH,
    CONNECTION_RECONNECTED,
    CONNECTION_REVOKED,
)

__all__ = ["BoardCreatedEvent", "ConnectionEvent", "install_webhooks"]


class _Who(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_user_id: str = Field(description="Your app's user id, as in the API's paths.")
    connection_id: str
    miro_user_id: str
    miro_team_id: str


class ConnectionData(_Who):
    status: Literal["connected", "needs_reauth", "removed"]
    reason: str | None = Field(
        description="Why it needs consent again (`needs_reauth`), or `disconnected`."
    )


class BoardRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    view_link: str = Field(
        description="As Miro answered it: check it is on https://miro.com before "
        "putting it in a page."
    )


class BoardData(_Who):
    board: BoardRef


class ConnectionEvent(BaseModel):
    """A connection changed."""

    model_config = ConfigDict(extra="forbid")

    type: Literal[
        "connection.created",
        "connection.reconnected",
        "connection.needs_reauth",
        "connection.revoked",
    ]
    timestamp: datetime = Field(description="When the change happened (UTC).")
    data: ConnectionData


class BoardCreatedEvent(BaseModel):
    """A board was created for a user (once per board, even if the request that made
    it is repeated)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["board.created"]
    timestamp: datetime = Field(description="When the board was recorded (UTC).")
    data: BoardData


_WHAT = {
    CONNECTION_CREATED: "A user connected Miro (first time, or again after a revoke): "
    "the browser flow's callback, or your confirm in service mode.",
    CONNECTION_RECONNECTED: "A user's existing connection got a new grant (a new "
    "consent while connected or needing consent): it works again.",
    CONNECTION_NEEDS_REAUTH: "Miro refused the connection's tokens: the user must "
    "consent again (the next board request answers with an authorize_url).",
    CONNECTION_REVOKED: "The connection was disconnected (`DELETE .../connection` or "
    "`miroconnect connections disconnect`); its tokens are deleted.",
    BOARD_CREATED: "A board was created for a user.",
}
_HOW = (
    "\n\nSigned as Standard Webhooks says: verify `webhook-signature` with your "
    "`whsec_` secret (e.g. the `standardwebhooks` package) and deduplicate on "
    "`webhook-id`. Answer 2xx within 10 seconds; anything else (a redirect too) is "
    "retried with backoff for about a day."
)

WebhookId = Annotated[
    str, Header(alias="webhook-id", description="The event's id (deduplicate on it).")
]
WebhookTimestamp = Annotated[
    str, Header(alias="webhook-timestamp", description="UNIX seconds at signing.")
]
WebhookSignature = Annotated[
    str,
    Header(
        alias="webhook-signature",
        description="`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.",
    ),
]


def install_webhooks(app: FastAPI) -> None:
    """Describe each event under the OpenAPI document's `webhooks`."""
    for event_type in (
        CONNECTION_CREATED,
        CONNECTION_RECONNECTED,
        CONNECTION_NEEDS_REAUTH,
        CONNECTION_REVOKED,
    ):

        @app.webhooks.post(
            event_type, summary=event_type, description=_WHAT[event_type] + _HOW
        )
        async def connection_event(
            body: ConnectionEvent,
            webhook_id: WebhookId,
            webhook_timestamp: WebhookTimestamp,
            webhook_signature: WebhookSignature,
        ) -> None: ...

    @app.webhooks.post(
        BOARD_CREATED, summary=BOARD_CREATED, description=_WHAT[BOARD_CREATED] + _HOW
    )
    async def board_created(
        body: BoardCreatedEvent,
        webhook_id: WebhookId,
        webhook_timestamp: WebhookTimestamp,
        webhook_signature: WebhookSignature,
    ) -> None: ...
