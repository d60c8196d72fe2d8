"""Groups of items: `/v2/boards/{board_id}/groups`.

Rules (the Web SDK documents them; the REST pages say nothing either way): a group holds
at least two items, an item is in one group at most, and a group left with one item is
dissolved. Updating a group replaces it and gives it a new id, as the spec says.

The spec's `Group` schema is a user group's (`{id, name, type}`), a name clash with the
SCIM API; the request the REST docs show is `{"data": {"items": [ids]}}`, and the emulator
answers in that shape: `{"id", "type": "group", "data": {"items": [...]}}` (UNCONFIRMED).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from miroconnect.emulator.api import Caller, endpoint, visible_board
from miroconnect.emulator.items import cursor_page, find_item, item_json
from miroconnect.emulator.model import Board, Group
from miroconnect.emulator.validate import invalid, opt_object
from miroconnect.emulator.wire import APIError, json_response, read_json_object

__all__ = [
    "create_group",
    "delete_group",
    "get_group",
    "group_items",
    "list_groups",
    "ungroup",
    "update_group",
]


def group_json(group: Group, item_ids: list[str] | None = None) -> dict[str, Any]:
    items = group.item_ids if item_ids is None else item_ids
    return {"id": group.id, "type": "group", "data": {"items": list(items)}}


def _find(board: Board, group_id: str) -> Group:
    group = board.groups.get(group_id)
    if group is None:
        raise APIError(404, f"Group {group_id} not found.")
    return group


def _members(body: dict[str, Any], board: Board, replacing: Group | None) -> list[str]:
    data = opt_object(body, "data", "data")
    ids = data.get("items")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise invalid("data.items", "must be a list of item ids")
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise invalid("data.items", "a group needs at least two different items")
    for i, item_id in enumerate(ids):
        item = board.items.get(item_id)
        if item is None:
            raise invalid(f"data.items.{i}", f"no item {item_id} on this board")
        if item.group_id is not None and (
            replacing is None or item.group_id != replacing.id
        ):
            raise invalid(f"data.items.{i}", f"item {item_id} is already in a group")
    return ids


def _make(caller: Caller, board: Board, ids: list[str]) -> Group:
    group = Group(caller.state.ids.item_id(), ids)
    board.groups[group.id] = group
    for item_id in ids:
        board.items[item_id].group_id = group.id
    return group


@endpoint("boards:write", 2, "createGroup")
async def create_group(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    body = await read_json_object(request, required=True)
    group = _make(caller, board, _members(body, board, None))
    return json_response(group_json(group), 201)


@endpoint("boards:read", 2, "get-all-groups")
async def list_groups(request: Request, caller: Caller) -> Response:
    """Paged by grouped items, as the spec describes ("the first 10 items (not 10
    groups)"): a group cut by a page boundary shows its items on both pages."""
    board = visible_board(caller, request.path_params["board_id"])
    pairs = [(g, i) for g in board.groups.values() for i in g.item_ids]
    start, limit, cursor = cursor_page(request, [i for _, i in pairs])
    page: dict[str, list[str]] = {}
    for group, item_id in pairs[start : start + limit]:
        page.setdefault(group.id, []).append(item_id)
    body: dict[str, Any] = {
        "data": [group_json(board.groups[g], ids) for g, ids in page.items()],
        "total": len(pairs),
        "size": sum(len(ids) for ids in page.values()),
        "limit": limit,
    }
    if cursor is not None:
        body["cursor"] = cursor
    return json_response(body)


@endpoint("boards:read", 2, "getItemsByGroupId")
async def group_items(request: Request, caller: Caller) -> Response:
    """The items of one group. The spec wraps them as `data.data[]` of
    `ItemPagedResponse` pages; the emulator follows it (one page per call)."""
    board = visible_board(caller, request.path_params["board_id"])
    group_id = request.query_params.get("group_item_id")
    if not group_id:
        raise invalid("group_item_id", "is required")
    group = _find(board, group_id)
    start, limit, cursor = cursor_page(request, group.item_ids)
    ids = group.item_ids[start : start + limit]
    items = [item_json(board, board.items[i], caller.base, generic=True) for i in ids]
    page = {
        "data": items,
        "total": len(group.item_ids),
        "size": len(items),
        "offset": start,
        "limit": limit,
        "type": "list",
    }
    body: dict[str, Any] = {
        "data": {"id": group.id, "type": "group", "data": [page]},
        "total": len(group.item_ids),
        "size": len(items),
        "limit": limit,
    }
    if cursor is not None:
        body["cursor"] = cursor
    return json_response(body)


@endpoint("boards:read", 2, "getGroupById")
async def get_group(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    group = _find(board, request.path_params["group_id"])
    # "Level 2 per item ID": one unit is charged already, the rest now.
    caller.charge(2, len(group.item_ids) - 1)
    return json_response(group_json(group))


@endpoint("boards:write", 2, "updateGroup")
async def update_group(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    old = _find(board, request.path_params["group_id"])
    body = await read_json_object(request, required=True)
    ids = _members(body, board, old)
    board.ungroup(old)
    return json_response(group_json(_make(caller, board, ids)))


def _delete_items(request: Request, required: bool) -> bool:
    # The official clients call deleteGroup with the spec's literal "...{group_id}?" path
    # and then add "?delete_items=...": the key then arrives as "?delete_items".
    q = request.query_params
    raw = q.get("delete_items", q.get("?delete_items"))
    if raw is None:
        if required:
            raise invalid("delete_items", "is required")
        return False
    if raw not in ("true", "false"):
        raise invalid("delete_items", "must be true or false")
    return raw == "true"


async def _remove(request: Request, caller: Caller, required: bool) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    group = _find(board, request.path_params["group_id"])
    delete_items = _delete_items(request, required)
    board.ungroup(group)
    if delete_items:
        for item_id in group.item_ids:
            item = board.items.get(item_id)
            if item is not None:
                board.delete_item(find_item(board, item.id))
    return Response(status_code=204)


@endpoint("boards:write", 3, "unGroup")
async def ungroup(request: Request, caller: Caller) -> Response:
    return await _remove(request, caller, required=False)


@endpoint("boards:write", 3, "deleteGroup")
async def delete_group(request: Request, caller: Caller) -> Response:
    return await _remove(request, caller, required=True)
