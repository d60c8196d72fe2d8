"""Connectors: lines between two items (`/v2/boards/{board_id}/connectors`).

A connector needs both its items: it is refused if either is missing or a frame ("Frames
are not supported at the moment"), and it goes when either item is deleted
(`Board.delete_item`).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from miroconnect.emulator.api import Caller, endpoint, visible_board
from miroconnect.emulator.items import cursor_page
from miroconnect.emulator.model import Board, Connector, Endpoint
from miroconnect.emulator.validate import (
    invalid,
    opt_enum,
    opt_numeric_string,
    opt_object,
    opt_str,
)
from miroconnect.emulator.wire import APIError, iso, json_response, read_json_object

__all__ = [
    "connector_json",
    "create_connector",
    "delete_connector",
    "get_connector",
    "list_connectors",
    "update_connector",
]

CAPS = (
    "none", "stealth", "rounded_stealth", "diamond", "filled_diamond", "oval",
    "filled_oval", "arrow", "triangle", "filled_triangle", "erd_one", "erd_many",
    "erd_only_one", "erd_zero_or_one", "erd_one_or_many", "erd_zero_or_many", "unknown",
)  # fmt: skip
SIDES = ("auto", "top", "right", "bottom", "left")
_SIDE_OFFSETS = {
    "top": ("50%", "0%"),
    "right": ("100%", "50%"),
    "bottom": ("50%", "100%"),
    "left": ("0%", "50%"),
}
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


def _default_style() -> dict[str, Any]:
    # The defaults the spec gives for each field of ConnectorStyle.
    return {
        "color": "#1a1a1a",
        "endStrokeCap": "stealth",
        "fontSize": "14",
        "startStrokeCap": "none",
        "strokeColor": "#000000",
        "strokeStyle": "normal",
        "strokeWidth": "1.0",
        "textOrientation": "aligned",
    }


def _percent(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    match = _PERCENT.match(value.strip())
    if match is None or not 0 <= float(match.group(1)) <= 100:
        raise invalid(field, "must be a percentage between 0% and 100%")
    return value.strip()


def _end(
    board: Board, given: dict[str, Any], field: str, old: Endpoint | None
) -> Endpoint:
    item_id = opt_str(given, "id", f"{field}.id") or (old.item_id if old else None)
    if item_id is None:
        raise invalid(f"{field}.id", "is required")
    item = board.items.get(item_id)
    if item is None:
        raise invalid(f"{field}.id", f"no item {item_id} on this board")
    if item.type == "frame":
        raise invalid(f"{field}.id", "frames cannot be connected")
    offset = opt_object(given, "position", f"{field}.position")
    snap = opt_enum(given, "snapTo", f"{field}.snapTo", SIDES)
    if offset and snap is not None:
        raise invalid(field, "set either position or snapTo, not both")
    if offset:
        x = _percent(opt_str(offset, "x", f"{field}.position.x"), f"{field}.position.x")
        y = _percent(opt_str(offset, "y", f"{field}.position.y"), f"{field}.position.y")
        return Endpoint(item.id, {"x": x or "50%", "y": y or "50%"}, None)
    if snap is not None or old is None or old.item_id != item.id:
        return Endpoint(item.id, None, snap or "auto")
    return old


def _captions(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    raw = body.get("captions")
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > 20:
        raise invalid("captions", "must be a list of at most 20 captions")
    captions = []
    for i, value in enumerate(raw):
        if not isinstance(value, dict):
            raise invalid(f"captions.{i}", "must be an object")
        content = opt_str(value, "content", f"captions.{i}.content", max_length=200)
        if content is None:
            raise invalid(f"captions.{i}.content", "is required")
        caption: dict[str, Any] = {"content": content}
        where = _percent(
            opt_str(value, "position", f"captions.{i}.position"),
            f"captions.{i}.position",
        )
        if where is not None:
            caption["position"] = where
        vertical = opt_enum(
            value,
            "textAlignVertical",
            f"captions.{i}.textAlignVertical",
            ("top", "middle", "bottom"),
        )
        if vertical is not None:
            caption["textAlignVertical"] = vertical
        captions.append(caption)
    return captions


def _style(body: dict[str, Any], style: dict[str, Any]) -> dict[str, Any]:
    s = opt_object(body, "style", "style")
    style = dict(style)
    for key in ("color", "strokeColor"):
        value = opt_str(s, key, f"style.{key}")
        if value is not None:
            style[key] = value
    for key, allowed in (
        ("startStrokeCap", CAPS),
        ("endStrokeCap", CAPS),
        ("strokeStyle", ("normal", "dotted", "dashed")),
        ("textOrientation", ("horizontal", "aligned")),
    ):
        value = opt_enum(s, key, f"style.{key}", allowed)
        if value is not None:
            style[key] = value
    for key, low, high in (("fontSize", 10, 288), ("strokeWidth", 1, 24)):
        value = opt_numeric_string(s, key, f"style.{key}", low, high)
        if value is not None:
            style[key] = value
    return style


def end_offset(board: Board, connector: Connector, end: Endpoint) -> dict[str, str]:
    """Where the line meets its item, as percentages. A snap side is the middle of that
    side; `auto` picks the side that faces the other item."""
    if end.position is not None:
        return end.position
    side = end.snap_to or "auto"
    if side == "auto":
        other_id = (
            connector.end.item_id if end is connector.start else connector.start.item_id
        )
        here, there = board.items.get(end.item_id), board.items.get(other_id)
        if here is None or there is None:
            side = "right"
        else:
            (hx, hy), (tx, ty) = board.center(here), board.center(there)
            dx, dy = tx - hx, ty - hy
            if abs(dx) >= abs(dy):
                side = "right" if dx >= 0 else "left"
            else:
                side = "bottom" if dy >= 0 else "top"
    x, y = _SIDE_OFFSETS[side]
    return {"x": x, "y": y}


def connector_json(board: Board, connector: Connector, base: str) -> dict[str, Any]:
    items = f"{base}/v2/boards/{board.id}/items"

    def end(e: Endpoint) -> dict[str, Any]:
        return {
            "id": e.item_id,
            "links": {"self": f"{items}/{e.item_id}"},
            "position": end_offset(board, connector, e),
        }

    body: dict[str, Any] = {
        "id": connector.id,
        "type": "connector",
        "shape": connector.shape,
        "startItem": end(connector.start),
        "endItem": end(connector.end),
        "style": connector.style,
        "isSupported": True,
        "createdAt": iso(connector.created_at),
        "createdBy": {"id": connector.created_by, "type": "user"},
        "modifiedAt": iso(connector.modified_at),
        "modifiedBy": {"id": connector.modified_by, "type": "user"},
        "links": {"self": f"{base}/v2/boards/{board.id}/connectors/{connector.id}"},
    }
    if connector.captions:
        body["captions"] = connector.captions
    return body


def _find(board: Board, connector_id: str) -> Connector:
    connector = board.connectors.get(connector_id)
    if connector is None:
        raise APIError(404, f"Connector {connector_id} not found.")
    return connector


@endpoint("boards:write", 2, "create-connector")
async def create_connector(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    body = await read_json_object(request, required=True)
    for name in ("startItem", "endItem"):
        if not isinstance(body.get(name), dict):
            raise invalid(name, "is required")
    start = _end(board, body["startItem"], "startItem", None)
    end = _end(board, body["endItem"], "endItem", None)
    if start.item_id == end.item_id:
        raise invalid("endItem.id", "must differ from startItem.id")
    shape = opt_enum(body, "shape", "shape", ("straight", "elbowed", "curved"))
    captions = _captions(body) or []
    style = _style(body, _default_style())
    now, user = caller.state.now(), caller.user.id
    connector = Connector(
        caller.state.ids.item_id(), start, end, shape or "curved", captions, style,
        now, user, now, user,
    )  # fmt: skip
    board.connectors[connector.id] = connector
    # The spec answers 200 here, not 201 (unlike every item type).
    return json_response(connector_json(board, connector, caller.base), 200)


@endpoint("boards:read", 2, "get-connectors")
async def list_connectors(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    connectors = list(board.connectors.values())
    start, limit, cursor = cursor_page(request, [c.id for c in connectors])
    page = connectors[start : start + limit]
    path = f"{caller.base}/v2/boards/{board.id}/connectors?limit={limit}"
    body: dict[str, Any] = {
        "data": [connector_json(board, c, caller.base) for c in page],
        "total": len(connectors),
        "size": len(page),
        "limit": limit,
        "links": {"self": path},
    }
    if cursor is not None:
        body["cursor"] = cursor
        body["links"]["next"] = f"{path}&cursor={cursor}"
    return json_response(body)


@endpoint("boards:read", 1, "get-connector")
async def get_connector(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    connector = _find(board, request.path_params["connector_id"])
    return json_response(connector_json(board, connector, caller.base))


@endpoint("boards:write", 2, "update-connector")
async def update_connector(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    connector = _find(board, request.path_params["connector_id"])
    body = await read_json_object(request, required=True)
    start, end = connector.start, connector.end
    if body.get("startItem") is not None:
        start = _end(
            board, opt_object(body, "startItem", "startItem"), "startItem", start
        )
    if body.get("endItem") is not None:
        end = _end(board, opt_object(body, "endItem", "endItem"), "endItem", end)
    if start.item_id == end.item_id:
        raise invalid("endItem.id", "must differ from startItem.id")
    shape = opt_enum(body, "shape", "shape", ("straight", "elbowed", "curved"))
    captions = _captions(body)
    style = _style(body, connector.style)
    connector.start, connector.end, connector.style = start, end, style
    if shape is not None:
        connector.shape = shape
    if captions is not None:
        connector.captions = captions
    connector.modified_at, connector.modified_by = caller.state.now(), caller.user.id
    return json_response(connector_json(board, connector, caller.base))


@endpoint("boards:write", 3, "delete-connector")
async def delete_connector(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    del board.connectors[_find(board, request.path_params["connector_id"]).id]
    return Response(status_code=204)
