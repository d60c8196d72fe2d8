"""The board drawn as SVG, for the page `viewLink` and the live embed point at.

Not Miro's renderer: enough to see what an app created, where it put it. Items sit where
their position says (centre origin; a frame's children relative to its top-left corner),
at their size and rotation, in their colours; connectors are lines between the items'
edges, with an arrow head where the end cap asks for one. Every text is escaped (content
may carry HTML, which is shown as text without its tags).
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import Any

from miroconnect.emulator.connectors import end_offset
from miroconnect.emulator.model import Board, Connector, Item

__all__ = ["board_svg"]

Box = tuple[float, float, float, float]  # centre x, centre y, width, height

_STICKY = {
    "gray": "#f5f6f8", "light_yellow": "#fff9b1", "yellow": "#f5d128",
    "orange": "#ff9d48", "light_green": "#d5f692", "green": "#c9df56",
    "dark_green": "#93d275", "cyan": "#67c6c0", "light_pink": "#ffcee0",
    "pink": "#ea94bb", "violet": "#c6a2d2", "red": "#f0939d", "light_blue": "#a6ccf5",
    "blue": "#6cd8fa", "dark_blue": "#9ea9ff", "black": "#000000",
}  # fmt: skip
_TAGS = re.compile(r"<[^>]+>")
_MARGIN = 80.0


def _num(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _plain(value: Any) -> str:
    return " ".join(_TAGS.sub(" ", str(value or "")).split())


def _box(board: Board, item: Item) -> Box:
    """Where the item is on the canvas (frames' children are placed inside them)."""
    g = item.geometry
    w = _num(g.get("width"), 100.0)
    h = _num(g.get("height"), w * 0.3 if item.type == "text" else 100.0)
    x, y = board.center(item)
    return x, y, w, h


def _color(value: Any, default: str) -> str:
    text = str(value or "")
    if re.fullmatch(r"#[0-9a-fA-F]{3,8}", text) or text == "transparent":
        return text
    return default


_JUSTIFY = {"top": "flex-start", "middle": "center", "bottom": "flex-end"}


def _label(
    box: Box,
    text: str,
    *,
    size: float = 14,
    color: str = "#1a1a1a",
    style: dict[str, Any] | None = None,
) -> str:
    """Text wrapped inside the item's box, aligned as its style says."""
    x, y, w, h = box
    s = style or {}
    align = s.get("textAlign")
    align = align if align in ("left", "right", "center") else "left"
    vertical = _JUSTIFY.get(str(s.get("textAlignVertical")), "flex-start")
    return (
        f'<foreignObject x="{x - w / 2 + 6:.1f}" y="{y - h / 2 + 6:.1f}" '
        f'width="{max(w - 12, 1):.1f}" height="{max(h - 12, 1):.1f}">'
        f'<div xmlns="http://www.w3.org/1999/xhtml" style="font:{size:.0f}px '
        "system-ui,sans-serif;overflow:hidden;height:100%;display:flex;"
        f"flex-direction:column;justify-content:{vertical};text-align:{align};"
        f'color:{color};word-wrap:break-word">{escape(text)}</div></foreignObject>'
    )


def _rect(box: Box, fill: str, stroke: str = "none", rx: float = 0) -> str:
    x, y, w, h = box
    return (
        f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" '
        f'height="{h:.1f}" rx="{rx:.0f}" fill="{fill}" stroke="{stroke}"/>'
    )


def _polygon(
    box: Box, points: list[tuple[float, float]], fill: str, stroke: str
) -> str:
    x, y, w, h = box
    coords = " ".join(
        f"{x + (px - 0.5) * w:.1f},{y + (py - 0.5) * h:.1f}" for px, py in points
    )
    return f'<polygon points="{coords}" fill="{fill}" stroke="{stroke}"/>'


def _shape(item: Item, box: Box) -> str:
    s = item.style
    fill = _color(s.get("fillColor"), "#ffffff")
    stroke = _color(s.get("borderColor"), "#1a1a1a")
    kind = str(item.data.get("shape", "rectangle"))
    x, y, w, h = box
    if kind == "circle":
        body = (
            f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" '
            f'fill="{fill}" stroke="{stroke}"/>'
        )
    elif kind == "triangle":
        body = _polygon(box, [(0.5, 0), (1, 1), (0, 1)], fill, stroke)
    elif kind == "rhombus":
        body = _polygon(box, [(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)], fill, stroke)
    elif kind == "parallelogram":
        body = _polygon(box, [(0.25, 0), (1, 0), (0.75, 1), (0, 1)], fill, stroke)
    else:
        rx = 12 if kind in ("round_rectangle", "cloud", "can") else 0
        body = _rect(box, fill, stroke, rx)
    text = _label(
        box,
        _plain(item.data.get("content")),
        size=_num(s.get("fontSize"), 14),
        color=_color(s.get("color"), "#1a1a1a"),
        style=s,
    )
    return body + text


def _item_svg(board: Board, item: Item, base: str) -> str:
    box = _box(board, item)
    d, s = item.data, item.style
    if item.type == "frame":
        x, y, w, h = box
        title = escape(_plain(d.get("title")))
        body = _rect(box, _color(s.get("fillColor"), "#ffffff"), "#c3c2cf")
        body += f'<text x="{x - w / 2:.1f}" y="{y - h / 2 - 8:.1f}" class="t">{title}</text>'
    elif item.type == "sticky_note":
        fill = _STICKY.get(str(s.get("fillColor")), "#fff9b1")
        color = "#ffffff" if s.get("fillColor") == "black" else "#1a1a1a"
        body = _rect(box, fill) + _label(
            box, _plain(d.get("content")), size=18, color=color, style=s
        )
    elif item.type == "shape":
        body = _shape(item, box)
    elif item.type == "text":
        body = _label(
            box,
            _plain(d.get("content")),
            size=_num(s.get("fontSize"), 14),
            color=_color(s.get("color"), "#1a1a1a"),
            style=s,
        )
    elif item.type in ("card", "app_card"):
        theme = _color(s.get("cardTheme") or s.get("fillColor"), "#2d9bf0")
        lines = [_plain(d.get("title")), _plain(d.get("description"))]
        if item.type == "app_card":
            lines.append(f"[{d.get('status', '')}]")
        body = _rect(box, "#ffffff", theme, 6) + _label(
            box, " — ".join(t for t in lines if t)
        )
    elif item.type == "image":
        x, y, w, h = box
        href = escape(_image_href(board, item, base), quote=True)
        body = (
            f'<image x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" '
            f'height="{h:.1f}" href="{href}" preserveAspectRatio="xMidYMid meet"/>'
            + _rect(box, "none", "#c3c2cf")
        )
    elif item.type == "document":
        title = _plain(d.get("title")) or "document"
        body = _rect(box, "#ffffff", "#c3c2cf", 4) + _label(box, f"Document: {title}")
    elif item.type == "embed":
        body = _rect(box, "#f5f6f8", "#c3c2cf", 4) + _label(
            box, f"Embed: {d.get('url', '')}"
        )
    else:  # doc_format and anything newer
        body = _rect(box, "#ffffff", "#c3c2cf", 4) + _label(
            box, str(d.get("content", ""))
        )
    turn = _num(item.geometry.get("rotation"), 0.0)
    transform = (
        f' transform="rotate({turn:.1f} {box[0]:.1f} {box[1]:.1f})"' if turn else ""
    )
    return (
        f'<g class="item" data-type="{escape(item.type)}" data-id="{escape(item.id)}"'
        f"{transform}>{body}</g>"
    )


def _image_href(board: Board, item: Item, base: str) -> str:
    if item.file is not None:
        return f"{base}/app/board/{board.id}/files/{item.id}"
    return str(item.data.get("url", ""))


def _anchor(board: Board, connector: Connector, end: Any) -> tuple[float, float]:
    item = board.items.get(end.item_id)
    if item is None:
        return 0.0, 0.0
    x, y, w, h = _box(board, item)
    offset = end_offset(board, connector, end)
    fx = _num(offset["x"].rstrip("%"), 50) / 100
    fy = _num(offset["y"].rstrip("%"), 50) / 100
    return x - w / 2 + fx * w, y - h / 2 + fy * h


def _connector_svg(board: Board, connector: Connector) -> str:
    (x1, y1), (x2, y2) = (
        _anchor(board, connector, connector.start),
        _anchor(board, connector, connector.end),
    )
    s = connector.style
    stroke = _color(s.get("strokeColor"), "#000000")
    width = _num(s.get("strokeWidth"), 1.0)
    dash = {"dashed": ' stroke-dasharray="8 4"', "dotted": ' stroke-dasharray="2 3"'}
    extra = dash.get(str(s.get("strokeStyle")), "")
    if s.get("endStrokeCap", "stealth") != "none":
        extra += ' marker-end="url(#arrow)"'
    if s.get("startStrokeCap", "none") != "none":
        extra += ' marker-start="url(#arrow-start)"'
    if connector.shape == "straight":
        path = f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"
    elif connector.shape == "elbowed":
        path = f"M{x1:.1f},{y1:.1f} H{(x1 + x2) / 2:.1f} V{y2:.1f} H{x2:.1f}"
    else:  # curved: a gentle bend off the straight line
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        cx, cy = mx - (y2 - y1) / length * 40, my + (x2 - x1) / length * 40
        path = f"M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2:.1f},{y2:.1f}"
    captions = "".join(
        f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 6:.1f}" class="c">'
        f"{escape(_plain(c.get('content')))}</text>"
        for c in connector.captions
    )
    return (
        f'<g class="connector" data-id="{escape(connector.id)}"><path d="{path}" '
        f'fill="none" stroke="{stroke}" stroke-width="{width:.1f}"{extra}/>{captions}</g>'
    )


