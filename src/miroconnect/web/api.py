"""The service API under `/api/v1`: what an app in any language calls.

Authenticated with `Authorization: Bearer <key>` (a key of `MIROCONNECT_API_KEYS`). Every
error is a problem document (RFC 9457). The flow for a user who never connected:

1. `POST /api/v1/users/{user_id}/boards` (with a `return_url`) answers `202` with
   `authorize_url`;
2. the app sends the user's browser there: a one-time link to this service, which sets a
   browser-binding cookie and redirects to Miro's consent page;
3. Miro redirects back to this service, which exchanges the code and *holds* the tokens
   (encrypted, unusable), then redirects (303) to `return_url?miro_result=...` (or
   `?miro_error=<reason>`);
4. the app's backend, which knows who is signed in on its side, calls
   `POST /api/v1/users/{user_id}/connection/confirm` with that result: for the user the
   flow was started for, the connection becomes active and the board is created (`201`);
   for anyone else the grant is revoked at Miro (`403 flow_user_mismatch`). A link can be
   forwarded; a confirm comes only from the app's backend, for its own signed-in user.
5. every later `POST .../boards` answers `201` with the board at once.

With `"display": "popup"` (a single-page app opens `authorize_url` in a popup), step 3
ends on a page of this service instead (`miroconnect.web.popup`): it posts the result to
the window that opened it, at `return_url`'s exact origin only, and closes; step 4 is
the same.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from miroconnect.actions import CreateBoard
from miroconnect.errors import (
    ActionError,
    ActionFailedError,
    AuthorizationError,
    FlowUserMismatchError,
    MiroConnectError,
    NotConnectedError,
    ResultExpiredError,
    ResultUnknownError,
    ResultUsedError,
)
from miroconnect.oauth.outcomes import ActionDone, FlowLaunch
from miroconnect.oauth.pending import ActionResult
from miroconnect.oauth.tokens import Connection as VaultConnection
from miroconnect.storage.boards import CURSOR_PATTERN, BoardRecord
from miroconnect.web.api_common import (
    UserIdPath,
    checked_return_url,
    idempotency_key_header,
    json_answer,
    key_problem,
    read_connection,
    reraise_if_not_miros,
)
from miroconnect.web.context import WebContext
from miroconnect.web.dependencies import APIKeyRoute, context_of
from miroconnect.web.problems import Problem, ProblemError
from miroconnect.web.replies import board_record, safe_view_link
from miroconnect.web.schemas import (
    AuthorizationRequired,
    Board,
    BoardCreate,
    BoardCreated,
    BoardList,
    Connection,
    ConnectionConfirmed,
    ConnectionStart,
    ConsentConfirm,
)

__all__ = ["api_router", "router"]

logger = logging.getLogger(__name__)

_DESCRIBED = {
    400: "The request cannot be carried out as sent.",
    401: "No API key, or a wrong one.",
    403: "`return_url_rejected`: the return URL is not on an allowed origin; "
    "`flow_user_mismatch`: the flow was started for another user (its grant is "
    "revoked at Miro).",
    404: "`result_unknown`: this result was never issued.",
    409: "`operation_in_progress`: a request with this `Idempotency-Key` is still "
    "running, retry after `Retry-After` seconds with the same key; "
    "`return_url_required`: the user must connect first, send a `return_url`; "
    "`result_used`: the consent was refused before.",
    410: "`result_expired`: the consent was not confirmed within 10 minutes.",
    422: "The body or a parameter does not validate (`idempotency_key_reused`: the "
    "key was sent before with another body).",
    500: "`vault_key_error`: a stored token does not decrypt with the configured "
    "keys (an operator's problem: MIROCONNECT_ENCRYPTION_KEYS).",
    502: "Miro refused or could not be reached.",
    503: "The database does not answer (e.g. restarting): retry after "
    "`Retry-After` seconds, with the same `Idempotency-Key`.",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": Problem, "description": _DESCRIBED[status]}
        for status in statuses
    }


def _action_problem(exc: MiroConnectError, context: WebContext, kind: str) -> NoReturn:
    """Raise the problem document for a failed action."""
    reraise_if_not_miros(exc)
    if (refused := key_problem(exc)) is not None:
        raise refused from None
    if isinstance(exc, ActionError) and not isinstance(exc, ActionFailedError):
        raise ProblemError(422, str(exc), reason="invalid_action") from None
    logger.warning("API %s failed: %s", kind, type(exc).__name__)
    context.metrics.actions.labels(kind, "failed").inc()
    raise ProblemError(
        502, "Miro refused or could not be reached", reason="miro_error"
    ) from None


def _accepted(context: WebContext, launch: FlowLaunch) -> Response:
    payload = AuthorizationRequired(authorize_url=context.launch_url(launch))
    return json_answer(payload, 202)


def _listed(context: WebContext, record: BoardRecord) -> Board:
    """A recorded board as listed: its link checked where it leaves us."""
    link = safe_view_link(record.view_link, context.miro_origins)
    return _board(replace(record, view_link=link))


def _board(record: BoardRecord) -> Board:
    return Board(
        id=record.board_id,
        name=record.name,
        view_link=record.view_link,
        created_at=record.created_at,
    )


def _connection(found: VaultConnection | None) -> Connection:
    if found is None:
        return Connection(status="not_connected")
    return Connection(
        status="connected" if found.is_live else "needs_reauth",
        miro_user_id=found.miro_user_id,
        miro_user_name=found.miro_user_name,
        miro_team_id=found.miro_team_id,
        miro_team_name=found.miro_team_name,
        scopes=list(found.scopes),
        connected_since=found.connected_at,
        reason=found.status_reason,
    )


def _board_created(context: WebContext, result: ActionResult, name: str) -> Response:
    """201 with the board as first recorded: a repeat answers the same, unchanged."""
    record = board_record(context, result, name)
    if record is None:
        raise ProblemError(502, "Miro did not return the board", reason="miro_error")
    created = BoardCreated(board=_board(record))
    return json_answer(created, 201)


router = APIRouter(route_class=APIKeyRoute, tags=["service API"])


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
        **_problems(401, 403, 409, 422, 500, 502, 503),
    },
)
async def create_board(
    request: Request,
    user_id: UserIdPath,
    body: BoardCreate,
    idempotency_key: Annotated[
        str | None,
        idempotency_key_header(
            "Repeat a request with the same key (and body) to get the same board, "
            "never a second one."
        ),
    ] = None,
) -> Response:
    """Create a board for a user, or say where to send them to connect Miro."""
    context = context_of(request)
    # Without a return_url only a connected user's board can be made (no consent).
    return_url = (
        None
        if body.return_url is None
        else checked_return_url(context, body.return_url, body.display)
    )
    # `body` is the action (a `CreateBoard`) plus where the browser comes back; its
    # `pending` leaves those two out. Operations are keyed by (app user, key): the user
    # needs no place in the key.
    action = body.pending(f"api:{idempotency_key}" if idempotency_key else None)
    try:
        answer = await context.flow.run_or_authorize(
            user_id, action, return_url, service=True, display=body.display
        )
    except AuthorizationError as exc:
        raise ProblemError(403, str(exc), reason=exc.reason) from None
    except NotConnectedError:
        # 409: the request is valid, the user's state (not connected) needs more.
        raise ProblemError(
            409,
            "the user must connect Miro first: send a return_url for the browser "
            "to come back to (with miro_result, to confirm)",
            reason="return_url_required",
        ) from None
    except MiroConnectError as exc:
        _action_problem(exc, context, CreateBoard.kind)
    if not isinstance(answer, ActionDone):
        assert isinstance(answer.start, FlowLaunch)  # noqa: S101  # service mode
        return _accepted(context, answer.start)
    return _board_created(context, answer.result, body.name)


@router.get("/users/{user_id}/boards", responses=_problems(401, 422, 503))
async def list_boards(
    request: Request,
    user_id: UserIdPath,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page."
        ),
    ] = None,
) -> BoardList:
    """The boards made through miroconnect for a user, newest first."""
    context = context_of(request)
    records, next_cursor = await context.boards.page(
        user_id, limit=limit, cursor=cursor
    )
    return BoardList(
        boards=[_listed(context, record) for record in records],
        next_cursor=next_cursor,
    )


@router.get("/users/{user_id}/connection", responses=_problems(401, 422, 500, 502, 503))
async def get_connection(request: Request, user_id: UserIdPath) -> Connection:
    """A user's Miro connection: status, Miro user, team and scopes."""
    context = context_of(request)
    return _connection(await read_connection(context, user_id))


