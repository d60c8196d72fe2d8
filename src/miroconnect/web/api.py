"""The service API under `/api/v1`: what an app in any language calls.

Authenticated with `Authorization: Bearer <key>` (a key of `MIROCONNECT_API_KEYS`). Every
error is a problem document (RFC 9457). The flow for a user who never connected:

1. `POST /api/v1/users/{user_id}/boards` answers `202` with `authorize_url`;
2. the app sends the user's browser there: a one-time link to this service, which sets a
   browser-binding cookie and redirects to Miro's consent page;
3. Miro redirects back to this service, which stores the tokens, creates the board, and
   redirects (303) to `return_url?miro_board_id=...` (or `?miro_error=<reason>`);
4. every later `POST` answers `201` with the board at once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from miroconnect.errors import (
    AuthorizationError,
    MiroConnectError,
    OperationInProgressError,
    ReturnURLRejectedError,
)
from miroconnect.oauth.actions import PendingAction
from miroconnect.oauth.params import check_return_url
from miroconnect.web.accounts import BoardRecord
from miroconnect.web.connect import record_board
from miroconnect.web.connector import AuthorizationNeeded
from miroconnect.web.dependencies import APIKeyDep, ContextDep
from miroconnect.web.problems import (
    Problem,
    ProblemError,
    database_unavailable,
    database_unavailable_error,
)

__all__ = [
    "AuthorizationRequired",
    "Board",
    "BoardCreate",
    "BoardCreated",
    "BoardList",
    "Connection",
    "api_router",
]

logger = logging.getLogger(__name__)

_TEXT = r"^[^\x00-\x1f\x7f]*$"  # one line of text, no control characters
UserIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9._:@-]+$",
        description="Your app's id of the user: letters, digits and `. _ : @ -`.",
    ),
]


class BoardCreate(BaseModel):
    """A board to create for a user."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60, pattern=_TEXT)
    description: str | None = Field(None, max_length=300, pattern=_TEXT)
    return_url: str | None = Field(
        None,
        max_length=2048,
        description="Where the browser lands after consent: an absolute URL under "
        "MIROCONNECT_ALLOWED_RETURN_URLS. Gets `miro_board_id` or `miro_error`.",
    )


class Board(BaseModel):
    """A board made through miroconnect."""

    id: str
    name: str
    view_link: str
    created_at: datetime | None = None


class BoardCreated(BaseModel):
    """The board, created now."""

    board: Board


class AuthorizationRequired(BaseModel):
    """The user must consent first; the board is created right after."""

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
    connected_since: datetime | None = None
    reason: str | None = Field(None, description="Why a reconnect is needed.")


class BoardList(BaseModel):
    """One page of boards, newest first."""

    boards: list[Board]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; absent on the last."
    )


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The request cannot be carried out as sent.",
        403: "The return URL is not on an allowed origin.",
        401: "No API key, or a wrong one.",
        409: "A request with this `Idempotency-Key` is still running: retry after "
        "`Retry-After` seconds, with the same key.",
        422: "The body or a parameter does not validate.",
        502: "Miro refused or could not be reached.",
        503: "The database does not answer (e.g. restarting): retry after "
        "`Retry-After` seconds, with the same `Idempotency-Key`.",
    }
    return {
        status: {"model": Problem, "description": described[status]}
        for status in statuses
    }


def _raise_if_database_down(exc: MiroConnectError) -> None:
    """A 503 when our error wraps a database outage (e.g. `TokenStorageError`: Miro
    renewed the tokens but the database would not store them), not Miro's fault."""
    if database_unavailable(exc):
        raise database_unavailable_error() from None


def _board(record: BoardRecord) -> Board:
    return Board(
        id=record.board_id,
        name=record.name,
        view_link=record.view_link,
        created_at=record.created_at,
    )


