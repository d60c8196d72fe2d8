"""`/v2/boards`: boards (create, get, list, update, delete, copy) and board members."""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from miroconnect.emulator.api import (
    Caller,
    endpoint,
    user_short,
    visible_board,
)
from miroconnect.emulator.state import Board, Item, User
from miroconnect.emulator.validate import (
    invalid,
    opt_enum,
    opt_object,
    opt_str,
    query_int,
)
from miroconnect.emulator.wire import APIError, iso, json_response, read_json_object

__all__ = ["board_json", "routes"]

ROLES = ("viewer", "commenter", "editor", "coowner", "owner")
SORTS = ("default", "last_modified", "last_opened", "last_created", "alphabetically")
_ACCESS = ("private", "view", "edit", "comment")
_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "collaborationToolsStartAccess": ("all_editors", "board_owners_and_coowners"),
    "copyAccess": ("anyone", "team_members", "team_editors", "board_owner"),
    "sharingAccess": ("team_members_with_editing_rights", "owner_and_coowners"),
}
_SHARING: dict[str, tuple[str, ...]] = {
    "access": _ACCESS,
    "inviteToAccountAndBoardLinkAccess": ("viewer", "commenter", "editor", "no_access"),
    "organizationAccess": _ACCESS,
    "teamAccess": _ACCESS,
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def default_policy() -> dict[str, Any]:
    return {
        "permissionsPolicy": {
            "collaborationToolsStartAccess": "all_editors",
            "copyAccess": "anyone",
            "sharingAccess": "team_members_with_editing_rights",
        },
        "sharingPolicy": {
            "access": "private",
            "accessPasswordRequired": False,
            "inviteToAccountAndBoardLinkAccess": "no_access",
            "organizationAccess": "private",
            # "edit" is the free plan's default, which the emulated teams are on.
            "teamAccess": "edit",
        },
    }


def apply_policy(policy: dict[str, Any], change: dict[str, Any]) -> None:
    """Validate a `BoardPolicyChange` and merge it into `policy`."""
    for part, fields in (
        ("permissionsPolicy", _PERMISSIONS),
        ("sharingPolicy", _SHARING),
    ):
        given = opt_object(change, part, f"policy.{part}")
        for key, allowed in fields.items():
            value = opt_enum(given, key, f"policy.{part}.{key}", allowed)
            if value is not None:
                policy[part][key] = value


def board_json(
    board: Board,
    caller: Caller,
    *,
    links: bool = True,
    last_opened: bool = False,
    project: bool = True,
) -> dict[str, Any]:
    role = caller.role(board) or "viewer"
    body: dict[str, Any] = {
        "id": board.id,
        "type": "board",
        "name": board.name,
        "description": board.description,
        "team": {"id": board.team.id, "name": board.team.name, "type": "team"},
        "policy": board.policy,
        "viewLink": f"{caller.base}/app/board/{board.id}/",
        "owner": user_short(board.owner),
        "currentUserMembership": {
            "id": caller.user.id,
            "name": caller.user.name,
            "role": role,
            "type": "board_member",
        },
        "createdAt": iso(board.created_at),
        "createdBy": user_short(board.owner),
        "modifiedAt": iso(board.modified_at),
        "modifiedBy": user_short(board.modified_by),
    }
    if project and board.project_id is not None:
        body["project"] = {"id": board.project_id}
    if last_opened:
        body["lastOpenedAt"] = iso(board.last_opened_at)
        body["lastOpenedBy"] = user_short(board.owner)
    if links:
        self_link = f"{caller.base}/v2/boards/{board.id}"
        body["links"] = {
            "self": self_link,
            "related": f"{self_link}/members?limit=20&offset=0",
        }
    return body


def page_links(
    base: str, path: str, params: dict[str, str], offset: int, limit: int, total: int
) -> dict[str, str]:
    def at(start: int) -> str:
        return f"{base}{path}?" + urlencode({**params, "limit": limit, "offset": start})

    last = max(total - 1, 0) // limit * limit
    links = {"self": at(offset), "first": at(0), "last": at(last)}
    if offset + limit < total:
        links["next"] = at(offset + limit)
    if offset > 0:
        links["prev"] = at(max(offset - limit, 0))
    return links


def _board_changes(
    body: dict[str, Any], caller: Caller, board: Board | None
) -> dict[str, Any]:
    """Validate `BoardChanges`/`CopyBoardChanges`; return the changes to apply."""
    changes: dict[str, Any] = {}
    name = opt_str(body, "name", "name", min_length=1, max_length=60)
    if name is not None:
        changes["name"] = name
    description = opt_str(body, "description", "description", max_length=300)
    if description is not None:
        changes["description"] = description
    policy = copy.deepcopy(board.policy) if board is not None else default_policy()
    apply_policy(policy, opt_object(body, "policy", "policy"))
    changes["policy"] = policy
    team_id = opt_str(body, "teamId", "teamId")
    if team_id:
        team = caller.user.team(team_id)
        if team is None:
            raise APIError(403, f"You are not a member of team {team_id}.")
        changes["team"] = team
    project_id = opt_str(body, "projectId", "projectId")
    if project_id:
        if not project_id.isdigit():
            raise invalid("projectId", "must be a numeric id")
        changes["project_id"] = project_id
    return changes


def _new_board(caller: Caller, changes: dict[str, Any]) -> Board:
    state = caller.state
    now = state.now()
    board = Board(
        id=state.ids.board_id(),
        name=changes.get("name", "Untitled"),
        description=changes.get("description", ""),
        team=changes.get("team", caller.token.team),
        owner=caller.user,
        policy=changes["policy"],
        created_at=now,
        modified_at=now,
        modified_by=caller.user,
        last_opened_at=now,
        project_id=changes.get("project_id"),
    )
    board.members[caller.user.id] = (caller.user, "owner")
    state.boards[board.id] = board
    state.stats["boards_created"] += 1
    return board


@endpoint("boards:write", 3)
async def create_board(request: Request, caller: Caller) -> Response:
    body = await read_json_object(request)
    board = _new_board(caller, _board_changes(body, caller, None))
    return json_response(board_json(board, caller), 201)


@endpoint("boards:write", 4)
async def copy_board(request: Request, caller: Caller) -> Response:
    source_id = request.query_params.get("copy_from", "")
    if not source_id:
        raise invalid("copy_from", "is required")
    source = visible_board(caller, source_id)
    body = await read_json_object(request)
    changes = _board_changes(body, caller, source)
    changes.pop("project_id", None)
    changes.setdefault("name", source.name)
    changes.setdefault("description", source.description)
    board = _new_board(caller, changes)
    now = caller.state.now()
    id_map = {old: caller.state.ids.item_id() for old in source.items}
    for old_id, item in source.items.items():
        board.items[id_map[old_id]] = Item(
            id=id_map[old_id],
            type=item.type,
            data=copy.deepcopy(item.data),
            style=copy.deepcopy(item.style),
            position=copy.deepcopy(item.position),
            geometry=copy.deepcopy(item.geometry),
            parent_id=id_map.get(item.parent_id) if item.parent_id else None,
            created_at=now,
            created_by=caller.user.id,
            modified_at=now,
            modified_by=caller.user.id,
        )
    return json_response(board_json(board, caller, project=False), 201)


@endpoint("boards:read", 1)
async def list_boards(request: Request, caller: Caller) -> Response:
    q = request.query_params
    limit = query_int(request, "limit", 20, 1, 50)
    offset = query_int(request, "offset", 0, 0, None)
    sort = q.get("sort") or "default"
    if sort not in SORTS:
        raise invalid("sort", "must be one of " + ", ".join(SORTS))
    team_id, query, owner = q.get("team_id"), q.get("query"), q.get("owner")
    if query is not None and len(query) > 500:
        raise invalid("query", "must be at most 500 characters long")
    boards = [b for b in caller.state.boards.values() if caller.role(b) is not None]
    if team_id:
        # As documented: with team_id, query and owner are ignored.
        boards = [b for b in boards if b.team.id == team_id]
    else:
        if query:
            needle = query.casefold()
            boards = [
                b
                for b in boards
                if needle in b.name.casefold() or needle in b.description.casefold()
            ]
        if owner:
            boards = [b for b in boards if b.owner.id == owner]
    if sort == "default":
        sort = "last_created" if team_id else "last_opened"
    if sort == "alphabetically":
        boards.sort(key=lambda b: b.name.casefold())
    else:
        attr = {
            "last_modified": "modified_at",
            "last_opened": "last_opened_at",
            "last_created": "created_at",
        }[sort]
        # Newest first; on equal times, the later-created board first.
        order = {b.id: i for i, b in enumerate(caller.state.boards.values())}
        boards.sort(key=lambda b: (getattr(b, attr), order[b.id]), reverse=True)
    total = len(boards)
    page = boards[offset : offset + limit]
    show_opened = sort == "last_opened"
    params = {
        k: v for k, v in q.items() if k not in ("limit", "offset", "access_token")
    }
    return json_response(
        {
            "data": [
                board_json(b, caller, links=False, last_opened=show_opened)
                for b in page
            ],
            "total": total,
            "size": len(page),
            "offset": offset,
            "limit": limit,
            "links": page_links(
                caller.base, "/v2/boards", params, offset, limit, total
            ),
            "type": "list",
        }
    )


@endpoint("boards:read", 1)
async def get_board(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    return json_response(board_json(board, caller, last_opened=True))


@endpoint("boards:write", 2)
async def update_board(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    body = await read_json_object(request)
    changes = _board_changes(body, caller, board)
    for key in ("name", "description", "policy", "project_id"):
        if key in changes:
            setattr(board, key, changes[key])
    board.modified_at = caller.state.now()
    board.modified_by = caller.user
    team = changes.get("team")
    if team is not None and team.id != board.team.id:
        # Moving a board to another team is what Miro processes asynchronously: the
        # emulator applies it at once but answers 202 with no body, as Miro may.
        board.team = team
        return Response(status_code=202)
    return json_response(board_json(board, caller))


@endpoint("boards:write", 3)
async def delete_board(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    if caller.role(board) not in ("owner", "coowner"):
        raise APIError(403, "Only the board owner or a co-owner can delete the board.")
    del caller.state.boards[board.id]
    return Response(status_code=204)


# -- members ------------------------------------------------------------------


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


@endpoint("boards:write", 3)
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


@endpoint("boards:read", 1)
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


@endpoint("boards:read", 1)
async def get_member(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    user, role = _member(board, request.path_params["member_id"])
    return json_response(member_json(board, user, role, caller.base))


@endpoint("boards:write", 2)
async def update_member(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    if caller.role(board) not in ("owner", "coowner"):
        raise APIError(403, "Only the board owner or a co-owner can change roles.")
    user, role = _member(board, request.path_params["member_id"])
    body = await read_json_object(request)
    new_role = opt_enum(body, "role", "role", ROLES) or "commenter"
    if role == "owner":
        raise APIError(400, "The board owner's role cannot be changed.")
    board.members[user.id] = (user, "coowner" if new_role == "owner" else new_role)
    return json_response(
        member_json(board, user, board.members[user.id][1], caller.base)
    )


@endpoint("boards:write", 2)
async def remove_member(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    if caller.role(board) not in ("owner", "coowner"):
        raise APIError(403, "Only the board owner or a co-owner can remove members.")
    user, role = _member(board, request.path_params["member_id"])
    if role == "owner":
        raise APIError(400, "The board owner cannot be removed.")
    del board.members[user.id]
    return Response(status_code=204)


routes = [
    Route("/v2/boards", create_board, methods=["POST"]),
    Route("/v2/boards", list_boards, methods=["GET"]),
    Route("/v2/boards", copy_board, methods=["PUT"]),
    Route("/v2/boards/{board_id}", get_board, methods=["GET"]),
    Route("/v2/boards/{board_id}", update_board, methods=["PATCH"]),
    Route("/v2/boards/{board_id}", delete_board, methods=["DELETE"]),
    Route("/v2/boards/{board_id}/members", share_board, methods=["POST"]),
    Route("/v2/boards/{board_id}/members", list_members, methods=["GET"]),
    Route("/v2/boards/{board_id}/members/{member_id}", get_member, methods=["GET"]),
    Route(
        "/v2/boards/{board_id}/members/{member_id}", update_member, methods=["PATCH"]
    ),
    Route(
        "/v2/boards/{board_id}/members/{member_id}", remove_member, methods=["DELETE"]
    ),
]