@router.post(
    "/users/{user_id}/connection",
    status_code=202,
    response_model=AuthorizationRequired,
    responses=_problems(401, 403, 422, 503),
)
async def start_connection(
    request: Request, user_id: UserIdPath, body: ConnectionStart
) -> Response:
    """Connect (or reconnect) a user to Miro with nothing else to do: send the browser
    to `authorize_url`, then confirm the `miro_result` it comes back with."""
    context = context_of(request)
    return_url = checked_return_url(context, body.return_url, body.display)
    launch = await context.flow.start_launch(
        user_id, None, return_url, display=body.display
    )
    return _accepted(context, launch)


@router.post(
    "/users/{user_id}/connection/confirm",
    status_code=200,
    response_model=None,
    responses={
        200: {
            "model": ConnectionConfirmed,
            "description": "Confirmed: the connection is active (a flow without a "
            "board to create).",
        },
        201: {
            "model": BoardCreated,
            "description": "Confirmed: the connection is active and the board of the "
            "flow was created.",
        },
        **_problems(401, 403, 404, 409, 410, 422, 500, 502, 503),
    },
)
async def confirm_connection(
    request: Request, user_id: UserIdPath, body: ConsentConfirm
) -> Response:
    """Say which of your users came back from Miro with `miro_result`.

    Call it from your backend for the user signed in to your app on the return page.
    Only the user the flow was started for gets the connection (and the board); for
    any other user the grant is revoked at Miro and nothing is stored (`403`). A repeat
    for the same user answers what the first confirm did.
    """
    context = context_of(request)
    try:
        confirmed = await context.flow.confirm(user_id, body.result)
    except (ResultUnknownError, FlowUserMismatchError) as exc:
        status = 404 if isinstance(exc, ResultUnknownError) else 403
        raise ProblemError(status, str(exc), reason=exc.reason) from None
    except (ResultUsedError, ResultExpiredError) as exc:
        status = 409 if isinstance(exc, ResultUsedError) else 410
        raise ProblemError(status, str(exc), reason=exc.reason) from None
    except MiroConnectError as exc:
        reraise_if_not_miros(exc)
        logger.warning("API confirm failed: %s", type(exc).__name__)
        raise ProblemError(
            502, "Miro refused or could not be reached", reason="miro_error"
        ) from None
    if confirmed.action_error is not None:
        kind = confirmed.action.kind if confirmed.action else "action"
        _action_problem(confirmed.action_error, context, kind)
    if confirmed.action_result is not None and confirmed.action is not None:
        name = str(confirmed.action.params.get("name") or "")
        return _board_created(context, confirmed.action_result, name)
    found = await read_connection(context, user_id)
    payload = ConnectionConfirmed(connection=_connection(found))
    return json_answer(payload, 200)


@router.delete(
    "/users/{user_id}/connection",
    status_code=204,
    response_class=Response,
    responses=_problems(401, 422, 500, 502, 503),
)
async def delete_connection(request: Request, user_id: UserIdPath) -> Response:
    """Revoke the user's tokens at Miro and forget them (no error if none)."""
    context = context_of(request)
    try:
        await context.vault.disconnect(app_user_id=user_id)
    except NotConnectedError:
        pass  # nothing to revoke: deleting what is not there succeeds
    except MiroConnectError as exc:
        reraise_if_not_miros(exc)
        raise ProblemError(
            502, "Miro could not be reached to revoke", reason="miro_error"
        ) from None
    return Response(status_code=204)


def api_router() -> APIRouter:
    """The `/api/v1` routes (mount with that prefix)."""
    return router
