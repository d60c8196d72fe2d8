"""The base model and the small parts every item shares: position, geometry, links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "Geometry",
    "ItemActor",
    "ItemBase",
    "ItemLinks",
    "ItemParent",
    "MiroModel",
    "PageLinks",
    "Position",
    "SelfLink",
]


class MiroModel(BaseModel):
    """Base of every model: camelCase aliases, unknown fields kept, immutable.

    Unknown fields are kept both ways: Miro's new answer fields land in `model_extra`, and a
    field a model does not declare yet can be sent by naming it in its wire form:

    ```python
    StickyNoteStyle(fill_color="yellow", someNewField=1).to_wire()
    # {"fillColor": "yellow", "someNewField": 1}
    ```
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body Miro expects: camelCase keys, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Position(MiroModel):
    """Where an item's centre is; inside a frame, relative to the frame's top-left corner.

    Send `x` and `y` only (`PositionChange`); Miro answers with `origin` and `relativeTo`.
    """

    x: float | None = None
    y: float | None = None
    origin: str | None = None
    relative_to: str | None = None


class Geometry(MiroModel):
    """Width, height (board units) and rotation (degrees). Items of a fixed ratio
    (images, documents, embeds, sticky notes) take a width or a height, not both."""

    width: float | None = None
    height: float | None = None
    rotation: float | None = None


class ItemActor(MiroModel):
    """Who created or last modified an item (`createdBy`/`modifiedBy`: id and type only)."""

    id: str | None = None
    type: str | None = None


class ItemLinks(MiroModel):
    self_: str | None = Field(default=None, alias="self")
    related: str | None = None


class SelfLink(MiroModel):
    self_: str | None = Field(default=None, alias="self")


class PageLinks(MiroModel):
    """Links of a page of results (`PageLinks`): first, last, next, prev, self."""

    first: str | None = None
    last: str | None = None
    next: str | None = None
    prev: str | None = None
    self_: str | None = Field(default=None, alias="self")


class ItemParent(MiroModel):
    """The frame an item is in."""

    id: str | None = None


class ItemBase(MiroModel):
    """What every board item answer has; each type adds its `data` (and `style`)."""

    id: str
    type: str
    position: Position | None = None
    created_at: datetime | None = None
    created_by: ItemActor | None = None
    modified_at: datetime | None = None
    modified_by: ItemActor | None = None
    links: ItemLinks | None = None
