"""Images and documents from a file on the device (multipart), and the files themselves.

The files stay in memory: a multipart body is parsed as it streams in, never spooled to
disk, and refused past the documented size ("Maximum file size is 6 MB", per file). An
image must look like an image (PNG, JPEG, GIF, WebP, SVG or BMP by its first bytes).

The file of an image or document is served at the URL its `imageUrl`/`documentUrl` shows,
`/v2/boards/{board_id}/resources/{images|documents}/{item_id}`, with the access token (as
the spec describes: `redirect=false` answers `{url, type}`, `redirect=true` a 307 to the
file). That route is not one of the spec's operations, and its body is UNCONFIRMED.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from miroconnect.emulator.api import Caller, endpoint, visible_board
from miroconnect.emulator.items import add_item, find_item, item_json, placement
from miroconnect.emulator.kinds import Kind, Parts, by_type
from miroconnect.emulator.model import Board, Item, StoredFile
from miroconnect.emulator.validate import invalid, opt_number, opt_object, opt_str
from miroconnect.emulator.wire import APIError, json_response

__all__ = [
    "MAX_FILE_BYTES",
    "Part",
    "file_url",
    "image_type",
    "read_multipart",
    "resource",
    "upload_create",
    "upload_update",
]

MAX_FILE_BYTES = 6 * 1024 * 1024
MAX_FILES = 20  # bulk create takes up to 20 resources
_OVERHEAD = 64 * 1024  # headers and JSON parts of a multipart body


@dataclass(frozen=True)
class Part:
    """One part of a multipart body."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


async def read_multipart(request: Request) -> dict[str, list[Part]]:
    """The parts of a multipart/form-data body by name, read into memory; 413 when it is
    larger than MAX_FILES files of MAX_FILE_BYTES, 400 when it is not multipart."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise APIError(400, "Expected a multipart/form-data body.")
    parts: dict[str, list[Part]] = {}
    headers: dict[str, str] = {}
    field, value, chunks = bytearray(), bytearray(), bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        headers[field.decode("latin-1").lower()] = value.decode("latin-1")
        field.clear()
        value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunks.extend(data[start:end])

    def on_part_end() -> None:
        _, disposition = parse_options_header(headers.get("content-disposition"))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        part = Part(
            name,
            filename.decode("utf-8", "replace") if filename is not None else None,
            headers.get("content-type", "application/octet-stream"),
            bytes(chunks),
        )
        parts.setdefault(name, []).append(part)
        headers.clear()
        chunks.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    limit, size = MAX_FILES * MAX_FILE_BYTES + _OVERHEAD, 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise APIError(413, "The request body is too large.")
            parser.write(chunk)
        parser.finalize()
    except APIError:
        raise
    except Exception:  # python-multipart raises several types on a malformed body
        raise APIError(400, "The multipart body is malformed.") from None
    for name, found in parts.items():
        for part in found:
            if part.filename is not None and len(part.data) > MAX_FILE_BYTES:
                raise APIError(
                    413, f"{name}: a file is at most {MAX_FILE_BYTES // 2**20} MB."
                )
    return parts


def image_type(data: bytes) -> str | None:
    """The image's media type by its first bytes, or None if it is not an image."""
    head = data[:512].lstrip()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"BM"):
        return "image/bmp"
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "image/svg+xml"
    return None


def _png_ratio(data: bytes) -> float | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return height / width if width else None


def _json_part(parts: dict[str, list[Part]], name: str) -> dict[str, Any]:
    found = parts.get(name)
    if not found:
        return {}
    try:
        value = json.loads(found[0].data or b"{}")
    except (ValueError, RecursionError):  # nested too deep
        raise invalid(name, "must be a JSON object") from None
    if not isinstance(value, dict):
        raise invalid(name, "must be a JSON object")
    return value


def stored_file(kind: Kind, part: Part, field: str) -> StoredFile:
    """The uploaded file, checked for its kind."""
    if not part.data:
        raise invalid(field, "the file is empty")
    content_type = part.content_type
    if kind.type == "image":
        sniffed = image_type(part.data)
        if sniffed is None:
            raise invalid(field, "is not an image (PNG, JPEG, GIF, WebP, SVG or BMP)")
        content_type = sniffed
    return StoredFile(content_type, part.filename or "file", part.data)


