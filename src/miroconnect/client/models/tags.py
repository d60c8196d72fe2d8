"""Tags (labels on cards and sticky notes) and board groups."""

from __future__ import annotations

from pydantic import Field

from miroconnect.client.models.base import MiroModel, PageLinks, SelfLink

__all__ = ["Group", "GroupData", "ItemTags", "Tag"]


class Tag(MiroModel):
    """A board's tag: `fill_color` is one of Miro's twelve tag colours (red, light_green,
    cyan, yellow, magenta, green, blue, gray, violet, dark_green, dark_blue, black)."""

    id: str
    title: str
    fill_color: str | None = None
    type: str | None = None
    links: SelfLink | None = None


class ItemTags(MiroModel):
    """The tags on one item (`GetTagsResponse`)."""

    tags: list[Tag] = Field(default_factory=list)


class GroupData(MiroModel):
    items: list[str] = Field(default_factory=list)


class Group(MiroModel):
    """A group of items, moved and selected together: `data.items` holds their ids.

    Updating a group replaces it: the answer has a new id.
    """

    id: str
    type: str | None = None
    data: GroupData | None = None
    links: PageLinks | None = None