def api_router() -> APIRouter:
    """The `/api/v1` routes (mount with that prefix)."""
    router = APIRouter(dependencies=[APIKeyDep], tags=["service API"])

    @router.post(
        "/users/{user_id}/boards",
        status_code=201,
        response_model=None,
        responses={
            201: {"model": BoardCreated, "description": "The board was created."},
            202: {
                "model": AuthorizationRequired,
                "description": "The user must connect Miro first.",
            },
            **_problems(400, 401, 403, 409, 422, 502, 503),
        },
    )
    async def create_board(
        request: Request,
        context: ContextDep,
        user_id: UserIdPath,
        body: BoardCreate,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=200,
                pattern=r"^[\x21-\x7e]+$",
                description="Repeat a request with the same key to get the same "
                "board, never a second one.",
            ),
        ] = None,
    ) -> Response:
        """Create a board for a user, or say where to send them to connect Miro."""
        return_url = "/connect/done"
        if body.return_url is not None:
            try:
                return_url = check_return_url(
                    body.return_url, context.settings.allowed_return_urls
                )
            except ReturnURLRejectedError:
                # 403: the request is understood, and refused by the allow-list.
                raise ProblemError(
                    403,
                    "return_url must be an absolute URL on an origin listed in "
                    "MIROCONNECT_ALLOWED_RETURN_URLS",
                    reason="return_url_rejected",
                ) from None
        params: dict[str, Any] = {"name": body.name}
        if body.description:
            params["description"] = body.description
        action = PendingAction(
            "create_board",
            params,
            idempotency_key=f"api:{user_id}:{idempotency_key}"
            if idempotency_key
            else None,
        )
        try:
            answer = await context.connector.run_or_launch(user_id, action, return_url)
        except AuthorizationError as exc:
            raise ProblemError(403, str(exc), reason=exc.reason) from None
        except OperationInProgressError as exc:
            # Nothing was sent for this request: the same key later gets the result.
            raise ProblemError(
                409,
                str(exc),
                reason="operation_in_progress",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None
        except MiroConnectError as exc:
            _raise_if_database_down(exc)
            logger.warning("API create board failed: %s", type(exc).__name__)
            context.metrics.actions.labels("create_board", "failed").inc()
            raise ProblemError(
                502, "Miro refused or could not be reached", reason="miro_error"
            ) from None
        if isinstance(answer, AuthorizationNeeded):
            payload = AuthorizationRequired(authorize_url=answer.authorize_url)
            return JSONResponse(payload.model_dump(mode="json"), status_code=202)
        board_id = await record_board(context, user_id, answer, body.name)
        board = Board(
            id=board_id or "",
            name=str(answer.data.get("name") or body.name),
            view_link=str(answer.data.get("view_link") or ""),
            created_at=context.clock(),
        )
        created = BoardCreated(board=board)
        return JSONResponse(created.model_dump(mode="json"), status_code=201)

    @router.get(
        "/users/{user_id}/boards",
        responses=_problems(401, 422, 503),
    )
    async def list_boards(
        context: ContextDep,
        user_id: UserIdPath,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[
            int | None,
            Query(
                ge=1,
                le=2**31 - 1,
                description="`next_cursor` of the previous page.",
            ),
        ] = None,
    ) -> BoardList:
        """The boards made through miroconnect for a user, newest first."""
        records, next_id = await context.boards.page(
            user_id, limit=limit, before_id=cursor
        )
        return BoardList(
            boards=[_board(record) for record in records],
            next_cursor=str(next_id) if next_id is not None else None,
        )

    @router.get("/users/{user_id}/connection", responses=_problems(401, 422, 502, 503))
    async def get_connection(context: ContextDep, user_id: UserIdPath) -> Connection:
        """A user's Miro connection: status, Miro user, team and scopes."""
        try:
            found = await context.connector.connection(user_id)
        except MiroConnectError as exc:
            _raise_if_database_down(exc)
            raise ProblemError(
                502, "the connection could not be read", reason="miro_error"
            ) from None
        if found is None:
            return Connection(status="not_connected")
        return Connection(
            status=found.status,
            miro_user_id=found.miro_user_id,
            miro_user_name=found.miro_user_name,
            miro_team_id=found.miro_team_id,
            miro_team_name=found.miro_team_name,
            scopes=list(found.scopes),
            connected_since=found.connected_since,
            reason=found.reason,
        )

    @router.delete(
        "/users/{user_id}/connection",
        status_code=204,
        response_class=Response,
        responses=_problems(401, 422, 502, 503),
    )
    async def delete_connection(context: ContextDep, user_id: UserIdPath) -> Response:
        """Revoke the user's tokens at Miro and forget them (no error if none)."""
        try:
            await context.connector.disconnect(user_id)
        except MiroConnectError as exc:
            _raise_if_database_down(exc)
            raise ProblemError(
                502, "Miro could not be reached to revoke", reason="miro_error"
            ) from None
        return Response(status_code=204)

    return router
