"""Item types and their routes' operation ids: `/v2/boards/{board_id}/<segment>`.

Each kind names its body reader (`readers.py`, `media.py`); `items.py` turns the table
into routes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from miroconnect.emulator import media, readers
from miroconnect.emulator.model import Item
from miroconnect.emulator.readers import Parts

__all__ = ["ITEM_TYPES", "KINDS", "Kind", "Parts", "Reader", "by_type"]

# The `type` filter of GET /items (the spec's enum, including types no route creates).
ITEM_TYPES = (
    "text", "shape", "sticky_note", "image", "document", "card", "app_card",
    "preview", "frame", "embed", "doc_format", "data_table_format",
)  # fmt: skip
Reader = Callable[[dict[str, Any], Item | None], Parts]


@dataclass(frozen=True)
class Kind:
    """An item type and its routes: `/v2/boards/{board_id}/<segment>[/{item_id}]`.

    `operations` are the spec's operationIds for create, get, update (None: the spec has
    no PATCH for the type) and delete.
    """

    segment: str
    type: str
    read: Reader
    data_required: bool
    operations: tuple[str, str, str | None, str]
    parent: bool = True  # may sit in a frame


KINDS = (
    Kind("sticky_notes", "sticky_note", readers.sticky, False, (
        "create-sticky-note-item", "get-sticky-note-item", "update-sticky-note-item",
        "delete-sticky-note-item",
    )),
    Kind("texts", "text", readers.text, True, (
        "create-text-item", "get-text-item", "update-text-item", "delete-text-item",
    )),
    Kind("shapes", "shape", readers.shape, False, (
        "create-shape-item", "get-shape-item", "update-shape-item", "delete-shape-item",
    )),
    Kind("frames", "frame", readers.frame, True, (
        "create-frame-item", "get-frame-item", "update-frame-item", "delete-frame-item",
    ), parent=False),
    Kind("cards", "card", readers.card, False, (
        "create-card-item", "get-card-item", "update-card-item", "delete-card-item",
    )),
    Kind("app_cards", "app_card", readers.app_card, False, (
        "create-app-card-item", "get-app-card-item", "update-app-card-item",
        "delete-app-card-item",
    )),
    Kind("images", "image", media.image, True, (
        "create-image-item-using-url", "get-image-item", "update-image-item-using-url",
        "delete-image-item",
    )),
    Kind("documents", "document", media.document, True, (
        "create-document-item-using-url", "get-document-item",
        "update-document-item-using-url", "delete-document-item",
    )),
    Kind("embeds", "embed", media.embed, True, (
        "create-embed-item", "get-embed-item", "update-embed-item", "delete-embed-item",
    )),
    Kind("docs", "doc_format", media.doc_format, True, (
        "create-doc-format-item", "get-doc-format-item", None, "delete-doc-format-item",
    )),
)  # fmt: skip


def by_type(item_type: str) -> Kind | None:
    """The kind of an item type ("sticky_note" -> the sticky notes' Kind)."""
    return _BY_TYPE.get(item_type)


_BY_TYPE = {kind.type: kind for kind in KINDS}
