"""Pages of results, as Miro's list operations answer them.

Two kinds: offset pages (`offset`, `limit`, `total`: boards, members, tags, tagged items)
and cursor pages (`cursor` to the next page: items, connectors, groups). The client's list
methods walk them for you (`miroconnect.client.pagination`); these models are the pages
themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from pydantic import Field

from miroconnect.client.models.base import MiroModel, PageLinks
from miroconnect.client.models.items import GenericItem
from miroconnect.client.models.tags import Group

__all__ = ["CursorPage", "GroupItems", "GroupItemsPage", "GroupsPage", "OffsetPage"]

T = TypeVar("T", bound=MiroModel)


class OffsetPage(MiroModel, Generic[T]):
    """`data` from `offset`, `size` entries of `total` (`BoardsPagedResponse` and kin)."""

    data: list[T] = Field(default_factory=list)
    total: int | None = None
    size: int | None = None
    offset: int | None = None
    limit: int | None = None
    links: PageLinks | None = None
    type: str | None = None

    def entries(self) -> Sequence[T]:
        return self.data


class CursorPage(MiroModel, Generic[T]):
    """`data` and the `cursor` of the next page, None on the last (`...CursorPaged`)."""

    data: list[T] = Field(default_factory=list)
    total: int | None = None
    size: int | None = None
    cursor: str | None = None
    limit: int | None = None
    links: PageLinks | None = None

    def entries(self) -> Sequence[T]:
        return self.data


class GroupsPage(MiroModel):
    """A page of a board's groups. The spec's schema has no `cursor` nor `total`,
    although the operation takes a cursor: Miro's answer carries them, so we read them."""

    data: list[Group] = Field(default_factory=list)
    limit: int | None = None
    size: int | None = None
    total: int | None = None
    cursor: str | None = None

    def entries(self) -> Sequence[Group]:
        return self.data


class GroupItems(MiroModel):
    """One group and its items, wrapped in offset pages (`data.data[].data[]`)."""

    id: str | None = None
    type: str | None = None
    data: list[OffsetPage[GenericItem]] = Field(default_factory=list)


class GroupItemsPage(MiroModel):
    """A page of one group's items (`getItemsByGroupId`): the items are nested in
    `data.data[].data`, as the spec draws it; `entries()` flattens them. `cursor` is
    read as for groups (not in the spec's schema)."""

    data: GroupItems | None = None
    limit: int | None = None
    size: int | None = None
    total: int | None = None
    cursor: str | None = None

    def entries(self) -> Sequence[GenericItem]:
        if self.data is None:
            return []
        return [item for page in self.data.data for item in page.data]
