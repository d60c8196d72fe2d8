"""Board items: the routes of every item type, and the generic `/items` views.

Each type in `kinds.KINDS` gets create, get, update (where the spec has one) and delete at
`/v2/boards/{board_id}/<segment>[/{item_id}]`. What they share is here: where an item sits
(position, parent frame), how it is shown, and how it is found.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from miroconnect.emulator.api import Caller, Endpoint, endpoint, visible_board
from miroconnect.emulator.kinds import ITEM_TYPES, Kind, Parts, by_type
from miroconnect.emulator.model import Board, Item
from miroconnect.emulator.validate import (
    invalid,
    opt_number,
    opt_object,
    opt_str,
    query_int,
)
from miroconnect.emulator.wire import APIError, iso, json_response, read_json_object

__all__ = [
    "add_item",
    "cursor_page",
    "delete_generic_item",
    "delete_item_experimental",
    "find_item",
    "get_generic_item",
    "item_json",
    "kind_handlers",
    "list_items",
    "list_items_in_frame",
    "move_item",
    "placement",
]


def _resource_url(base: str, board: Board, item: Item) -> str:
    # The shape of the spec's example: the file is fetched with the access token.
    folder = "images" if item.type == "image" else "documents"
    query = (
        "format=preview&redirect=false" if item.type == "image" else "redirect=false"
    )
    return f"{base}/v2/boards/{board.id}/resources/{folder}/{item.id}?{query}"


def _shown_data(
    board: Board, item: Item, base: str, client_id: str, text_format: str | None
) -> dict[str, Any]:
    if item.type in ("image", "document"):
        data = {k: v for k, v in item.data.items() if k != "url"}
        key = "imageUrl" if item.type == "image" else "documentUrl"
        data[key] = _resource_url(base, board, item)
        return data
    if item.type == "app_card":
        # "Defines whether the card is owned by the application making the call."
        return {**item.data, "owned": item.client_id == client_id}
    if item.type == "doc_format" and text_format == "html":
        return {
            "contentType": "html",
            "content": markdown_to_html(item.data["content"]),
        }
    return item.data


def item_json(
    board: Board,
    item: Item,
    base: str,
    *,
    generic: bool = False,
    client_id: str = "",
    text_format: str | None = None,
) -> dict[str, Any]:
    """The item as the API shows it: the type's own schema, or `GenericItem` (no style,
    a bare parent id) for the `/items` views."""
    items_url = f"{base}/v2/boards/{board.id}/items"
    data = _shown_data(board, item, base, client_id, text_format)
    body: dict[str, Any] = {"id": item.id, "type": item.type, "data": data}
    if not generic and item.style:
        body["style"] = item.style
    body["position"] = item.position
    if item.type != "doc_format":  # DocFormatItem has no geometry
        body["geometry"] = item.geometry
    body.update(
        {
            "createdAt": iso(item.created_at),
            "createdBy": {"id": item.created_by, "type": "user"},
            "modifiedAt": iso(item.modified_at),
            "modifiedBy": {"id": item.modified_by, "type": "user"},
        }
    )
    if item.parent_id is not None:
        parent: dict[str, Any] = {"id": item.parent_id}
        if not generic:
            parent["links"] = {"self": f"{items_url}/{item.parent_id}"}
        body["parent"] = parent
    links = {"self": f"{items_url}/{item.id}"}
    if item.type == "frame" and not generic:
        links["related"] = f"{items_url}?parent_item_id={item.id}&limit=10"
    body["links"] = links
    return body


def markdown_to_html(markdown: str) -> str:
    """Enough Markdown for a doc format's `textContentType=html` view: headings, list
    items and paragraphs, text escaped. (Miro's own converter is not documented.)"""
    from html import escape

    out: list[str] = []
    in_list = False
    for line in markdown.splitlines():
        text = line.strip()
        listed = text[:2] in ("- ", "* ")
        if in_list and not listed:
            out.append("</ul>")
        if listed and not in_list:
            out.append("<ul>")
        in_list = listed
        level = len(text) - len(text.lstrip("#"))
        if listed:
            out.append(f"<li>{escape(text[2:])}</li>")
        elif 1 <= level <= 6 and text[level : level + 1] == " ":
            out.append(f"<h{level}>{escape(text[level + 1 :])}</h{level}>")
        elif text:
            out.append(f"<p>{escape(text)}</p>")
    return "".join(out) + ("</ul>" if in_list else "")


def placement(
    body: dict[str, Any], board: Board, item: Item | None, kind: Kind
) -> tuple[dict[str, Any], str | None]:
    """The item's position and parent frame after applying `position` and `parent`.

    A parent must be a frame on the same board and frames do not nest; inside a frame the
    position is relative to the frame's top-left corner.
    """
    position = dict(item.position) if item else {
        "x": 0.0, "y": 0.0, "origin": "center", "relativeTo": "canvas_center",
    }  # fmt: skip
    given = opt_object(body, "position", "position")
    for key in ("x", "y"):
        value = opt_number(given, key, f"position.{key}")
        if value is not None:
            position[key] = value
    parent_id = item.parent_id if item else None
    parent = opt_object(body, "parent", "parent")
    if "id" in parent:
        if not kind.parent:
            raise invalid("parent", "frames cannot be nested")
        new_parent = opt_str(parent, "id", "parent.id")
        target = board.items.get(new_parent or "")
        if target is None or target.type != "frame":
            raise invalid("parent.id", "must be the id of a frame on this board")
        parent_id = target.id
    position["relativeTo"] = "parent_top_left" if parent_id else "canvas_center"
    return position, parent_id


def find_item(board: Board, item_id: str, item_type: str | None = None) -> Item:
    """The item, if it is on the board (and of `item_type`); 404 otherwise."""
    item = board.items.get(item_id)
    if item is None or (item_type is not None and item.type != item_type):
        raise APIError(404, f"Item {item_id} not found.")
    return item


def add_item(
    caller: Caller,
    board: Board,
    kind: Kind,
    parts: Parts,
    placed: tuple[dict[str, Any], str | None],
) -> Item:
    """Put a new item on the board (already validated)."""
    now = caller.state.now()
    data, style, geometry = parts
    position, parent_id = placed
    item = Item(
        id=caller.state.ids.item_id(),
        type=kind.type,
        data=data,
        style=style,
        position=position,
        geometry=geometry,
        parent_id=parent_id,
        created_at=now,
        created_by=caller.user.id,
        modified_at=now,
        modified_by=caller.user.id,
        client_id=caller.token.client.client_id,
    )
    board.items[item.id] = item
    board.modified_at, board.modified_by = now, caller.user
    return item


def kind_handlers(kind: Kind) -> dict[str, Endpoint]:
    """create / get / update / delete for one item type (update only where it exists)."""
    create_op, get_op, update_op, delete_op = kind.operations

    @endpoint("boards:write", 2, create_op)
    async def create(request: Request, caller: Caller) -> Response:
        board = visible_board(caller, request.path_params["board_id"], write=True)
        body = await read_json_object(request, required=True)
        if kind.data_required and "data" not in body:
            raise invalid("data", "is required")
        parts = kind.read(body, None)
        item = add_item(caller, board, kind, parts, placement(body, board, None, kind))
        client = caller.token.client.client_id
        return json_response(item_json(board, item, caller.base, client_id=client), 201)

    @endpoint("boards:read", 1, get_op)
    async def get(request: Request, caller: Caller) -> Response:
        board = visible_board(caller, request.path_params["board_id"])
        item = find_item(board, request.path_params["item_id"], kind.type)
        text_format = request.query_params.get("textContentType")
        if kind.type == "doc_format" and text_format not in (None, "html", "markdown"):
            raise invalid("textContentType", "must be html or markdown")
        client = caller.token.client.client_id
        body = item_json(
            board, item, caller.base, client_id=client, text_format=text_format
        )
        return json_response(body)

    async def update(request: Request, caller: Caller) -> Response:
        board = visible_board(caller, request.path_params["board_id"], write=True)
        item = find_item(board, request.path_params["item_id"], kind.type)
        body = await read_json_object(request, required=True)
        parts = kind.read(body, item)
        placed = placement(body, board, item, kind)
        item.data, item.style, item.geometry = parts
        item.position, item.parent_id = placed
        item.modified_at, item.modified_by = caller.state.now(), caller.user.id
        client = caller.token.client.client_id
        return json_response(item_json(board, item, caller.base, client_id=client))

    @endpoint("boards:write", 3, delete_op)
    async def delete(request: Request, caller: Caller) -> Response:
        board = visible_board(caller, request.path_params["board_id"], write=True)
        board.delete_item(find_item(board, request.path_params["item_id"], kind.type))
        return Response(status_code=204)

    for handler, verb in ((create, "create"), (get, "get"), (delete, "delete")):
        handler.__name__ = f"{verb}_{kind.type}"
    handlers = {"create": create, "get": get, "delete": delete}
    if update_op is not None:
        handlers["update"] = endpoint("boards:write", 2, update_op)(update)
        handlers["update"].__name__ = f"update_{kind.type}"
    return handlers


def _cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(f"{item_id}~".encode()).decode()


def cursor_page(
    request: Request, ids: list[str], default: int = 10
) -> tuple[int, int, str | None]:
    """(start, limit, next cursor) of a cursor-paged list (limit 10-50, as Miro's)."""
    limit = query_int(request, "limit", default, 10, 50)
    start = 0
    cursor = request.query_params.get("cursor")
    if cursor:
        try:
            after = base64.urlsafe_b64decode(cursor.encode()).decode().rstrip("~")
        except ValueError:
            raise invalid("cursor", "is not a cursor this API issued") from None
        if after not in ids:
            raise invalid("cursor", "is not a cursor this API issued")
        start = ids.index(after) + 1
    more = start + limit < len(ids)
    return start, limit, _cursor(ids[start + limit - 1]) if more else None


def _item_list(
    request: Request, caller: Caller, board: Board, items: list[Item], query: str
) -> Response:
    start, limit, cursor = cursor_page(request, [i.id for i in items])
    page = items[start : start + limit]
    path = f"{caller.base}/v2/boards/{board.id}/items?limit={limit}{query}"
    given = request.query_params.get("cursor")
    body: dict[str, Any] = {
        "data": [item_json(board, i, caller.base, generic=True) for i in page],
        "total": len(items),
        "size": len(page),
        "limit": limit,
        "links": {"self": path + (f"&cursor={given}" if given else "")},
    }
    if cursor is not None:
        # The cursor names the last item of this page; the next page starts after it.
        body["cursor"] = cursor
        body["links"]["next"] = f"{path}&cursor={cursor}"
    return json_response(body)


@endpoint("boards:read", 2, "get-items")
async def list_items(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    wanted = request.query_params.get("type")
    if wanted is not None and wanted not in ITEM_TYPES:
        raise invalid("type", "must be one of " + ", ".join(ITEM_TYPES))
    items = [i for i in board.items.values() if not wanted or i.type == wanted]
    return _item_list(
        request, caller, board, items, f"&type={wanted}" if wanted else ""
    )


@endpoint("boards:read", 2, "get-items-within-frame")
async def list_items_in_frame(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    parent = request.query_params.get("parent_item_id", "")
    frame = find_item(board, parent)
    if frame.type != "frame":
        raise invalid("parent_item_id", "must be the id of a frame")
    wanted = request.query_params.get("type") or None
    items = [
        i
        for i in board.items.values()
        if i.parent_id == frame.id and (wanted is None or i.type == wanted)
    ]
    query = f"&parent_item_id={frame.id}" + (f"&type={wanted}" if wanted else "")
    return _item_list(request, caller, board, items, query)


@endpoint("boards:read", 1, "get-specific-item")
async def get_generic_item(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    item = find_item(board, request.path_params["item_id"])
    return json_response(item_json(board, item, caller.base, generic=True))


@endpoint("boards:write", 2, "update-item-position-or-parent")
async def move_item(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    item = find_item(board, request.path_params["item_id"])
    body = await read_json_object(request, required=True)
    kind = by_type(item.type)
    assert kind is not None  # noqa: S101  # every stored item has a kind
    item.position, item.parent_id = placement(body, board, item, kind)
    item.modified_at, item.modified_by = caller.state.now(), caller.user.id
    return json_response(item_json(board, item, caller.base, generic=True))


async def _delete(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    board.delete_item(find_item(board, request.path_params["item_id"]))
    return Response(status_code=204)


delete_generic_item = endpoint("boards:write", 3, "delete-item")(_delete)
delete_item_experimental = endpoint("boards:write", 3, "delete-item-experimental")(
    _delete
)
