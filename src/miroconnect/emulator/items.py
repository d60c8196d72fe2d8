"""Board items: sticky notes, texts, shapes and frames, and the generic `/items` views."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from miroconnect.emulator.api import Caller, endpoint, visible_board
from miroconnect.emulator.state import Board, Item
from miroconnect.emulator.validate import (
    invalid,
    opt_bool,
    opt_enum,
    opt_number,
    opt_numeric_string,
    opt_object,
    opt_str,
    query_int,
)
from miroconnect.emulator.wire import APIError, iso, json_response, read_json_object

__all__ = ["item_json", "routes"]

STICKY_COLORS = (
    "gray", "light_yellow", "yellow", "orange", "light_green", "green", "dark_green",
    "cyan", "light_pink", "pink", "violet", "red", "light_blue", "blue", "dark_blue",
    "black",
)  # fmt: skip
FONTS = (
    "arial", "abril_fatface", "bangers", "eb_garamond", "georgia", "graduate",
    "gravitas_one", "fredoka_one", "nixie_one", "open_sans", "permanent_marker",
    "pt_sans", "pt_sans_narrow", "pt_serif", "rammetto_one", "roboto",
    "roboto_condensed", "roboto_slab", "caveat", "times_new_roman", "titan_one",
    "lemon_tuesday", "roboto_mono", "noto_sans", "plex_sans", "plex_serif",
    "plex_mono", "spoof", "tiempos_text", "formular",
)  # fmt: skip
SHAPES = (
    "rectangle", "round_rectangle", "circle", "triangle", "rhombus", "parallelogram",
    "trapezoid", "pentagon", "hexagon", "octagon", "wedge_round_rectangle_callout",
    "star", "flow_chart_predefined_process", "cloud", "cross", "can", "right_arrow",
    "left_arrow", "left_right_arrow", "left_brace", "right_brace",
)  # fmt: skip
ITEM_TYPES = (
    "text", "shape", "sticky_note", "image", "document", "card", "app_card",
    "preview", "frame", "embed", "doc_format", "data_table_format",
)  # fmt: skip
ALIGN = ("left", "right", "center")
ALIGN_VERTICAL = ("top", "middle", "bottom")

Parts = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]  # data, style, geometry


def _sticky(body: dict[str, Any], item: Item | None) -> Parts:
    data = dict(item.data) if item else {"content": "", "shape": "square"}
    given = opt_object(body, "data", "data")
    content = opt_str(given, "content", "data.content")
    shape = opt_enum(given, "shape", "data.shape", ("square", "rectangle"))
    data.update({k: v for k, v in (("content", content), ("shape", shape)) if v})
    style = dict(item.style) if item else {
        "fillColor": "light_yellow", "textAlign": "center", "textAlignVertical": "top",
    }  # fmt: skip
    s = opt_object(body, "style", "style")
    for key, allowed in (
        ("fillColor", STICKY_COLORS),
        ("textAlign", ALIGN),
        ("textAlignVertical", ALIGN_VERTICAL),
    ):
        value = opt_enum(s, key, f"style.{key}", allowed)
        if value is not None:
            style[key] = value
    ratio = 228 / 199 if data["shape"] == "square" else 228 / 350
    geometry = dict(item.geometry) if item else {"width": 199.0, "height": 228.0}
    g = opt_object(body, "geometry", "geometry")
    width = opt_number(g, "width", "geometry.width", minimum=1)
    height = opt_number(g, "height", "geometry.height", minimum=1)
    if width is not None and height is not None:
        raise invalid("geometry", "set either width or height, not both")
    if width is not None:
        geometry = {"width": width, "height": round(width * ratio, 2)}
    elif height is not None:
        geometry = {"width": round(height / ratio, 2), "height": height}
    return data, style, geometry


def _text_style(s: dict[str, Any], style: dict[str, Any], font_min: float) -> None:
    for key in ("color", "fillColor", "borderColor"):
        value = opt_str(s, key, f"style.{key}")
        if value is not None:
            style[key] = value
    for key, low, high in (
        ("fillOpacity", 0, 1),
        ("borderOpacity", 0, 1),
        ("borderWidth", 1, 24),
        ("fontSize", font_min, 288),
    ):
        value = opt_numeric_string(s, key, f"style.{key}", low, high)
        if value is not None:
            style[key] = value
    for key, allowed in (
        ("fontFamily", FONTS),
        ("textAlign", ALIGN),
        ("textAlignVertical", ALIGN_VERTICAL),
        ("borderStyle", ("normal", "dotted", "dashed")),
    ):
        value = opt_enum(s, key, f"style.{key}", allowed)
        if value is not None:
            style[key] = value


def _text(body: dict[str, Any], item: Item | None) -> Parts:
    given = opt_object(body, "data", "data")
    content = opt_str(given, "content", "data.content")
    if content is None and item is None:
        raise invalid("data.content", "is required")
    data = dict(item.data) if item else {}
    if content is not None:
        data["content"] = content
    style = dict(item.style) if item else {
        "color": "#1a1a1a", "fillColor": "transparent", "fillOpacity": "1.0",
        "fontFamily": "arial", "fontSize": "14", "textAlign": "left",
    }  # fmt: skip
    s = opt_object(body, "style", "style")
    if "textAlignVertical" in s or "borderStyle" in s:
        raise invalid("style", "texts have no vertical alignment or border")
    _text_style(s, style, 1)
    geometry = dict(item.geometry) if item else {"width": 320.0, "rotation": 0.0}
    g = opt_object(body, "geometry", "geometry")
    width = opt_number(g, "width", "geometry.width", minimum=1)
    rotation = opt_number(g, "rotation", "geometry.rotation")
    if "height" in g:
        raise invalid("geometry.height", "the height of a text follows its content")
    geometry.update(
        {k: v for k, v in (("width", width), ("rotation", rotation)) if v is not None}
    )
    return data, style, geometry


def _shape(body: dict[str, Any], item: Item | None) -> Parts:
    given = opt_object(body, "data", "data")
    data = dict(item.data) if item else {"content": "", "shape": "rectangle"}
    content = opt_str(given, "content", "data.content")
    shape = opt_enum(given, "shape", "data.shape", SHAPES)
    data.update(
        {k: v for k, v in (("content", content), ("shape", shape)) if v is not None}
    )
    style = dict(item.style) if item else {
        "borderColor": "#1a1a1a", "borderOpacity": "1.0", "borderStyle": "normal",
        "borderWidth": "2.0", "color": "#1a1a1a", "fillColor": "#ffffff",
        "fillOpacity": "1.0", "fontFamily": "arial", "fontSize": "14",
        "textAlign": "center", "textAlignVertical": "middle",
    }  # fmt: skip
    _text_style(opt_object(body, "style", "style"), style, 10)
    geometry = dict(item.geometry) if item else {
        "width": 200.0, "height": 200.0, "rotation": 0.0,
    }  # fmt: skip
    g = opt_object(body, "geometry", "geometry")
    for key in ("width", "height"):
        size = opt_number(g, key, f"geometry.{key}", minimum=1)
        if size is not None:
            geometry[key] = size
    rotation = opt_number(g, "rotation", "geometry.rotation")
    if rotation is not None:
        geometry["rotation"] = rotation
    return data, style, geometry


def _frame(body: dict[str, Any], item: Item | None) -> Parts:
    given = opt_object(body, "data", "data")
    data = dict(item.data) if item else {
        "format": "custom", "title": "Sample frame title", "type": "freeform",
        "showContent": True,
    }  # fmt: skip
    for key, allowed in (("format", ("custom",)), ("type", ("freeform",))):
        value = opt_enum(given, key, f"data.{key}", allowed)
        if value is not None:
            data[key] = value
    title = opt_str(given, "title", "data.title")
    if title is not None:
        data["title"] = title
    show = opt_bool(given, "showContent", "data.showContent")
    if show is not None:
        data["showContent"] = show
    style = dict(item.style) if item else {"fillColor": "#ffffffff"}
    fill = opt_str(opt_object(body, "style", "style"), "fillColor", "style.fillColor")
    if fill is not None:
        style["fillColor"] = fill
    geometry = dict(item.geometry) if item else {"width": 800.0, "height": 450.0}
    g = opt_object(body, "geometry", "geometry")
    for key in ("width", "height"):
        size = opt_number(g, key, f"geometry.{key}", minimum=1)
        if size is not None:
            geometry[key] = size
    return data, style, geometry


KINDS: dict[str, tuple[str, Callable[[dict[str, Any], Item | None], Parts], bool]] = {
    # path segment: (item type, body reader, data required on create)
    "sticky_notes": ("sticky_note", _sticky, False),
    "texts": ("text", _text, True),
    "shapes": ("shape", _shape, False),
    "frames": ("frame", _frame, True),
}


def item_json(
    board: Board, item: Item, base: str, *, generic: bool = False
) -> dict[str, Any]:
    self_link = f"{base}/v2/boards/{board.id}/items/{item.id}"
    body: dict[str, Any] = {"id": item.id, "type": item.type, "data": item.data}
    if not generic:
        body["style"] = item.style
    body.update(
        {
            "position": item.position,
            "geometry": item.geometry,
            "createdAt": iso(item.created_at),
            "createdBy": {"id": item.created_by, "type": "user"},
            "modifiedAt": iso(item.modified_at),
            "modifiedBy": {"id": item.modified_by, "type": "user"},
        }
    )
    if item.parent_id is not None:
        parent: dict[str, Any] = {"id": item.parent_id}
        if not generic:
            parent["links"] = {
                "self": f"{base}/v2/boards/{board.id}/items/{item.parent_id}"
            }
        body["parent"] = parent
    body["links"] = {"self": self_link}
    return body


def _placement(
    body: dict[str, Any], board: Board, item: Item | None, kind: str
) -> tuple[dict[str, Any], str | None]:
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
        if kind == "frame":
            raise invalid("parent", "frames cannot be nested")
        new_parent = opt_str(parent, "id", "parent.id")
        target = board.items.get(new_parent or "")
        if target is None or target.type != "frame":
            raise invalid("parent.id", "must be the id of a frame on this board")
        parent_id = target.id
    position["relativeTo"] = "parent_top_left" if parent_id else "canvas_center"
    return position, parent_id


def _kind(
    request: Request,
) -> tuple[str, Callable[[dict[str, Any], Item | None], Parts], bool]:
    kind = KINDS.get(request.path_params["kind"])
    if kind is None:
        raise APIError(404, "Unknown item type.")
    return kind


def _item(board: Board, item_id: str, item_type: str | None) -> Item:
    item = board.items.get(item_id)
    if item is None or (item_type is not None and item.type != item_type):
        raise APIError(404, f"Item {item_id} not found.")
    return item


@endpoint("boards:write", 2)
async def create_item(request: Request, caller: Caller) -> Response:
    item_type, read, data_required = _kind(request)
    board = visible_board(caller, request.path_params["board_id"], write=True)
    body = await read_json_object(request, required=data_required)
    if data_required and "data" not in body:
        raise invalid("data", "is required")
    data, style, geometry = read(body, None)
    position, parent_id = _placement(body, board, None, item_type)
    now = caller.state.now()
    item = Item(
        id=caller.state.ids.item_id(),
        type=item_type,
        data=data,
        style=style,
        position=position,
        geometry=geometry,
        parent_id=parent_id,
        created_at=now,
        created_by=caller.user.id,
        modified_at=now,
        modified_by=caller.user.id,
    )
    board.items[item.id] = item
    board.modified_at, board.modified_by = now, caller.user
    return json_response(item_json(board, item, caller.base), 201)


@endpoint("boards:read", 1)
async def get_item(request: Request, caller: Caller) -> Response:
    item_type = _kind(request)[0]
    board = visible_board(caller, request.path_params["board_id"])
    item = _item(board, request.path_params["item_id"], item_type)
    return json_response(item_json(board, item, caller.base))


@endpoint("boards:write", 2)
async def update_item(request: Request, caller: Caller) -> Response:
    item_type, read, _ = _kind(request)
    board = visible_board(caller, request.path_params["board_id"], write=True)
    item = _item(board, request.path_params["item_id"], item_type)
    body = await read_json_object(request)
    item.data, item.style, item.geometry = read(body, item)
    item.position, item.parent_id = _placement(body, board, item, item_type)
    item.modified_at, item.modified_by = caller.state.now(), caller.user.id
    return json_response(item_json(board, item, caller.base))


def _delete(board: Board, item: Item) -> None:
    del board.items[item.id]
    for child in board.items.values():
        if child.parent_id == item.id:
            child.parent_id = None
            child.position["relativeTo"] = "canvas_center"


@endpoint("boards:write", 3)
async def delete_item(request: Request, caller: Caller) -> Response:
    item_type = _kind(request)[0]
    board = visible_board(caller, request.path_params["board_id"], write=True)
    _delete(board, _item(board, request.path_params["item_id"], item_type))
    return Response(status_code=204)


def _cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(f"{item_id}~".encode()).decode()


@endpoint("boards:read", 2)
async def list_items(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    limit = query_int(request, "limit", 10, 10, 50)
    wanted = request.query_params.get("type")
    if wanted and wanted not in ITEM_TYPES:
        raise invalid("type", "must be one of " + ", ".join(ITEM_TYPES))
    parent = request.query_params.get("parent_item_id")
    items = [
        i
        for i in board.items.values()
        if (not wanted or i.type == wanted) and (not parent or i.parent_id == parent)
    ]
    start = 0
    cursor = request.query_params.get("cursor")
    if cursor:
        try:
            after = base64.urlsafe_b64decode(cursor.encode()).decode().rstrip("~")
        except ValueError:
            raise invalid("cursor", "is not a cursor this API issued") from None
        ids = [i.id for i in items]
        if after not in ids:
            raise invalid("cursor", "is not a cursor this API issued")
        start = ids.index(after) + 1
    page = items[start : start + limit]
    path = f"{caller.base}/v2/boards/{board.id}/items?limit={limit}"
    if wanted:
        path += f"&type={wanted}"
    body: dict[str, Any] = {
        "data": [item_json(board, i, caller.base, generic=True) for i in page],
        "total": len(items),
        "size": len(page),
        "limit": limit,
        "links": {"self": path + (f"&cursor={cursor}" if cursor else "")},
    }
    if start + limit < len(items):
        # The cursor names the last item of this page; the next page starts after it.
        body["cursor"] = _cursor(page[-1].id)
        body["links"]["next"] = f"{path}&cursor={body['cursor']}"
    return json_response(body)


@endpoint("boards:read", 1)
async def get_generic_item(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    item = _item(board, request.path_params["item_id"], None)
    return json_response(item_json(board, item, caller.base, generic=True))


@endpoint("boards:write", 2)
async def move_item(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    item = _item(board, request.path_params["item_id"], None)
    body = await read_json_object(request)
    item.position, item.parent_id = _placement(body, board, item, item.type)
    item.modified_at, item.modified_by = caller.state.now(), caller.user.id
    return json_response(item_json(board, item, caller.base, generic=True))


@endpoint("boards:write", 3)
async def delete_generic_item(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    _delete(board, _item(board, request.path_params["item_id"], None))
    return Response(status_code=204)


routes = [
    Route("/v2/boards/{board_id}/items", list_items, methods=["GET"]),
    Route("/v2/boards/{board_id}/items/{item_id}", get_generic_item, methods=["GET"]),
    Route("/v2/boards/{board_id}/items/{item_id}", move_item, methods=["PATCH"]),
    Route(
        "/v2/boards/{board_id}/items/{item_id}", delete_generic_item, methods=["DELETE"]
    ),
    Route("/v2/boards/{board_id}/{kind}", create_item, methods=["POST"]),
    Route("/v2/boards/{board_id}/{kind}/{item_id}", get_item, methods=["GET"]),
    Route("/v2/boards/{board_id}/{kind}/{item_id}", update_item, methods=["PATCH"]),
    Route("/v2/boards/{board_id}/{kind}/{item_id}", delete_item, methods=["DELETE"]),
]
