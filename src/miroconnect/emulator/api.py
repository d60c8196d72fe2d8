"""REST plumbing shared by every `/v1` and `/v2` endpoint: the bearer token, scopes,
rate-limit credits and headers, and Miro's error envelope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from miroconnect.emulator.model import Board, User
from miroconnect.emulator.state import AccessToken, EmulatorState, RateDecision
from miroconnect.emulator.wire import APIError, json_response, origin

__all__ = [
    "Caller",
    "Endpoint",
    "Handler",
    "OPERATIONS",
    "WRITE_ROLES",
    "endpoint",
    "error_response",
    "rate_headers",
    "resource",
    "state_of",
    "token_from",
    "user_short",
    "visible_board",
]

WRITE_ROLES = ("editor", "coowner", "owner")


class Caller:
    """Who is calling: the live token, the origin to build links with, and the credits
    charged so far (the rate-limit headers show the last charge)."""

    __slots__ = ("base", "decision", "state", "token")

    def __init__(
        self,
        token: AccessToken,
        base: str,
        state: EmulatorState,
        decision: RateDecision,
    ) -> None:
        self.token = token
        self.base = base
        self.state = state
        self.decision = decision

    def charge(self, level: int, units: int) -> None:
        """Charge `units` more calls of `level`, for operations Miro prices per item
        (bulk create: "Level 2 per item"). Past the budget: 429, and nothing is done."""
        for _ in range(units):
            self.decision = self.state.charge(
                self.user.id, self.token.client.client_id, level
            )
            if not self.decision.allowed:
                raise APIError(429, "Request rate limit exceeded.")

    @property
    def user(self) -> User:
        return self.token.user

    def role(self, board: Board) -> str | None:
        """The caller's role on the board, or None if they cannot see it."""
        member = board.members.get(self.user.id)
        if member is not None:
            return member[1]
        # Boards of the token's team are open to its members, as team access is.
        if board.team.id == self.token.team.id:
            return "editor"
        return None


Handler = Callable[[Request, Caller], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]

# Every operation an `endpoint` serves: operationId -> (scope, rate-limit level).
OPERATIONS: dict[str, tuple[str | None, int]] = {}


def state_of(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def rate_headers(decision: RateDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(max(decision.remaining, 0)),
        "X-RateLimit-Reset": str(decision.reset),
    }


def error_response(error: APIError, decision: RateDecision) -> Response:
    return json_response(error.body(), error.status, rate_headers(decision))


def token_from(request: Request) -> str:
    """The bearer token from the Authorization header, or the `access_token` query."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("access_token", "").strip()


def endpoint(
    scope: str | None, level: int, operation: str
) -> Callable[[Handler], Endpoint]:
    """Wrap a handler: authenticate, check `scope`, charge `level` credits, add headers.

    `operation` is the spec's operationId; each call that gets past authentication is
    counted under it (`/_emulator/stats`), which is how tests prove every operation ran.
    """

    OPERATIONS[operation] = (scope, level)

    def wrap(handler: Handler) -> Endpoint:
        async def route(request: Request) -> Response:
            state = state_of(request)
            value = token_from(request)
            if not value:
                error = APIError(
                    401, "No access token provided.", code="tokenNotProvided"
                )
                return error_response(error, state.idle_rate())
            token = state.lookup_token(value)
            if isinstance(token, str):
                message = (
                    "Access token has expired."
                    if token == "expired"  # noqa: S105  # a reason, not a secret
                    else "Access token is invalid or was revoked."
                )
                error = APIError(401, message, code="tokenNotProvided")
                return error_response(error, state.idle_rate())
            state.count(operation)
            decision = state.charge(token.user.id, token.client.client_id, level)
            headers = rate_headers(decision)
            if not decision.allowed:
                error = APIError(429, "Request rate limit exceeded.")
                return json_response(error.body(), 429, headers)
            if scope is not None and scope not in token.scopes:
                error = APIError(
                    403, f"The access token lacks the required scope {scope}."
                )
                return json_response(error.body(), 403, headers)
            caller = Caller(token, origin(request), state, decision)
            try:
                response = await handler(request, caller)
            except APIError as error:
                headers = rate_headers(caller.decision)
                return json_response(error.body(), error.status, headers)
            response.headers.update(rate_headers(caller.decision))
            return response

        route.__name__ = handler.__name__
        route.__doc__ = handler.__doc__
        return route

    return wrap


def resource(path: str, **handlers: Endpoint) -> Route:
    """One route for every method on `path` (`get=..., post=...`), so that a method the
    path does not have is a 405 whose `Allow` header names all the ones it does."""
    by_method = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in by_method:
        by_method["HEAD"] = by_method["GET"]

    async def dispatch(request: Request) -> Response:
        return await by_method[request.method](request)

    dispatch.__name__ = "_".join(h.__name__ for h in handlers.values())
    return Route(path, dispatch, methods=list(handlers))


def visible_board(caller: Caller, board_id: str, *, write: bool = False) -> Board:
    """The board if the caller may see it (and write it); 404 or 403 otherwise."""
    board = caller.state.boards.get(board_id)
    role = caller.role(board) if board is not None else None
    if board is None or role is None:
        raise APIError(404, f"Board {board_id} not found or access is invalid.")
    if write and role not in WRITE_ROLES:
        raise APIError(403, "Your role on this board does not allow this change.")
    return board


def user_short(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "type": "user"}
