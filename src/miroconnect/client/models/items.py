"""Items drawn on a board: sticky notes, texts, shapes, frames, cards and app cards, and
the generic view of any item.

Each type's `...Data` and `...Style` are both what Miro answers and what `create` and
`update` send (`client.sticky_notes.create(board_id, data=StickyNoteData(...))`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from miroconnect.client.models.base import (
    Geometry,
    ItemActor,
    ItemBase,
    ItemParent,
    MiroModel,
    Position,
)

__all__ = [
    "AppCardData",
    "AppCardItem",
    "AppCardStyle",
    "CardData",
    "CardItem",
    "CardStyle",
    "CustomField",
    "FrameChanges",
    "FrameData",
    "FrameItem",
    "FrameStyle",
    "GenericItem",
    "ShapeData",
    "ShapeItem",
    "ShapeStyle",
    "StickyNoteData",
    "StickyNoteItem",
    "StickyNoteStyle",
    "TextData",
    "TextItem",
    "TextStyle",
]


class StickyNoteData(MiroModel):
    content: str | None = None
    shape: str | None = None


class StickyNoteStyle(MiroModel):
    fill_color: str | None = None
    text_align: str | None = None
    text_align_vertical: str | None = None


class StickyNoteItem(ItemBase):
    data: StickyNoteData | None = None
    style: StickyNoteStyle | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


class TextData(MiroModel):
    content: str


class TextStyle(MiroModel):
    color: str | None = None
    fill_color: str | None = None
    fill_opacity: str | None = None
    font_family: str | None = None
    font_size: str | None = None
    text_align: str | None = None


class TextItem(ItemBase):
    data: TextData | None = None
    style: TextStyle | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


class ShapeData(MiroModel):
    content: str | None = None
    shape: str | None = None


class ShapeStyle(MiroModel):
    border_color: str | None = None
    border_opacity: str | None = None
    border_style: str | None = None
    border_width: str | None = None
    color: str | None = None
    fill_color: str | None = None
    fill_opacity: str | None = None
    font_family: str | None = None
    font_size: str | None = None
    text_align: str | None = None
    text_align_vertical: str | None = None


class ShapeItem(ItemBase):
    data: ShapeData | None = None
    style: ShapeStyle | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


class FrameData(MiroModel):
    format: str | None = None
    title: str | None = None
    type: str | None = None


class FrameChanges(FrameData):
    """A frame's data as create and update take it: `FrameData` and whether the frame
    shows its content (`showContent`, a request-only field)."""

    show_content: bool | None = None


class FrameStyle(MiroModel):
    fill_color: str | None = None


class FrameItem(ItemBase):
    data: FrameData | None = None
    style: FrameStyle | None = None
    geometry: Geometry | None = None


class CardData(MiroModel):
    """A card: title, description, assignee (a user id) and due date."""

    assignee_id: str | None = None
    description: str | None = None
    due_date: datetime | None = None
    title: str | None = None


class CardStyle(MiroModel):
    card_theme: str | None = None


class CardItem(ItemBase):
    data: CardData | None = None
    style: CardStyle | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


class CustomField(MiroModel):
    """One field shown on an app card (a value with an optional icon and tooltip)."""

    fill_color: str | None = None
    icon_shape: str | None = None
    icon_url: str | None = None
    text_color: str | None = None
    tooltip: str | None = None
    value: str | None = None


class AppCardData(MiroModel):
    """An app card's content. `owned` is answered by Miro (is it this app's card?);
    `status` is disconnected, connected or disabled."""

    description: str | None = None
    fields: list[CustomField] | None = None
    owned: bool | None = None
    status: str | None = None
    title: str | None = None


class AppCardStyle(MiroModel):
    fill_color: str | None = None


class AppCardItem(ItemBase):
    data: AppCardData | None = None
    style: AppCardStyle | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


class GenericItem(MiroModel):
    """An item of any type, as the item lists return it; `data` depends on `type`."""

    id: str
    type: str
    data: dict[str, Any] | None = None
    position: Position | None = None
    geometry: Geometry | None = None
    created_at: datetime | None = None
    created_by: ItemActor | None = None
    modified_at: datetime | None = None
    modified_by: ItemActor | None = None
    parent: ItemParent | None = None
