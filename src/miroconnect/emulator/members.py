"""`/v2/boards/{board_id}/members`: sharing a board, and its members' roles."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from miroconnect.emulator.api import Caller, endpoint, visible_board
from miroconnect.emulator.boards import page_links
from miroconnect.emulator.model import Board, User
from miroconnect.emulator.validate import invalid, opt_enum, opt_str, query_int
from miroconnect.emulator.wire import APIError, json_response, read_json_object

__all__ = [
    "ROLES",
    "get_member",
    "list_members",
    "member_json",
    "remove_member",
    "share_board",
    "update_member",
]

ROLES = ("viewer", "commenter", "editor", "coowner", "owner")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def member_json(
    board: Board, user: User, role: str, base: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "role": role,
        "type": "board_member",
    }
    if base is not None:
        body["links"] = {"self": f"{base}/v2/boards/{board.id}/members/{user.id}"}
    return body


@endpoint("boards:write", 3, "share-board")
async def share_board(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    body = await read_json_object(request, required=True)
    emails = body.get("emails")
    if not isinstance(emails, list) or not 1 <= len(emails) <= 20:
        raise invalid("emails", "must be a list of 1 to 20 email addresses")
    role = opt_enum(body, "role", "role", ROLES) or "commenter"
    if role == "owner":
        role = "coowner"  # as documented: "owner" behaves like "coowner"
    opt_str(body, "message", "message")
    successful: list[int] = []
    failed: list[dict[str, str]] = []
    for email in emails:
        if not isinstance(email, str) or not _EMAIL.match(email):
            failed.append({"email": str(email), "reason": "INVITATION_FAILED"})
            continue
        user = User.named(email.split("@", 1)[0])
        current = board.members.get(user.id)
        if current is None or current[1] != "owner":
            board.members[user.id] = (user, role)
        successful.append(int(user.id))
    return json_response({"successful": successful, "failed": failed}, 201)


@endpoint("boards:read", 1, "get-board-members")
async def list_members(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    limit = query_int(request, "limit", 20, 1, 50)
    offset = query_int(request, "offset", 0, 0, None)
    members = list(board.members.values())
    page = members[offset : offset + limit]
    path = f"/v2/boards/{board.id}/members"
    return json_response(
        {
            "data": [member_json(board, user, role) for user, role in page],
            "total": len(members),
            "size": len(page),
            "offset": offset,
            "limit": limit,
            "links": page_links(caller.base, path, {}, offset, limit, len(members)),
            "type": "list",
        }
    )


def _member(board: Board, member_id: str) -> tuple[User, str]:
    member = board.members.get(member_id)
    if member is None:
        raise APIError(404, f"Board member {member_id} not found.")
    return member


@endpoint("boards:read", 1, "get-specific-board-member")
async def get_member(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    user, role = _member(board, request.path_params["member_id"])
    return json_response(member_json(board, user, role, caller.base))


@endpoint("boards:write", 2, "update-board-member")
async def update_member(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    if caller.role(board) not in ("owner", "coowner"):
        raise APIError(403, "Only the board owner or a co-owner can change roles.")
    user, role = _member(board, request.path_params["member_id"])
    body = await read_json_object(request, required=True)
    new_role = opt_enum(body, "role", "role", ROLES) or "commenter"
    if role == "owner":
        raise APIError(400, "The board owner's role cannot be changed.")
    board.members[user.id] = (user, "coowner" if new_role == "owner" else new_role)
    return json_response(
        member_json(board, user, board.members[user.id][1], caller.base)
    )


@endpoint("boards:write", 2, "remove-board-member")
async def remove_member(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    if caller.role(board) not in ("owner", "coowner"):
        raise APIError(403, "Only the board owner or a co-owner can remove members.")
    user, role = _member(board, request.path_params["member_id"])
    if role == "owner":
        raise APIError(400, "The board owner cannot be removed.")
    del board.members[user.id]
    return Response(status_code=204)
