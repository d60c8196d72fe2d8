"""One item type's routes: `client.sticky_notes`, `texts`, `shapes`, `frames`, `cards`,
`app_cards` (create, get, update, delete), and the get and delete every item type has.

```python
note = await client.sticky_notes.create(
    board.id,
    data=StickyNoteData(content="Hello"),
    style=StickyNoteStyle(fill_color="yellow"),
    position=Position(x=0, y=0),
)
await client.sticky_notes.update(board.id, note.id, data=StickyNoteData(content="Hi"))
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from miroconnect.client.models import Geometry, MiroModel, Position
from miroconnect.client.operations import operation
from miroconnect.client.requester import Requester, path_id

__all__ = ["ItemKind", "ItemRoutes", "item_body"]

ItemT = TypeVar("ItemT", bound=MiroModel)
DataT = TypeVar("DataT", bound=MiroModel)
StyleT = TypeVar("StyleT", bound=MiroModel)


def item_body(
    parts: Mapping[str, MiroModel | None], parent_id: str | None = None
) -> dict[str, Any]:
    """A create or update body: the parts given, in wire form, and the parent frame."""
    body = {key: part.to_wire() for key, part in parts.items() if part is not None}
    if parent_id is not None:
        body["parent"] = {"id": parent_id}
    return body


class ItemRoutes(Generic[ItemT]):
    """What every item type has: get (level 1) and delete (level 3).

    `segment` is the type's path (`sticky_notes`), `kind` its name in the spec's operation
    ids (`sticky-note`).
    """

    def __init__(
        self, requester: Requester, segment: str, kind: str, model: type[ItemT]
    ) -> None:
        self._r = requester
        self._segment = segment
        self.kind = kind
        self._model = model

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._segment!r})"

    def _path(self, board_id: str, item_id: str | None = None) -> str:
        path = f"/v2/boards/{path_id(board_id)}/{self._segment}"
        return f"{path}/{path_id(item_id)}" if item_id is not None else path

    async def _create(self, board_id: str, **send: Any) -> ItemT:
        # Not repeated on errors: a lost answer may mean the item exists.
        response = await self._r.send(
            "POST", self._path(board_id), level=2, idempotent=False, **send
        )
        return self._model.model_validate_json(response.content)

    async def _update(self, board_id: str, item_id: str, **send: Any) -> ItemT:
        response = await self._r.send(
            "PATCH", self._path(board_id, item_id), level=2, idempotent=True, **send
        )
        return self._model.model_validate_json(response.content)

    @operation("get-{kind}-item")
    async def get(self, board_id: str, item_id: str) -> ItemT:
        """One item of this type (level 1)."""
        response = await self._r.send(
            "GET", self._path(board_id, item_id), level=1, idempotent=True
        )
        return self._model.model_validate_json(response.content)

    @operation("delete-{kind}-item")
    async def delete(self, board_id: str, item_id: str) -> None:
        """Delete an item of this type (level 3); its connectors go with it."""
        await self._r.send(
            "DELETE", self._path(board_id, item_id), level=3, idempotent=True
        )


class ItemKind(ItemRoutes[ItemT], Generic[ItemT, DataT, StyleT]):
    """An item type made of `data` and `style` parts: sticky notes, texts, shapes,
    frames, cards and app cards. Each part is that type's model (`StickyNoteData`,
    `StickyNoteStyle`); `parent_id` puts the item in a frame (frames do not nest)."""

    @operation("create-{kind}-item")
    async def create(
        self,
        board_id: str,
        *,
        data: DataT | None = None,
        style: StyleT | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> ItemT:
        """Create an item (level 2). Not repeated on errors: a lost answer may mean the
        item exists."""
        parts = {
            "data": data,
            "style": style,
            "position": position,
            "geometry": geometry,
        }
        return await self._create(board_id, json=item_body(parts, parent_id))

    @operation("update-{kind}-item")
    async def update(
        self,
        board_id: str,
        item_id: str,
        *,
        data: DataT | None = None,
        style: StyleT | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> ItemT:
        """Change an item (level 2): only the parts given change."""
        parts = {
            "data": data,
            "style": style,
            "position": position,
            "geometry": geometry,
        }
        return await self._update(board_id, item_id, json=item_body(parts, parent_id))
