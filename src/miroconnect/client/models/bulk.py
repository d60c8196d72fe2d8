"""Bulk create: up to 20 items of mixed types in one all-or-nothing call."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from miroconnect.client.models.base import (
    Geometry,
    ItemParent,
    MiroModel,
    Position,
    SelfLink,
)
from miroconnect.client.models.items import (
    AppCardData,
    AppCardStyle,
    CardData,
    CardStyle,
    FrameChanges,
    GenericItem,
    ShapeData,
    ShapeStyle,
    StickyNoteData,
    StickyNoteStyle,
    TextData,
    TextStyle,
)
from miroconnect.client.models.media import (
    DocumentUrlData,
    EmbedUrlData,
    ImageUrlData,
)

__all__ = [
    "BULK_ITEM_TYPES",
    "BulkFileEntry",
    "BulkItem",
    "BulkItemType",
    "BulkItems",
    "ItemCreate",
    "ItemDataCreate",
    "ItemStyleCreate",
]

BulkItemType = Literal[
    "app_card",
    "text",
    "shape",
    "sticky_note",
    "image",
    "document",
    "card",
    "frame",
    "embed",
]
BULK_ITEM_TYPES: tuple[BulkItemType, ...] = (
    "app_card",
    "text",
    "shape",
    "sticky_note",
    "image",
    "document",
    "card",
    "frame",
    "embed",
)

ItemDataCreate = (
    AppCardData
    | CardData
    | DocumentUrlData
    | EmbedUrlData
    | FrameChanges
    | ImageUrlData
    | ShapeData
    | StickyNoteData
    | TextData
)
ItemStyleCreate = AppCardStyle | CardStyle | ShapeStyle | StickyNoteStyle | TextStyle


class ItemCreate(MiroModel):
    """One item of a bulk create: its `type` and the parts that type takes.

    ```python
    await client.items.create_bulk(board.id, [
        ItemCreate(type="sticky_note", data=StickyNoteData(content="one")),
        ItemCreate(type="card", data=CardData(title="two"), position=Position(x=300, y=0)),
    ])
    ```
    """

    type: BulkItemType
    data: ItemDataCreate | None = None
    style: ItemStyleCreate | None = None
    position: Position | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


class BulkFileEntry(MiroModel):
    """One entry of the `data` file of a bulk create from files: the image or document
    made from the file at the same index, and where it goes."""

    type: Literal["image", "document"]
    title: str | None = None
    alt_text: str | None = None
    position: Position | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


class BulkItem(GenericItem):
    """An item a bulk create made (`Item`): the generic item view with its link."""

    links: SelfLink | None = None


class BulkItems(MiroModel):
    """The answer to a bulk create (`Items`): the items made, in the order sent."""

    data: list[BulkItem] = Field(default_factory=list)
    type: str | None = None
