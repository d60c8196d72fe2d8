"""Lazy iteration over Miro's paged lists: a page is fetched only when the previous one is
used up, so stopping early (`break`) costs no more calls.

Two kinds of pages:

- offset pages (boards, members, tags, tagged items): `offset` moves by the page's `size`
  until it reaches `total`;
- cursor pages (items, connectors, groups, a group's items): each page names the `cursor`
  of the next; the last has none.

```python
async for board in client.boards.list(team_id=team):  # one GET per 50 boards
    if board.name == "Sprint 12":
        break  # no further page is fetched
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from miroconnect.client.requester import Params, Requester

__all__ = ["CursorPaged", "OffsetPaged", "cursor_paged", "offset_paged"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class OffsetPaged(Protocol[T_co]):
    """An offset page: its entries, where it starts, how many it holds, of how many."""

    @property
    def offset(self) -> int | None: ...

    @property
    def size(self) -> int | None: ...

    @property
    def total(self) -> int | None: ...

    def entries(self) -> Sequence[T_co]: ...


class CursorPaged(Protocol[T_co]):
    """A cursor page: its entries and the cursor of the next page (None on the last)."""

    @property
    def cursor(self) -> str | None: ...

    def entries(self) -> Sequence[T_co]: ...


async def offset_paged(
    requester: Requester,
    path: str,
    parse: Callable[[bytes], OffsetPaged[T]],
    *,
    level: int,
    page_size: int,
    params: Mapping[str, str | int] | None = None,
) -> AsyncIterator[T]:
    """Every entry of an offset-paged list at `path`, `page_size` a page."""
    offset = 0
    while True:
        query: Params = {**(params or {}), "limit": page_size, "offset": offset}
        response = await requester.send(
            "GET", path, level=level, idempotent=True, params=query
        )
        page = parse(response.content)
        entries = page.entries()
        for entry in entries:
            yield entry
        size = page.size if page.size is not None else len(entries)
        offset = (page.offset if page.offset is not None else offset) + size
        if size == 0:
            return
        if page.total is not None:
            if offset >= page.total:
                return
        elif len(entries) < page_size:
            return  # no total: a short page is the last


async def cursor_paged(
    requester: Requester,
    path: str,
    parse: Callable[[bytes], CursorPaged[T]],
    *,
    level: int,
    page_size: int,
    params: Mapping[str, str | int] | None = None,
) -> AsyncIterator[T]:
    """Every entry of a cursor-paged list at `path`, `page_size` a page."""
    cursor: str | None = None
    while True:
        query: dict[str, str | int] = {**(params or {}), "limit": page_size}
        if cursor:
            query["cursor"] = cursor
        response = await requester.send(
            "GET", path, level=level, idempotent=True, params=query
        )
        page = parse(response.content)
        entries = page.entries()
        for entry in entries:
            yield entry
        # A cursor that does not move would fetch the same page forever.
        if not page.cursor or not entries or page.cursor == cursor:
            return
        cursor = page.cursor
