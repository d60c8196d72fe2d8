"""`client.tags`: a board's tags, and tags on cards and sticky notes.

```python
urgent = await client.tags.create(board.id, "urgent", fill_color="red")
await client.tags.attach(board.id, card.id, urgent.id)
async for item in client.tags.items(board.id, urgent.id):
    ...
```
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator

from miroconnect.client.models import GenericItem, ItemTags, OffsetPage, Tag
from miroconnect.client.operations import operation
from miroconnect.client.pagination import offset_paged
from miroconnect.client.requester import Requester, path_id

__all__ = ["TAG_COLORS", "Tags"]

TAG_COLORS = (
    "red",
    "light_green",
    "cyan",
    "yellow",
    "magenta",
    "green",
    "blue",
    "gray",
    "violet",
    "dark_green",
    "dark_blue",
    "black",
)


def _tag_body(title: str | None, fill_color: str | None) -> dict[str, str]:
    if title is not None and not 1 <= len(title) <= 120:
        raise ValueError("a tag title has 1 to 120 characters")
    if fill_color is not None and fill_color not in TAG_COLORS:
        raise ValueError(f"fill_color must be one of {', '.join(TAG_COLORS)}")
    body = {"title": title, "fillColor": fill_color}
    return {key: value for key, value in body.items() if value is not None}


def _check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= 50:
        raise ValueError("page_size is between 1 and 50")


class Tags:
    """`client.tags`: every call is level 1. Titles are unique on a board; a tag goes on
    cards and sticky notes (up to 8 each), and removing it leaves the item."""

    def __init__(self, requester: Requester) -> None:
        self._r = requester

    def _path(self, board_id: str, tag_id: str | None = None) -> str:
        path = f"/v2/boards/{path_id(board_id)}/tags"
        return f"{path}/{path_id(tag_id)}" if tag_id is not None else path

    def _item(self, board_id: str, item_id: str) -> str:
        return f"/v2/boards/{path_id(board_id)}/items/{path_id(item_id)}"

    @operation("create-tag")
    async def create(
        self, board_id: str, title: str, *, fill_color: str | None = None
    ) -> Tag:
        """Create a tag (Miro's default colour when `fill_color` is None)."""
        body = _tag_body(title, fill_color)
        response = await self._r.send(
            "POST", self._path(board_id), level=1, idempotent=False, json=body
        )
        return Tag.model_validate_json(response.content)

    @operation("get-tags-from-board")
    async def list(self, board_id: str, *, page_size: int = 50) -> AsyncIterator[Tag]:
        """Every tag of a board, over offset pages of `page_size` (1-50)."""
        _check_page_size(page_size)
        async for tag in offset_paged(
            self._r,
            self._path(board_id),
            OffsetPage[Tag].model_validate_json,
            level=1,
            page_size=page_size,
        ):
            yield tag

    @operation("get-tag")
    async def get(self, board_id: str, tag_id: str) -> Tag:
        """One tag."""
        response = await self._r.send(
            "GET", self._path(board_id, tag_id), level=1, idempotent=True
        )
        return Tag.model_validate_json(response.content)

    @operation("update-tag")
    async def update(
        self,
        board_id: str,
        tag_id: str,
        *,
        title: str | None = None,
        fill_color: str | None = None,
    ) -> Tag:
        """Rename or recolour a tag; the items it is on show the change."""
        body = _tag_body(title, fill_color)
        response = await self._r.send(
            "PATCH", self._path(board_id, tag_id), level=1, idempotent=True, json=body
        )
        return Tag.model_validate_json(response.content)

    @operation("delete-tag")
    async def delete(self, board_id: str, tag_id: str) -> None:
        """Delete a tag: it comes off every item (the items stay)."""
        await self._r.send(
            "DELETE", self._path(board_id, tag_id), level=1, idempotent=True
        )

    @operation("get-tags-from-item")
    async def of_item(self, board_id: str, item_id: str) -> builtins.list[Tag]:
        """The tags on one item."""
        response = await self._r.send(
            "GET", f"{self._item(board_id, item_id)}/tags", level=1, idempotent=True
        )
        return list(ItemTags.model_validate_json(response.content).tags)

    @operation("get-items-by-tag")
    async def items(
        self, board_id: str, tag_id: str, *, page_size: int = 50
    ) -> AsyncIterator[GenericItem]:
        """Every item that has the tag, over offset pages of `page_size` (1-50)."""
        _check_page_size(page_size)
        if not tag_id:
            raise ValueError("tag_id must not be empty")
        async for item in offset_paged(
            self._r,
            f"/v2/boards/{path_id(board_id)}/items",
            OffsetPage[GenericItem].model_validate_json,
            level=1,
            page_size=page_size,
            params={"tag_id": tag_id},
        ):
            yield item

    @operation("attach-tag-to-item")
    async def attach(self, board_id: str, item_id: str, tag_id: str) -> None:
        """Put a tag on a card or sticky note. Repeated after a lost answer like an
        idempotent call: the tag is on the item either way."""
        if not tag_id:
            raise ValueError("tag_id must not be empty")
        await self._r.send(
            "POST",
            self._item(board_id, item_id),
            level=1,
            idempotent=True,
            params={"tag_id": tag_id},
        )

    @operation("remove-tag-from-item")
    async def remove(self, board_id: str, item_id: str, tag_id: str) -> None:
        """Take a tag off an item; the item and the tag stay."""
        if not tag_id:
            raise ValueError("tag_id must not be empty")
        await self._r.send(
            "DELETE",
            self._item(board_id, item_id),
            level=1,
            idempotent=True,
            params={"tag_id": tag_id},
        )
