"""`client.groups`: items grouped to move and select together.

```python
group = await client.groups.create(board.id, [card.id, note.id])
async for item in client.groups.items(board.id, group.id):
    ...
await client.groups.ungroup(board.id, group.id)  # the items stay
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from miroconnect.client.models import GenericItem, Group, GroupItemsPage, GroupsPage
from miroconnect.client.operations import operation
from miroconnect.client.pagination import cursor_paged
from miroconnect.client.requester import Requester, path_id

__all__ = ["Groups"]


def _group_body(item_ids: Sequence[str]) -> dict[str, Any]:
    if isinstance(item_ids, str) or len(item_ids) < 2:
        raise ValueError("a group holds at least two items")
    if len(set(item_ids)) != len(item_ids):
        raise ValueError("a group holds each item once")
    return {"data": {"items": list(item_ids)}}


def _check_page_size(page_size: int) -> None:
    if not 10 <= page_size <= 50:
        raise ValueError("page_size is between 10 and 50 for groups")


class Groups:
    """`client.groups`: an item is in one group at most.

    Pacing: Miro prices getting a group at "Level 2 per item ID", which the client cannot
    know before the answer; it books one call's worth and the answer's rate-limit headers
    correct the balance.
    """

    def __init__(self, requester: Requester) -> None:
        self._r = requester

    def _path(self, board_id: str, group_id: str | None = None) -> str:
        path = f"/v2/boards/{path_id(board_id)}/groups"
        return f"{path}/{path_id(group_id)}" if group_id is not None else path

    @operation("createGroup")
    async def create(self, board_id: str, item_ids: Sequence[str]) -> Group:
        """Group two or more items (level 2). Not repeated on errors."""
        response = await self._r.send(
            "POST",
            self._path(board_id),
            level=2,
            idempotent=False,
            json=_group_body(item_ids),
        )
        return Group.model_validate_json(response.content)

    @operation("get-all-groups")
    async def list(self, board_id: str, *, page_size: int = 50) -> AsyncIterator[Group]:
        """Every group of a board, over cursor pages (level 2 each). Miro pages by items,
        not groups: `page_size` (10-50) items a page, so a group cut by a page boundary
        comes once from each page, with the items that page holds."""
        _check_page_size(page_size)
        async for group in cursor_paged(
            self._r,
            self._path(board_id),
            GroupsPage.model_validate_json,
            level=2,
            page_size=page_size,
        ):
            yield group

    @operation("getItemsByGroupId")
    async def items(
        self, board_id: str, group_id: str, *, page_size: int = 50
    ) -> AsyncIterator[GenericItem]:
        """The items of one group, over cursor pages of `page_size` (10-50), level 2
        each."""
        _check_page_size(page_size)
        if not group_id:
            raise ValueError("group_id must not be empty")
        async for item in cursor_paged(
            self._r,
            f"{self._path(board_id)}/items",
            GroupItemsPage.model_validate_json,
            level=2,
            page_size=page_size,
            params={"group_item_id": group_id},
        ):
            yield item

    @operation("getGroupById")
    async def get(self, board_id: str, group_id: str) -> Group:
        """One group and its item ids (level 2 per item)."""
        response = await self._r.send(
            "GET", self._path(board_id, group_id), level=2, idempotent=True
        )
        return Group.model_validate_json(response.content)

    @operation("updateGroup")
    async def update(
        self, board_id: str, group_id: str, item_ids: Sequence[str]
    ) -> Group:
        """Replace a group's items (level 2). Miro makes a new group with a new id, so
        the call is not repeated on errors (a repeat would find the old id gone)."""
        response = await self._r.send(
            "PUT",
            self._path(board_id, group_id),
            level=2,
            idempotent=False,
            json=_group_body(item_ids),
        )
        return Group.model_validate_json(response.content)

    @operation("unGroup")
    async def ungroup(self, board_id: str, group_id: str) -> None:
        """Dissolve a group; its items stay on the board (level 3)."""
        await self._r.send(
            "DELETE",
            self._path(board_id, group_id),
            level=3,
            idempotent=True,
            params={"delete_items": "false"},
        )

    @operation("deleteGroup")
    async def delete(self, board_id: str, group_id: str) -> None:
        """Delete a group and every item in it (level 3).

        The spec writes this operation's path with a literal `?`
        (`/groups/{group_id}?`); it is the URL of `ungroup` with `delete_items=true`.
        """
        await self._r.send(
            "DELETE",
            self._path(board_id, group_id),
            level=3,
            idempotent=True,
            params={"delete_items": "true"},
        )
