"""How each item type reads its request body: limits, enums and defaults.

A reader takes the request body and the item being updated (None on create) and returns
the item's new `data`, `style` and `geometry`; it raises 400 on anything Miro would refuse.
Position and parent are the same for every type and live in `items.py`. The types made
from a URL or a file (images, documents, embeds) and doc formats are in `media.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from miroconnect.emulator.model import Item
from miroconnect.emulator.validate import (
    invalid,
    opt_bool,
    opt_enum,
    opt_number,
    opt_numeric_string,
    opt_object,
    opt_str,
)

__all__ = [
    "ALIGN",
    "FONTS",
    "Parts",
    "SHAPES",
    "STICKY_COLORS",
    "app_card",
    "card",
    "fixed_ratio",
    "frame",
    "free_geometry",
    "shape",
    "sticky",
    "text",
]

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
ALIGN = ("left", "right", "center")
ALIGN_VERTICAL = ("top", "middle", "bottom")

Parts = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]  # data, style, geometry


def fixed_ratio(
    body: dict[str, Any], geometry: dict[str, Any], ratio: float, rotation: bool
) -> dict[str, Any]:
    """Width or height, not both: the other follows the item's aspect ratio."""
    g = opt_object(body, "geometry", "geometry")
    width = opt_number(g, "width", "geometry.width", minimum=1)
    height = opt_number(g, "height", "geometry.height", minimum=1)
    if width is not None and height is not None:
        raise invalid("geometry", "set either width or height, not both")
    geometry = dict(geometry)
    if width is not None:
        geometry.update(width=width, height=round(width * ratio, 2))
    elif height is not None:
        geometry.update(width=round(height / ratio, 2), height=height)
    if rotation:
        turn = opt_number(g, "rotation", "geometry.rotation")
        if turn is not None:
            geometry["rotation"] = turn
    elif "rotation" in g:
        raise invalid("geometry.rotation", "this item cannot be rotated")
    return geometry


def free_geometry(
    body: dict[str, Any], geometry: dict[str, Any], rotation: bool
) -> dict[str, Any]:
    g = opt_object(body, "geometry", "geometry")
    geometry = dict(geometry)
    for key in ("width", "height"):
        size = opt_number(g, key, f"geometry.{key}", minimum=1)
        if size is not None:
            geometry[key] = size
    if rotation:
        turn = opt_number(g, "rotation", "geometry.rotation")
        if turn is not None:
            geometry["rotation"] = turn
    return geometry


def sticky(body: dict[str, Any], item: Item | None) -> Parts:
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
    return data, style, fixed_ratio(body, geometry, ratio, rotation=False)


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


def text(body: dict[str, Any], item: Item | None) -> Parts:
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
    if "height" in g:
        raise invalid("geometry.height", "the height of a text follows its content")
    return data, style, free_geometry(body, geometry, rotation=True)


def shape(body: dict[str, Any], item: Item | None) -> Parts:
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
    return data, style, free_geometry(body, geometry, rotation=True)


def frame(body: dict[str, Any], item: Item | None) -> Parts:
    given = opt_object(body, "data", "data")
    data = dict(item.data) if item else {
        "format": "custom", "title": "Sample frame title", "type": "freeform",
        "showContent": True,
    }  # fmt: skip
    # "Only custom frames are supported at the moment", "only free form frames".
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
    if "rotation" in opt_object(body, "geometry", "geometry"):
        raise invalid("geometry.rotation", "frames cannot be rotated")
    return data, style, free_geometry(body, geometry, rotation=False)


def _date_time(value: str | None, field: str) -> str | None:
    if value is not None:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise invalid(field, "must be an ISO 8601 date and time") from None
    return value


def card(body: dict[str, Any], item: Item | None) -> Parts:
    given = opt_object(body, "data", "data")
    data = dict(item.data) if item else {}
    for key in ("title", "description"):
        value = opt_str(given, key, f"data.{key}")
        if value is not None:
            data[key] = value
    assignee = opt_str(given, "assigneeId", "data.assigneeId")
    if assignee is not None:
        if not assignee.isdigit():
            raise invalid("data.assigneeId", "must be a numeric user id")
        data["assigneeId"] = assignee
    due = _date_time(opt_str(given, "dueDate", "data.dueDate"), "data.dueDate")
    if due is not None:
        data["dueDate"] = due
    style = dict(item.style) if item else {"cardTheme": "#2d9bf0"}
    theme = opt_str(opt_object(body, "style", "style"), "cardTheme", "style.cardTheme")
    if theme is not None:
        style["cardTheme"] = theme
    geometry = dict(item.geometry) if item else {
        "width": 320.0, "height": 94.0, "rotation": 0.0,
    }  # fmt: skip
    return data, style, free_geometry(body, geometry, rotation=True)


def _custom_fields(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise invalid("data.fields", "must be a list")
    fields: list[dict[str, Any]] = []
    for i, raw in enumerate(value):
        if not isinstance(raw, dict):
            raise invalid(f"data.fields.{i}", "must be an object")
        field: dict[str, Any] = {}
        for key in ("fillColor", "iconUrl", "textColor", "tooltip", "value"):
            text = opt_str(raw, key, f"data.fields.{i}.{key}")
            if text is not None:
                field[key] = text
        shape = opt_enum(raw, "iconShape", f"data.fields.{i}.iconShape", SQUARE_ROUND)
        if shape is not None:
            field["iconShape"] = shape
        fields.append(field)
    return fields


SQUARE_ROUND = ("round", "square")


def app_card(body: dict[str, Any], item: Item | None) -> Parts:
    given = opt_object(body, "data", "data")
    data: dict[str, Any] = dict(item.data) if item else {
        "title": "sample app card item", "status": "disconnected",
    }  # fmt: skip
    for key in ("title", "description"):
        value = opt_str(given, key, f"data.{key}")
        if value is not None:
            data[key] = value
    status = opt_enum(
        given, "status", "data.status", ("disconnected", "connected", "disabled")
    )
    if status is not None:
        data["status"] = status
    if given.get("fields") is not None:
        data["fields"] = _custom_fields(given["fields"])
    style = dict(item.style) if item else {"fillColor": "#2d9bf0"}
    fill = opt_str(opt_object(body, "style", "style"), "fillColor", "style.fillColor")
    if fill is not None:
        style["fillColor"] = fill
    geometry = dict(item.geometry) if item else {
        "width": 320.0, "height": 94.0, "rotation": 0.0,
    }  # fmt: skip
    return data, style, free_geometry(body, geometry, rotation=True)
