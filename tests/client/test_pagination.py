"""Lists fetch the next page only when the previous one is used up, for offset pages
(boards, members, tags) and cursor pages (items, connectors, groups)."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx2

from miroconnect.client import CreditPacer, MiroClient, RetryPolicy, StaticTokenSource
from support import FakeTime

Handler = Callable[[httpx2.Request], httpx2.Response]
BOARD = "uXjVOD6LSME="


def client(handler: Handler) -> tuple[MiroClient, httpx2.AsyncClient]:
    time = FakeTime()
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    miro = MiroClient(
        http,
        StaticTokenSource("t", key="k"),
        base_url="https://api.example",
        pacer=CreditPacer(clock=time.now, sleep=time.sleep),
        retry=RetryPolicy(rng=random.Random(1)),  # noqa: S311 (jitter, not secrets)
        sleep=time.sleep,
    )
    return miro, http


class OffsetServer:
    """`total` boards in offset pages; counts the pages asked for."""

    def __init__(self, total: int, *, with_total: bool = True) -> None:
        self.total = total
        self.with_total = with_total
        self.asked: list[tuple[int, int]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        limit = int(request.url.params["limit"])
        offset = int(request.url.params["offset"])
        self.asked.append((offset, limit))
        ids = range(offset, min(offset + limit, self.total))
        page: dict[str, object] = {
            "data": [{"id": str(i), "name": f"b{i}", "title": f"t{i}"} for i in ids],
            "size": len(ids),
            "offset": offset,
            "limit": limit,
        }
        if self.with_total:
            page["total"] = self.total
        return httpx2.Response(200, json=page)


class CursorServer:
    """`total` items in cursor pages; the cursor is the next index."""

    def __init__(self, total: int, *, stuck: bool = False) -> None:
        self.total = total
        self.stuck = stuck
        self.asked: list[str | None] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        cursor = request.url.params.get("cursor")
        self.asked.append(cursor)
        start = 0 if cursor is None or self.stuck else int(cursor)
        end = min(start + int(request.url.params["limit"]), self.total)
        page: dict[str, object] = {
            "data": [{"id": str(i), "type": "sticky_note"} for i in range(start, end)],
            "size": end - start,
        }
        if end < self.total:
            page["cursor"] = "0" if self.stuck else str(end)
        return httpx2.Response(200, json=page)


async def test_offset_pages_are_fetched_one_at_a_time_as_they_are_used_up() -> None:
    server = OffsetServer(25)
    miro, http = client(server)
    async with http:
        boards = miro.boards.list(team_id="t", page_size=10)
        first = await anext(boards)
        assert first.id == "0" and server.asked == [(0, 10)]
        for _ in range(9):
            await anext(boards)
        assert server.asked == [(0, 10)]  # ten used, the page is done, none fetched yet
        assert (await anext(boards)).id == "10"
        assert server.asked == [(0, 10), (10, 10)]
        rest = [b.id async for b in boards]
    assert rest == [str(i) for i in range(11, 25)]
    assert server.asked == [(0, 10), (10, 10), (20, 10)]


async def test_breaking_out_of_a_list_fetches_no_further_page() -> None:
    server = OffsetServer(100)
    miro, http = client(server)
    async with http:
        async for member in miro.members.list("b", page_size=5):
            if member.id == "3":
                break
    assert server.asked == [(0, 5)]


async def test_offset_pages_without_a_total_end_on_a_short_page() -> None:
    server = OffsetServer(12, with_total=False)
    miro, http = client(server)
    async with http:
        tags = [t.id async for t in miro.tags.list(BOARD, page_size=5)]
    assert len(tags) == 12
    assert server.asked == [(0, 5), (5, 5), (10, 5)]


async def test_cursor_pages_are_fetched_one_at_a_time_as_they_are_used_up() -> None:
    server = CursorServer(23)
    miro, http = client(server)
    async with http:
        items = miro.items.list(BOARD, page_size=10)
        assert (await anext(items)).id == "0"
        assert server.asked == [None]
        seen = ["0"] + [(await anext(items)).id for _ in range(9)]
        assert server.asked == [None]
        seen += [i.id async for i in items]
    assert seen == [str(i) for i in range(23)]
    assert server.asked == [None, "10", "20"]


async def test_a_cursor_that_does_not_move_ends_the_walk() -> None:
    server = CursorServer(30, stuck=True)
    miro, http = client(server)
    async with http:
        connectors = [c.id async for c in miro.connectors.list(BOARD, page_size=10)]
    # Page "0" again and again would never end: the second answer's cursor is the one
    # just sent, so the walk stops there.
    assert server.asked == [None, "0"]
    assert len(connectors) == 20


async def test_a_groups_items_come_flattened_from_their_nested_pages() -> None:
    asked: list[dict[str, str]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        asked.append(dict(request.url.params))
        item = {"id": "1", "type": "card"}
        body: dict[str, object] = {
            "data": {
                "id": "g",
                "type": "group",
                "data": [{"data": [item, {**item, "id": "2"}], "total": 3}],
            },
            "size": 2,
            "total": 3,
        }
        if "cursor" not in request.url.params:
            body["cursor"] = "next"
        else:
            body["data"] = {"id": "g", "data": [{"data": [{**item, "id": "3"}]}]}
        return httpx2.Response(200, json=body)

    miro, http = client(handler)
    async with http:
        ids = [i.id async for i in miro.groups.items(BOARD, "g", page_size=10)]
    assert ids == ["1", "2", "3"]
    assert asked == [
        {"group_item_id": "g", "limit": "10"},
        {"group_item_id": "g", "limit": "10", "cursor": "next"},
    ]
