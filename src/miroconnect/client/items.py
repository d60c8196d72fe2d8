"""`client.items`: every item on a board whatever its type: the cursor-paged lists, the
generic get, move and delete, and bulk create (from JSON, or from files)."""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Sequence

from miroconnect.client.kinds import item_body
from miroconnect.client.models import (
    BulkFileEntry,
    BulkItem,
    BulkItems,
    CursorPage,
    GenericItem,
    ItemCreate,
    Position,
    Upload,
)
from miroconnect.client.operations import operation
from miroconnect.client.pagination import cursor_paged
from miroconnect.client.requester import Files, Requester, path_id

__all__ = ["ITEM_TYPES", "MAX_BULK_ITEMS", "Items"]

ITEM_TYPES = (
    "text",
    "shape",
    "sticky_note",
    "image",
    "document",
    "card",
    "app_card",
    "preview",
    "frame",
    "embed",
    "doc_format",
    "data_table_format",
)

MAX_BULK_ITEMS = 20

_parse_items = CursorPage[GenericItem].model_validate_json


def _check_page_size(page_size: int) -> None:
    if not 10 <= page_size <= 50:
        raise ValueError("page_size is between 10 and 50 for items")


def _check_type(type: str | None) -> None:
    if type is not None and type not in ITEM_TYPES:
        raise ValueError(f"type must be one of {', '.join(ITEM_TYPES)}")


def _check_bulk(count: int) -> None:
    if not 1 <= count <= MAX_BULK_ITEMS:
        raise ValueError(f"a bulk create makes 1 to {MAX_BULK_ITEMS} items")


class Items:
    """`client.items`: every item on a board, whatever its type."""

    def __init__(self, requester: Requester) -> None:
        self._r = requester

    def _path(self, board_id: str, item_id: str | None = None) -> str:
        path = f"/v2/boards/{path_id(board_id)}/items"
        return f"{path}/{path_id(item_id)}" if item_id is not None else path

    @operation("get-items")
    async def list(
        self,
        board_id: str,
        *,
        type: str | None = None,
        parent_item_id: str | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[GenericItem]:
        """Every item, following cursor pages of `page_size` (10-50; Miro's minimum is 10),
        level 2 each. `parent_item_id` lists a frame's items (as `list_in_frame`)."""
        _check_page_size(page_size)
        _check_type(type)
        params: dict[str, str | int] = {}
        if type is not None:
            params["type"] = type
        if parent_item_id is not None:
            params["parent_item_id"] = parent_item_id
        async for item in cursor_paged(
            self._r,
            self._path(board_id),
            _parse_items,
            level=2,
            page_size=page_size,
            params=params,
        ):
            yield item

    @operation("get-items-within-frame")
    async def list_in_frame(
        self,
        board_id: str,
        frame_id: str,
        *,
        type: str | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[GenericItem]:
        """Every item in a frame, over cursor pages (level 2 each).

        ```python
        async for item in client.items.list_in_frame(board.id, frame.id):
            ...
        ```
        """
        if not frame_id:
            raise ValueError("frame_id must not be empty")
        async for item in self.list(
            board_id, type=type, parent_item_id=frame_id, page_size=page_size
        ):
            yield item

    @operation("get-specific-item")
    async def get(self, board_id: str, item_id: str) -> GenericItem:
        """One item of any type (level 1)."""
        response = await self._r.send(
            "GET", self._path(board_id, item_id), level=1, idempotent=True
        )
        return GenericItem.model_validate_json(response.content)

    @operation("update-item-position-or-parent")
    async def update(
        self,
        board_id: str,
        item_id: str,
        *,
        position: Position | None = None,
        parent_id: str | None = None,
    ) -> GenericItem:
        """Move an item of any type, or put it in a frame (level 2)."""
        body = item_body({"position": position}, parent_id)
        response = await self._r.send(
            "PATCH", self._path(board_id, item_id), level=2, idempotent=True, json=body
        )
        return GenericItem.model_validate_json(response.content)

    @operation("delete-item")
    async def delete(self, board_id: str, item_id: str) -> None:
        """Delete an item of any type (level 3)."""
        await self._r.send(
            "DELETE", self._path(board_id, item_id), level=3, idempotent=True
        )

    @operation("delete-item-experimental")
    async def delete_experimental(self, board_id: str, item_id: str) -> None:
        """Delete an item through `/v2-experimental` (level 3): Miro's experimental twin
        of `delete`, for item types the stable route does not take yet."""
        await self._r.send(
            "DELETE",
            f"/v2-experimental/boards/{path_id(board_id)}/items/{path_id(item_id)}",
            level=3,
            idempotent=True,
        )

    @operation("create-items")
    async def create_bulk(
        self, board_id: str, items: Sequence[ItemCreate]
    ) -> builtins.list[BulkItem]:
        """Create 1-20 items of any types at once, all or none: if one is refused, none
        is made (the 400 names it, `"<index>.<field>"`). Costs level 2 per item; never
        repeated on errors."""
        _check_bulk(len(items))
        response = await self._r.send(
            "POST",
            f"{self._path(board_id)}/bulk",
            level=2,
            units=len(items),
            idempotent=False,
            json=[item.to_wire() for item in items],
        )
        return list(BulkItems.model_validate_json(response.content).data)

    @operation("create-items-in-bulk-using-file-from-device")
    async def create_bulk_from_files(
        self,
        board_id: str,
        entries: Sequence[BulkFileEntry],
        files: Sequence[Upload],
    ) -> builtins.list[BulkItem]:
        """Create 1-20 images and documents from files at once, all or none: `entries[i]`
        describes the item made from `files[i]` (level 2 per item).

        ```python
        made = await client.items.create_bulk_from_files(
            board.id,
            [BulkFileEntry(type="image", title="Plan")],
            [Upload(png_bytes, "plan.png", "image/png")],
        )
        ```
        """
        _check_bulk(len(entries))
        if len(files) != len(entries):
            raise ValueError("give one file per entry, in the same order")
        described = json.dumps([entry.to_wire() for entry in entries]).encode()
        parts: Files = [
            ("data", ("data.json", described, "application/json")),
            *(("resources", upload.part()) for upload in files),
        ]
        response = await self._r.send(
            "POST",
            f"{self._path(board_id)}/bulk",
            level=2,
            units=len(entries),
            idempotent=False,
            files=parts,
        )
        return list(BulkItems.model_validate_json(response.content).data)