def file_parts(
    kind: Kind, data: dict[str, Any], stored: StoredFile, item: Item | None
) -> Parts:
    """data, style and geometry of an item made from (or given) an uploaded file."""
    title = opt_str(data, "title", "data.title")
    alt = opt_str(data, "altText", "data.altText")
    shown = {k: v for k, v in (item.data if item else {}).items() if k != "url"}
    if title is not None:
        shown["title"] = title
    if alt is not None and kind.type == "image":
        shown["altText"] = alt
    default = {"width": 320.0, "height": 240.0 if kind.type == "image" else 452.0}
    geometry = dict(item.geometry) if item else {**default, "rotation": 0.0}
    ratio = _png_ratio(stored.data) if kind.type == "image" else None
    if ratio is not None and item is None:
        geometry["height"] = round(geometry["width"] * ratio, 2)
    g = opt_object(data, "geometry", "data.geometry")
    width = opt_number(g, "width", "data.geometry.width", minimum=1)
    height = opt_number(g, "height", "data.geometry.height", minimum=1)
    if width is not None and height is not None:
        raise invalid("data.geometry", "set either width or height, not both")
    current = ratio or float(geometry["height"]) / float(geometry["width"])
    if width is not None:
        geometry.update(width=width, height=round(width * current, 2))
    elif height is not None:
        geometry.update(width=round(height / current, 2), height=height)
    rotation = opt_number(g, "rotation", "data.geometry.rotation")
    if rotation is not None:
        geometry["rotation"] = rotation
    return shown, {}, geometry


def _kind(item_type: str) -> Kind:
    kind = by_type(item_type)
    assert kind is not None  # noqa: S101  # "image" and "document" are kinds
    return kind


def _the_file(parts: dict[str, list[Part]]) -> Part:
    found = [p for p in parts.get("resource", []) if p.filename is not None]
    if not found:
        raise invalid("resource", "a file is required")
    return found[0]


def upload_create(item_type: str, operation: str) -> Any:
    """POST /v2/boards/{board_id}/<images|documents> with a file from the device."""
    kind = _kind(item_type)

    @endpoint("boards:write", 2, operation)
    async def create(request: Request, caller: Caller) -> Response:
        board = visible_board(caller, request.path_params["board_id"], write=True)
        parts = await read_multipart(request)
        stored = stored_file(kind, _the_file(parts), "resource")
        data = _json_part(parts, "data")
        made = file_parts(kind, data, stored, None)
        item = add_item(caller, board, kind, made, placement(data, board, None, kind))
        item.file = stored
        return json_response(item_json(board, item, caller.base), 201)

    create.__name__ = f"upload_{item_type}"
    return create


def upload_update(item_type: str, operation: str) -> Any:
    """PATCH /v2/boards/{board_id}/<images|documents>/{item_id} with a new file."""
    kind = _kind(item_type)

    @endpoint("boards:write", 2, operation)
    async def update(request: Request, caller: Caller) -> Response:
        board = visible_board(caller, request.path_params["board_id"], write=True)
        item = find_item(board, request.path_params["item_id"], kind.type)
        parts = await read_multipart(request)
        stored = stored_file(kind, _the_file(parts), "resource")
        data = _json_part(parts, "data")
        made = file_parts(kind, data, stored, item)
        item.position, item.parent_id = placement(data, board, item, kind)
        item.data, item.style, item.geometry = made
        item.file = stored
        item.modified_at, item.modified_by = caller.state.now(), caller.user.id
        return json_response(item_json(board, item, caller.base))

    update.__name__ = f"upload_update_{item_type}"
    return update


def file_url(base: str, board: Board, item: Item) -> str:
    """Where the file itself can be fetched (the board page draws images from here)."""
    if item.file is None:
        return str(item.data.get("url", ""))
    return f"{base}/app/board/{board.id}/files/{item.id}"


# Not a spec operation: counted under a name of its own.
@endpoint("boards:read", 1, "emulator-get-resource")
async def resource(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"])
    folder = request.path_params["folder"]
    wanted = {"images": "image", "documents": "document"}.get(folder)
    if wanted is None:
        raise APIError(404, "Not found.")
    item = find_item(board, request.path_params["item_id"], wanted)
    url = file_url(caller.base, board, item)
    if request.query_params.get("redirect") == "true":
        return RedirectResponse(url, status_code=307)
    kind = item.file.content_type if item.file else "application/octet-stream"
    return json_response({"url": url, "type": kind})
