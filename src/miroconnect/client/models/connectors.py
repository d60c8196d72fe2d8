"""Connectors: the lines between two items."""

from __future__ import annotations

from datetime import datetime

from miroconnect.client.models.base import ItemActor, MiroModel, SelfLink

__all__ = [
    "Caption",
    "Connector",
    "ConnectorEnd",
    "ConnectorStyle",
    "ItemConnection",
    "RelativeOffset",
]


class RelativeOffset(MiroModel):
    """A point on an item, in percent of its size from its top-left corner: `"50%"`."""

    x: str | None = None
    y: str | None = None


class ConnectorEnd(MiroModel):
    """One end of a connector as create and update send it: the item, and where on it,
    either `snap_to` a side (auto, top, right, bottom, left) or a `position`, not both.

    ```python
    ConnectorEnd(id=card.id, snap_to="right")
    ```
    """

    id: str | None = None
    position: RelativeOffset | None = None
    snap_to: str | None = None


class ItemConnection(MiroModel):
    """One end of a connector as Miro answers it."""

    id: str | None = None
    links: SelfLink | None = None
    position: RelativeOffset | None = None


class Caption(MiroModel):
    """Text on a connector; `position` is a percentage along the line (`"50%"`)."""

    content: str
    position: str | None = None
    text_align_vertical: str | None = None


class ConnectorStyle(MiroModel):
    color: str | None = None
    end_stroke_cap: str | None = None
    font_size: str | None = None
    start_stroke_cap: str | None = None
    stroke_color: str | None = None
    stroke_style: str | None = None
    stroke_width: str | None = None
    text_orientation: str | None = None


class Connector(MiroModel):
    """A connector: its two ends, line `shape` (straight, elbowed, curved), captions and
    style."""

    id: str
    type: str | None = None
    shape: str | None = None
    start_item: ItemConnection | None = None
    end_item: ItemConnection | None = None
    captions: list[Caption] | None = None
    style: ConnectorStyle | None = None
    is_supported: bool | None = None
    created_at: datetime | None = None
    created_by: ItemActor | None = None
    modified_at: datetime | None = None
    modified_by: ItemActor | None = None
    links: SelfLink | None = None
