"""`client.connectors`: lines between two items (`/v2/boards/{id}/connectors`).

```python
line = await client.connectors.create(
    board.id,
    ConnectorEnd(id=card.id, snap_to="right"),
    ConnectorEnd(id=note.id, snap_to="left"),
    shape="elbowed",
    captions=[Caption(content="then")],
)
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from miroconnect.client.models import (
    Caption,
    Connector,
    ConnectorEnd,
    ConnectorStyle,
    CursorPage,
)
from miroconnect.client.operations import operation
from miroconnect.client.pagination import cursor_paged
from miroconnect.client.requester import Requester, path_id

__all__ = ["Connectors"]

SHAPES = ("straight", "elbowed", "curved")


def _body(
    start: ConnectorEnd | None,
    end: ConnectorEnd | None,
    shape: str | None,
    captions: Sequence[Caption] | None,
    style: ConnectorStyle | None,
) -> dict[str, Any]:
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}")
    for end_ in (start, end):
        if end_ is not None and end_.snap_to is not None and end_.position is not None:
            raise ValueError("a connector end takes snap_to or position, not both")
    body: dict[str, Any] = {}
    if start is not None:
        body["startItem"] = start.to_wire()
    if end is not None:
        body["endItem"] = end.to_wire()
    if shape is not None:
        body["shape"] = shape
    if captions is not None:
        body["captions"] = [caption.to_wire() for caption in captions]
    if style is not None:
        body["style"] = style.to_wire()
    return body


class Connectors:
    """`client.connectors`: both ends are items on the board (not frames); deleting an
    item deletes its connectors."""

    def __init__(self, requester: Requester) -> None:
        self._r = requester

    def _path(self, board_id: str, connector_id: str | None = None) -> str:
        path = f"/v2/boards/{path_id(board_id)}/connectors"
        return f"{path}/{path_id(connector_id)}" if connector_id is not None else path

    @operation("create-connector")
    async def create(
        self,
        board_id: str,
        start: ConnectorEnd,
        end: ConnectorEnd,
        *,
        shape: str | None = None,
        captions: Sequence[Caption] | None = None,
        style: ConnectorStyle | None = None,
    ) -> Connector:
        """Connect two items (level 2). Not repeated on errors."""
        body = _body(start, end, shape, captions, style)
        response = await self._r.send(
            "POST", self._path(board_id), level=2, idempotent=False, json=body
        )
        return Connector.model_validate_json(response.content)

    @operation("get-connectors")
    async def list(
        self, board_id: str, *, page_size: int = 50
    ) -> AsyncIterator[Connector]:
        """Every connector of a board, over cursor pages of `page_size` (10-50), level 2
        each."""
        if not 10 <= page_size <= 50:
            raise ValueError("page_size is between 10 and 50 for connectors")
        async for connector in cursor_paged(
            self._r,
            self._path(board_id),
            CursorPage[Connector].model_validate_json,
            level=2,
            page_size=page_size,
        ):
            yield connector

    @operation("get-connector")
    async def get(self, board_id: str, connector_id: str) -> Connector:
        """One connector (level 1)."""
        response = await self._r.send(
            "GET", self._path(board_id, connector_id), level=1, idempotent=True
        )
        return Connector.model_validate_json(response.content)

    @operation("update-connector")
    async def update(
        self,
        board_id: str,
        connector_id: str,
        *,
        start: ConnectorEnd | None = None,
        end: ConnectorEnd | None = None,
        shape: str | None = None,
        captions: Sequence[Caption] | None = None,
        style: ConnectorStyle | None = None,
    ) -> Connector:
        """Change a connector (level 2): only what is given changes (`captions`
        replaces them all)."""
        body = _body(start, end, shape, captions, style)
        response = await self._r.send(
            "PATCH",
            self._path(board_id, connector_id),
            level=2,
            idempotent=True,
            json=body,
        )
        return Connector.model_validate_json(response.content)

    @operation("delete-connector")
    async def delete(self, board_id: str, connector_id: str) -> None:
        """Delete a connector (level 3)."""
        await self._r.send(
            "DELETE", self._path(board_id, connector_id), level=3, idempotent=True
        )
