"""`/v2/boards`: boards (create, get, list, update, delete, copy).

Board search lags as Miro documents: "Filtering by `team_id` or `project_id` (or both)
returns results instantly. For other filters, allow a few seconds for indexing of newly
created boards." A list by team or project shows a new board at once; any other list (by
`query`, by `owner`, or unfiltered, which is not documented as instant) only once the
board is `search_delay` seconds old.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from miroconnect.emulator.api import (
    Caller,
    endpoint,
    user_short,
    visible_board,
)
from miroconnect.emulator.model import Board, Connector, Endpoint, Group, Item, Tag
from miroconnect.emulator.validate import (
    invalid,
    opt_enum,
    opt_object,
    opt_str,
    query_int,
)
from miroconnect.emulator.wire import APIError, iso, json_response, read_json_object

__all__ = [
    "SORTS",
    "board_json",
    "copy_board",
    "create_board",
    "delete_board",
    "get_board",
    "list_boards",
    "page_links",
    "update_board",
]

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


@endpoint("boards:write", 3, "create-board")
async def create_board(request: Request, caller: Caller) -> Response:
    body = await read_json_object(request)
    board = _new_board(caller, _board_changes(body, caller, None))
    return json_response(board_json(board, caller), 201)


def _copy_content(caller: Caller, source: Board, board: Board) -> None:
    """Copy items, connectors, tags and groups under new ids, links kept."""
    now, user, ids = caller.state.now(), caller.user.id, caller.state.ids
    new = {old: ids.item_id() for old in (*source.items, *source.tags, *source.groups)}
    for old_id, item in source.items.items():
        board.items[new[old_id]] = Item(
            id=new[old_id],
            type=item.type,
            data=copy.deepcopy(item.data),
            style=copy.deepcopy(item.style),
            position=copy.deepcopy(item.position),
            geometry=copy.deepcopy(item.geometry),
            parent_id=new.get(item.parent_id) if item.parent_id else None,
            created_at=now,
            created_by=user,
            modified_at=now,
            modified_by=user,
            client_id=item.client_id,
            tag_ids=[new[t] for t in item.tag_ids],
            group_id=new.get(item.group_id) if item.group_id else None,
            file=item.file,  # immutable bytes: shared, not copied
        )
    for tag in source.tags.values():
        board.tags[new[tag.id]] = Tag(new[tag.id], tag.title, tag.fill_color)
    for group in source.groups.values():
        board.groups[new[group.id]] = Group(
            new[group.id], [new[i] for i in group.item_ids]
        )
    for c in source.connectors.values():
        cid = ids.item_id()
        start = Endpoint(
            new[c.start.item_id], copy.copy(c.start.position), c.start.snap_to
        )
        end = Endpoint(new[c.end.item_id], copy.copy(c.end.position), c.end.snap_to)
        board.connectors[cid] = Connector(
            cid, start, end, c.shape, copy.deepcopy(c.captions),
            copy.deepcopy(c.style), now, user, now, user,
        )  # fmt: skip


@endpoint("boards:write", 4, "copy-board")
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
    _copy_content(caller, source, board)
    return json_response(board_json(board, caller, project=False), 201)


@endpoint("boards:read", 1, "get-boards")
async def list_boards(request: Request, caller: Caller) -> Response:
    q = request.query_params
    limit = query_int(request, "limit", 20, 1, 50)
    offset = query_int(request, "offset", 0, 0, None)
    sort = q.get("sort", "default")
    if sort not in SORTS:
        raise invalid("sort", "must be one of " + ", ".join(SORTS))
    team_id, project_id = q.get("team_id"), q.get("project_id")
    query, owner = q.get("query"), q.get("owner")
    if query is not None and len(query) > 500:
        raise invalid("query", "must be at most 500 characters long")
    boards = [b for b in caller.state.boards.values() if caller.role(b) is not None]
    if team_id or project_id:
        # As documented: with team_id or project_id, query and owner are ignored, and
        # the answer comes at once (no search index involved).
        if team_id:
            boards = [b for b in boards if b.team.id == team_id]
        if project_id:
            boards = [b for b in boards if b.project_id == project_id]
    else:
        indexed = caller.state.now() - caller.state.search_delay
        boards = [b for b in boards if b.created_at <= indexed]
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
        sort = "last_created" if team_id or project_id else "last_opened"
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


@endpoint("boards:read", 1, "get-specific-board")
async def get_board(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    return json_response(board_json(board, caller, last_opened=True))


@endpoint("boards:write", 2, "update-board")
async def update_board(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    body = await read_json_object(request, required=True)
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


@endpoint("boards:write", 3, "delete-board")
async def delete_board(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    if caller.role(board) not in ("owner", "coowner"):
        raise APIError(403, "Only the board owner or a co-owner can delete the board.")
    del caller.state.boards[board.id]
    return Response(status_code=204)
