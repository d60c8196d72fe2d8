"""Miro's official `miro_api` client and ours read the same emulator data alike: boards,
members and items; cards, app cards, images, embeds, connectors, tags and groups.

`miro_api` is synchronous (urllib3), so the emulator runs under uvicorn on a free loopback
port in a thread, and both clients talk HTTP to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest

from miroconnect.client import CreditPacer, MiroClient, StaticTokenSource
from miroconnect.client.models import (
    AppCardData,
    Caption,
    CardData,
    ConnectorEnd,
    CustomField,
    FrameData,
    Position,
    ShapeData,
    StickyNoteData,
)
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


async def test_both_clients_read_cards_connectors_tags_groups_and_media_alike(
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
        b = (await ours.boards.create(name="More families")).id
        due = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
        card = await ours.cards.create(
            b, data=CardData(title="Task", description="do it", due_date=due)
        )
        app_card = await ours.app_cards.create(
            b,
            data=AppCardData(title="App", fields=[CustomField(value="v")]),
            position=Position(x=400, y=0),
        )
        image = await ours.images.create(b, "https://example.com/a.png", title="A")
        embed = await ours.embeds.create(b, "https://example.com/v", mode="modal")
        line = await ours.connectors.create(
            b,
            ConnectorEnd(id=card.id, snap_to="right"),
            ConnectorEnd(id=app_card.id, snap_to="left"),
            shape="curved",
            captions=[Caption(content="then")],
        )
        tag = await ours.tags.create(b, "urgent", fill_color="red")
        await ours.tags.attach(b, card.id, tag.id)
        group = await ours.groups.create(b, [image.id, embed.id])

        mine: dict[str, Any] = {
            "card": await ours.cards.get(b, card.id),
            "app_card": await ours.app_cards.get(b, app_card.id),
            "image": await ours.images.get(b, image.id),
            "embed": await ours.embeds.get(b, embed.id),
            "connectors": [c async for c in ours.connectors.list(b)],
            "tags": [t async for t in ours.tags.list(b)],
            "tagged": [i.id async for i in ours.tags.items(b, tag.id)],
            "on_card": await ours.tags.of_item(b, card.id),
            "groups": [g async for g in ours.groups.list(b)],
        }

    def read_official() -> dict[str, Any]:
        api = official(server_url, grant.access_token)
        return {
            "card": api.get_card_item(b, card.id),
            "app_card": api.get_app_card_item(b, app_card.id),
            "image": api.get_image_item(b, image.id),
            "embed": api.get_embed_item(b, embed.id),
            "connectors": api.get_connectors(b).data or [],
            "tags": api.get_tags_from_board(b).data or [],
            "tagged": [i.id for i in api.get_items_by_tag(b, tag.id).data or []],
            "on_card": api.get_tags_from_item(b, card.id).tags or [],
            "groups": api.get_all_groups(b, limit=10).data or [],
        }

    theirs = await asyncio.to_thread(read_official)

    c, tc = mine["card"], theirs["card"]
    assert c.data and tc.data
    assert (c.data.title, c.data.description, c.data.due_date) == (
        tc.data.title,
        tc.data.description,
        tc.data.due_date,
    )
    assert c.created_at == tc.created_at and c.geometry and tc.geometry
    assert (c.geometry.width, c.geometry.height) == (
        tc.geometry.width,
        tc.geometry.height,
    )
    a, ta = mine["app_card"], theirs["app_card"]
    assert a.data and ta.data and a.data.fields and ta.data.fields
    assert (a.data.title, a.data.owned, a.data.status) == (
        ta.data.title,
        ta.data.owned,
        ta.data.status,
    )
    assert [f.value for f in a.data.fields] == [f.value for f in ta.data.fields]
    i, ti = mine["image"], theirs["image"]
    assert i.data and ti.data
    assert (i.data.title, i.data.image_url) == (ti.data.title, ti.data.image_url)
    e, te = mine["embed"], theirs["embed"]
    assert e.data and te.data
    assert (e.data.url, e.data.mode) == (te.data.url, te.data.mode)

    [ours_line], [their_line] = mine["connectors"], theirs["connectors"]
    assert ours_line.id == their_line.id == line.id
    assert ours_line.shape == their_line.shape == "curved"
    assert ours_line.start_item and ours_line.end_item
    assert (ours_line.start_item.id, ours_line.end_item.id) == (
        their_line.start_item.id,
        their_line.end_item.id,
    )
    assert ours_line.start_item.position and their_line.start_item.position
    assert ours_line.start_item.position.x == their_line.start_item.position.x
    assert [x.content for x in ours_line.captions or []] == [
        x.content for x in their_line.captions or []
    ]

    assert [(t.id, t.title, t.fill_color) for t in mine["tags"]] == [
        (t.id, t.title, t.fill_color) for t in theirs["tags"]
    ]
    assert mine["tagged"] == theirs["tagged"] == [card.id]
    assert [t.id for t in mine["on_card"]] == [t.id for t in theirs["on_card"]]

    [our_group], [their_group] = mine["groups"], theirs["groups"]
    assert our_group.id == their_group.id == group.id
    assert our_group.data and their_group.data
    # miro_api types a group's `data` as its `Group` model ({"data": {"items"}}, the
    # spec's name clash), so the item ids the answer has land in its extra properties.
    assert set(our_group.data.items) == set(their_group.data.to_dict()["items"])
    assert set(our_group.data.items) == {image.id, embed.id}
