"""Item types made from a URL (images, documents, embeds) and doc formats: their body
readers. Uploaded files are `uploads.py`'s."""

from __future__ import annotations

from typing import Any

from miroconnect.emulator.model import Item
from miroconnect.emulator.readers import Parts, fixed_ratio
from miroconnect.emulator.validate import (
    invalid,
    opt_enum,
    opt_number,
    opt_object,
    opt_str,
)

__all__ = ["doc_format", "document", "embed", "http_url", "image"]


def http_url(value: str | None, field: str) -> str | None:
    """A URL with an http(s) scheme: Miro fetches or embeds it, nothing else works."""
    if value is not None and not value.lower().startswith(("http://", "https://")):
        raise invalid(field, "must be an http or https URL")
    return value


def _from_url(body: dict[str, Any], item: Item | None) -> dict[str, Any]:
    """`data` of an image or document made from a URL (kept in data["url"])."""
    given = opt_object(body, "data", "data")
    url = http_url(opt_str(given, "url", "data.url", min_length=1), "data.url")
    if url is None and item is None:
        raise invalid("data.url", "is required")
    data = dict(item.data) if item else {}
    if url is not None:
        data["url"] = url
    title = opt_str(given, "title", "data.title")
    if title is not None:
        data["title"] = title
    return data


def _ratio(item: Item | None, default: float) -> float:
    if item is None or not item.geometry.get("width"):
        return default
    return float(item.geometry["height"]) / float(item.geometry["width"])


def image(body: dict[str, Any], item: Item | None) -> Parts:
    data = _from_url(body, item)
    # The real service sizes an image by its pixels; the emulator does not fetch it.
    geometry = dict(item.geometry) if item else {
        "width": 320.0, "height": 240.0, "rotation": 0.0,
    }  # fmt: skip
    return data, {}, fixed_ratio(body, geometry, _ratio(item, 0.75), rotation=True)


def document(body: dict[str, Any], item: Item | None) -> Parts:
    data = _from_url(body, item)
    if item is None and "geometry" in body:
        # DocumentCreateRequest has no geometry (the update request has one).
        raise invalid("geometry", "is not accepted when creating a document")
    geometry = dict(item.geometry) if item else {
        "width": 320.0, "height": 452.0, "rotation": 0.0,
    }  # fmt: skip
    return data, {}, fixed_ratio(body, geometry, _ratio(item, 1.4125), rotation=True)


def embed(body: dict[str, Any], item: Item | None) -> Parts:
    given = opt_object(body, "data", "data")
    url = http_url(opt_str(given, "url", "data.url", min_length=1), "data.url")
    if url is None and item is None:
        raise invalid("data.url", "is required")
    data = dict(item.data) if item else {"mode": "inline"}
    if url is not None:
        data["url"] = url
    mode = opt_enum(given, "mode", "data.mode", ("inline", "modal"))
    if mode is not None:
        data["mode"] = mode
    preview = http_url(opt_str(given, "previewUrl", "data.previewUrl"), "previewUrl")
    if preview is not None:
        data["previewUrl"] = preview
    geometry = dict(item.geometry) if item else {"width": 480.0, "height": 270.0}
    return data, {}, fixed_ratio(body, geometry, _ratio(item, 0.5625), rotation=False)


def doc_format(body: dict[str, Any], item: Item | None) -> Parts:
    given = opt_object(body, "data", "data")
    if opt_enum(given, "contentType", "data.contentType", ("markdown",)) is None:
        raise invalid("data.contentType", "is required: markdown")
    content = opt_str(given, "content", "data.content")
    if content is None:
        raise invalid("data.content", "is required")
    if given.get("contentVersion") is not None:
        opt_number(given, "contentVersion", "data.contentVersion")
    data = {"contentType": "markdown", "content": content}
    # DocFormatCreateRequest has no style or geometry; the board page needs a size.
    return data, {}, {"width": 600.0, "height": 400.0}