def board_svg(board: Board, base: str) -> str:
    """The whole board as one SVG element, sized to what is on it."""
    boxes = [_box(board, item) for item in board.items.values()]
    if not boxes:
        boxes = [(0.0, 0.0, 400.0, 200.0)]
    left = min(x - w / 2 for x, _, w, _ in boxes) - _MARGIN
    top = min(y - h / 2 for _, y, _, h in boxes) - _MARGIN
    right = max(x + w / 2 for x, _, w, _ in boxes) + _MARGIN
    bottom = max(y + h / 2 for _, y, _, h in boxes) + _MARGIN
    # Frames first, so that what sits in them is drawn on top.
    ordered = sorted(board.items.values(), key=lambda i: i.type != "frame")
    items = "".join(_item_svg(board, item, base) for item in ordered)
    lines = "".join(_connector_svg(board, c) for c in board.connectors.values())
    markers = (
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker>'
        '<marker id="arrow-start" viewBox="0 0 10 10" refX="1" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
    )
    return (
        f'<svg id="board" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="{left:.1f} {top:.1f} {right - left:.1f} {bottom - top:.1f}" '
        f'role="img" aria-label="{escape(board.name, quote=True)}">'
        "<style>.t{font:16px system-ui,sans-serif;fill:#555}"
        ".c{font:12px system-ui,sans-serif;text-anchor:middle;fill:#1a1a1a}</style>"
        f"{markers}{items}{lines}</svg>"
    )
