"""Miro's official `miro_api` client and ours read the same emulator data alike.

`miro_api` is synchronous (urllib3), so the emulator runs under uvicorn on a free loopback
port in a thread, and both clients talk HTTP to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from miroconnect.client import CreditPacer, MiroClient, StaticTokenSource
from miroconnect.client.models import FrameData, Position, ShapeData, StickyNoteData
from miroconnect.emulator import create_emulator, serve_in_thread
from support import connect, emulator_app_client


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    app = create_emulator(auto_approve=True, clients=[emulator_app_client()], seed=5)
    with serve_in_thread(app) as base_url:
        yield base_url


def official(base_url: str, token: str) -> Any:
    from miro_api import MiroApi
    from miro_api.configuration import Configuration
    from miro_api.rest import RESTClientObject

    api = MiroApi(token)
    # Point this instance at the emulator without touching the library's global default.
    configuration = Configuration(host=base_url)
    api.api_client.configuration = configuration
    api.api_client.rest_client = RESTClientObject(configuration)
    return api


async def test_both_clients_read_boards_members_and_items_alike(
    server_url: str,
) -> None:
    async with httpx2.AsyncClient() as http:
        grant = await connect(http, server_url)
        ours = MiroClient(
            http,
            StaticTokenSource(grant.access_token, key=grant.user_id),
            base_url=server_url,
            pacer=CreditPacer(),
        )
        board = await ours.boards.create(name="Cross-check", description="both read it")
        await ours.boards.create(name="Second")
        await ours.members.share(board.id, ["ann@example.com"], role="editor")
        await ours.frames.create(board.id, data=FrameData(title="Frame"))
        await ours.shapes.create(board.id, data=ShapeData(shape="circle", content="o"))
        for i in range(12):
            await ours.sticky_notes.create(
                board.id,
                data=StickyNoteData(content=f"n{i}"),
                position=Position(x=i, y=-i),
            )

        our_boards = {b.id: b async for b in ours.boards.list(team_id=grant.team_id)}
        our_members = {m.id: m async for m in ours.members.list(board.id)}
        our_items = {i.id: i async for i in ours.items.list(board.id, page_size=10)}
        our_board = await ours.boards.get(board.id)

    def read_official() -> tuple[Any, Any, Any, Any]:
        api = official(server_url, grant.access_token)
        boards = list(api.get_all_boards(team_id=grant.team_id))
        members = list(api.get_all_board_members(board.id))
        items: list[Any] = []
        cursor = None
        while True:
            page = api.get_items(board.id, limit="10", cursor=cursor)
            items += page.data or []
            cursor = page.cursor
            if not cursor or not page.data:
                break
        return boards, members, items, api.get_specific_board(board.id)

    their_boards, their_members, their_items, their_board = await asyncio.to_thread(
        read_official
    )

    assert {b.id for b in their_boards} == set(our_boards) and len(our_boards) == 2
    for theirs in [*their_boards, their_board]:
        mine = our_boards[theirs.id]
        assert (mine.name, mine.description, mine.view_link) == (
            theirs.name,
            theirs.description,
            theirs.view_link,
        )
        assert mine.created_at == theirs.created_at
        assert mine.modified_at == theirs.modified_at
        assert mine.team and theirs.team and mine.team.id == theirs.team.id
        assert mine.owner and theirs.owner and mine.owner.id == theirs.owner.id
        assert mine.created_by and mine.created_by.id == theirs.created_by.id
    assert our_board.name == their_board.name

    assert {m.id: (m.name, m.role) for m in our_members.values()} == {
        m.id: (m.name, m.role) for m in their_members
    }
    assert len(our_members) == 2

    assert len(their_items) == len(our_items) == 14
    for theirs in their_items:
        item = our_items[theirs.id]
        assert item.type == theirs.type
        assert item.created_at == theirs.created_at
        assert item.position and theirs.position
        assert (item.position.x, item.position.y) == (
            theirs.position.x,
            theirs.position.y,
        )
        their_data = theirs.data.actual_instance.to_dict() if theirs.data else {}
        assert {k: v for k, v in (item.data or {}).items() if k in their_data} == {
            k: v for k, v in their_data.items() if k in (item.data or {})
        }
        assert (item.data or {}).get("content") == their_data.get("content")
