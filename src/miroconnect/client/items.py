"""Board items: sticky notes, texts, shapes and frames, and the cursor-paged item list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Generic, TypeVar

from miroconnect.client.models import (
    GenericItem,
    MiroModel,
)
from miroconnect.client.requester import Params, Requester, path_id

__all__ = ["ITEM_TYPES", "ItemKind", "Items"]

ItemT = TypeVar("ItemT", bound=MiroModel)
Part = MiroModel | Mapping[str, Any]

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


def _wire(part: Part) -> dict[str, Any]:
    return part.to_wire() if isinstance(part, MiroModel) else dict(part)


def _body(parts: Mapping[str, Part | None], parent_id: str | None) -> dict[str, Any]:
    body = {key: _wire(part) for key, part in parts.items() if part is not None}
    if parent_id is not None:
        body["parent"] = {"id": parent_id}
    return body


class ItemKind(Generic[ItemT]):
    """One item type's routes, e.g. `client.sticky_notes`: create, get, update, delete.

    ```python
    note = await client.sticky_notes.create(
        board.id, data=StickyNoteData(content="Hello"), position=Position(x=0, y=0)
    )
    ```
    """

    def __init__(self, requester: Requester, segment: str, model: type[ItemT]) -> None:
        self._r = requester
        self._segment = segment
        self._model = model

    def _path(self, board_id: str, item_id: str | None = None) -> str:
        path = f"/v2/boards/{path_id(board_id)}/{self._segment}"
        return f"{path}/{path_id(item_id)}" if item_id is not None else path

    async def create(
        self,
        board_id: str,
        *,
        data: Part | None = None,
        style: Part | None = None,
        position: Part | None = None,
        geometry: Part | None = None,
        parent_id: str | None = None,
    ) -> ItemT:
        """Create an item (level 2). Not repeated on errors: a lost answer may mean the
        item exists."""
        body = _body(
            {"data": data, "style": style, "position": position, "geometry": geometry},
            parent_id,
        )
        response = await self._r.send(
            "POST", self._path(board_id), level=2, idempotent=False, json=body
        )
        return self._model.model_validate_json(response.content)

    async def get(self, board_id: str, item_id: str) -> ItemT:
        """One item (level 1)."""
        response = await self._r.send(
            "GET", self._path(board_id, item_id), level=1, idempotent=True
        )
        return self._model.model_validate_json(response.content)

    async def update(
        self,
        board_id: str,
        item_id: str,
        *,
        data: Part | None = None,
        style: Part | None = None,
        position: Part | None = None,
        geometry: Part | None = None,
        parent_id: str | None = None,
    ) -> ItemT:
        """Change an item (level 2)."""
        body = _body(
            {"data": data, "style": style, "position": position, "geometry": geometry},
            parent_id,
        )
        response = await self._r.send(
            "PATCH", self._path(board_id, item_id), level=2, idempotent=True, json=body
        )
        return self._model.model_validate_json(response.content)

    async def delete(self, board_id: str, item_id: str) -> None:
        """Delete an item (level 3)."""
        await self._r.send(
            "DELETE", self._path(board_id, item_id), level=3, idempotent=True
        )


class Items:
    """`client.items`: every item on a board, whatever its type."""

    def __init__(self, requester: Requester) -> None:
        self._r = requester

    async def list(
        self,
        board_id: str,
        *,
        type: str | None = None,
        parent_item_id: str | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[GenericItem]:
        """Every item, following cursor pages of `page_size` (10-50; Miro's minimum is 10),
        level 2 each."""
        if not 10 <= page_size <= 50:
            raise ValueError("page_size is between 10 and 50 for items")
        if type is not None and type not in ITEM_TYPES:
            raise ValueError(f"type must be one of {', '.join(ITEM_TYPES)}")
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": page_size}
            if type is not None:
                params["type"] = type
            if parent_item_id is not None:
                params["parent_item_id"] = parent_item_id
            if cursor:
                params["cursor"] = cursor
            query: Params = params
            response = await self._r.send(
                "GET",
                f"/v2/boards/{path_id(board_id)}/items",
                level=2,
                idempotent=True,
                params=query,
            )
            page = response.json()
            for raw in page.get("data") or []:
                yield GenericItem.model_validate(raw)
            cursor = page.get("cursor")
            if not cursor or not page.get("data"):
                return

    async def get(self, board_id: str, item_id: str) -> GenericItem:
        """One item of any type (level 1)."""
        response = await self._r.send(
            "GET",
            f"/v2/boards/{path_id(board_id)}/items/{path_id(item_id)}",
            level=1,
            idempotent=True,
        )
        return GenericItem.model_validate_json(response.content)

    async def delete(self, board_id: str, item_id: str) -> None:
        """Delete an item of any type (level 3)."""
        await self._r.send(
            "DELETE",
            f"/v2/boards/{path_id(board_id)}/items/{path_id(item_id)}",
            level=3,
            idempotent=True,
        )
