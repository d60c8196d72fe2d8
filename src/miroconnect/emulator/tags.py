"""Tags: `/v2/boards/{board_id}/tags`, and tags on items.

Documented limits: a board has up to 100 tags, a title is unique (case-sensitive) and at
most 120 characters, only cards and sticky notes carry tags, up to 8 each. Deleting a tag
takes it off every item. Attaching and removing use the item's own URL with `?tag_id=`
(the spec's `board_id_PlatformTags` paths), so those routes dispatch on that parameter
(see `router.py`): without it, `DELETE /items/{id}` deletes the item.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from miroconnect.emulator.api import Caller, endpoint, visible_board
from miroconnect.emulator.boards import page_links
from miroconnect.emulator.items import find_item, item_json
from miroconnect.emulator.model import Board, Tag
from miroconnect.emulator.validate import invalid, opt_enum, opt_str, query_int
from miroconnect.emulator.wire import APIError, json_response, read_json_object

__all__ = [
    "BOARD_TAG_LIMIT",
    "ITEM_TAG_LIMIT",
    "attach_tag",
    "create_tag",
    "delete_tag",
    "get_tag",
    "items_by_tag",
    "list_tags",
    "remove_tag",
    "tags_of_item",
    "update_tag",
]

BOARD_TAG_LIMIT = 100
ITEM_TAG_LIMIT = 8
TAGGABLE = ("card", "sticky_note")
COLORS = (
    "red", "light_green", "cyan", "yellow", "magenta", "green", "blue", "gray",
    "violet", "dark_green", "dark_blue", "black",
)  # fmt: skip


def tag_json(board: Board, tag: Tag, base: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": tag.id,
        "title": tag.title,
        "fillColor": tag.fill_color,
        "type": "tag",
    }
    if base is not None:
        body["links"] = {"self": f"{base}/v2/boards/{board.id}/tags/{tag.id}"}
    return body


def _find(board: Board, tag_id: str) -> Tag:
    tag = board.tags.get(tag_id)
    if tag is None:
        raise APIError(404, f"Tag {tag_id} not found.")
    return tag


def _title(body: dict[str, Any], board: Board, current: Tag | None) -> str | None:
    title = opt_str(body, "title", "title", max_length=120)
    if title is None:
        return None
    if not title.strip():
        raise invalid("title", "must not be empty")
    if any(t.title == title and t is not current for t in board.tags.values()):
        raise invalid("title", f"a tag titled {title!r} already exists on this board")
    return title


@endpoint("boards:write", 1, "create-tag")
async def create_tag(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    body = await read_json_object(request, required=True)
    title = _title(body, board, None)
    if title is None:
        raise invalid("title", "is required")
    color = opt_enum(body, "fillColor", "fillColor", COLORS) or "red"
    if len(board.tags) >= BOARD_TAG_LIMIT:
        raise invalid("title", f"a board has at most {BOARD_TAG_LIMIT} tags")
    tag = Tag(caller.state.ids.item_id(), title, color)
    board.tags[tag.id] = tag
    return json_response(tag_json(board, tag, caller.base), 201)


@endpoint("boards:read", 1, "get-tags-from-board")
async def list_tags(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    limit = query_int(request, "limit", 20, 1, 50)
    offset = query_int(request, "offset", 0, 0, None)
    tags = list(board.tags.values())
    page = tags[offset : offset + limit]
    path = f"/v2/boards/{board.id}/tags"
    return json_response(
        {
            "data": [tag_json(board, t, None) for t in page],
            "total": len(tags),
            "size": len(page),
            "offset": offset,
            "limit": limit,
            "links": page_links(caller.base, path, {}, offset, limit, len(tags)),
            "type": "list",
        }
    )


# The spec asks for boards:write here (a slip, surely, but the emulator follows it).
@endpoint("boards:write", 1, "get-tag")
async def get_tag(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    tag = _find(board, request.path_params["tag_id"])
    return json_response(tag_json(board, tag, caller.base))


@endpoint("boards:write", 1, "update-tag")
async def update_tag(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    tag = _find(board, request.path_params["tag_id"])
    body = await read_json_object(request, required=True)
    title = _title(body, board, tag)
    color = opt_enum(body, "fillColor", "fillColor", COLORS)
    if title is not None:
        tag.title = title
    if color is not None:
        tag.fill_color = color
    return json_response(tag_json(board, tag, caller.base))


@endpoint("boards:write", 1, "delete-tag")
async def delete_tag(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    board.delete_tag(_find(board, request.path_params["tag_id"]))
    return Response(status_code=204)


def _tag_param(request: Request, board: Board) -> Tag:
    tag_id = request.query_params.get("tag_id")
    if not tag_id:
        raise invalid("tag_id", "is required")
    return _find(board, tag_id)


@endpoint("boards:write", 1, "attach-tag-to-item")
async def attach_tag(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    item = find_item(board, request.path_params["item_id"])
    tag = _tag_param(request, board)
    if item.type not in TAGGABLE:
        raise invalid("item_id", "only cards and sticky notes can have tags")
    if tag.id not in item.tag_ids:
        if len(item.tag_ids) >= ITEM_TAG_LIMIT:
            raise invalid("tag_id", f"an item has at most {ITEM_TAG_LIMIT} tags")
        item.tag_ids.append(tag.id)
    return Response(status_code=204)


@endpoint("boards:write", 1, "remove-tag-from-item")
async def remove_tag(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    item = find_item(board, request.path_params["item_id"])
    tag = _tag_param(request, board)
    if tag.id in item.tag_ids:
        item.tag_ids.remove(tag.id)
    return Response(status_code=204)


@endpoint("boards:read", 1, "get-tags-from-item")
async def tags_of_item(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    item = find_item(board, request.path_params["item_id"])
    tags = [tag_json(board, board.tags[t], None) for t in item.tag_ids]
    return json_response({"tags": tags})


@endpoint("boards:read", 1, "get-items-by-tag")
async def items_by_tag(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    tag = _tag_param(request, board)
    limit = query_int(request, "limit", 20, 1, 50)
    offset = query_int(request, "offset", 0, 0, None)
    items = [i for i in board.items.values() if tag.id in i.tag_ids]
    page = items[offset : offset + limit]
    path = f"/v2/boards/{board.id}/items"
    params = {"tag_id": tag.id}
    return json_response(
        {
            "data": [item_json(board, i, caller.base, generic=True) for i in page],
            "total": len(items),
            "size": len(page),
            "offset": offset,
            "limit": limit,
            "links": page_links(caller.base, path, params, offset, limit, len(items)),
            "type": "list",
        }
    )
