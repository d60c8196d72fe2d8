"""MiroClient against the in-process emulator: every route, real rate limits, pacing."""

from __future__ import annotations

import asyncio
import time as real_time

import httpx2
import pytest

from miroconnect.client import CreditPacer, MiroClient, StaticTokenSource
from miroconnect.client.models import (
    FrameData,
    Position,
    ShapeData,
    StickyNoteData,
    TextData,
)
from miroconnect.emulator import create_emulator, emulator_transport
from miroconnect.errors import NotFoundError, ReauthorizationRequiredError
from support import FakeTime, Grant, connect, emulator_app_client

BASE = "http://miro.test"


async def open_client(
    http: httpx2.AsyncClient, *, time: FakeTime | None = None
) -> tuple[MiroClient, Grant]:
    grant = await connect(http, BASE)
    pacer = CreditPacer(clock=time.now, sleep=time.sleep) if time else CreditPacer()
    miro = MiroClient(
        http,
        StaticTokenSource(grant.access_token, key=grant.user_id),
        base_url=BASE,
        pacer=pacer,
        sleep=time.sleep if time else asyncio.sleep,
    )
    return miro, grant


def emulator_http(**options: object) -> httpx2.AsyncClient:
    app = create_emulator(
        auto_approve=True,
        clients=[emulator_app_client()],
        seed=7,
        **options,  # type: ignore[arg-type]
    )
    return httpx2.AsyncClient(transport=emulator_transport(app))


async def test_boards_round_trip() -> None:
    async with emulator_http() as http:
        miro, grant = await open_client(http)
        info = await miro.token_info()
        assert (info.user.id, info.team.id) == (grant.user_id, grant.team_id)

        board = await miro.boards.create(name="Sprint 12", description="plan")
        assert board.view_link and board.id in board.view_link
        assert (await miro.boards.get(board.id)).name == "Sprint 12"
        updated = await miro.boards.update(board.id, name="Sprint 13")
        assert updated is None or updated.name == "Sprint 13"
        assert (await miro.boards.get(board.id)).name == "Sprint 13"

        copy = await miro.boards.copy(board.id, name="Copy of 13")
        assert copy.id != board.id
        names = [
            b.name
            async for b in miro.boards.list(
                team_id=grant.team_id, sort="last_created", page_size=1
            )
        ]
        assert names[:2] == ["Copy of 13", "Sprint 13"]

        await miro.boards.delete(copy.id)
        with pytest.raises(NotFoundError) as gone:
            await miro.boards.get(copy.id)
        assert gone.value.status_code == 404 and gone.value.code == "notFound"


async def test_members_and_items_round_trip() -> None:
    async with emulator_http() as http:
        miro, _ = await open_client(http)
        board = await miro.boards.create(name="Items")

        invited = await miro.members.share(board.id, ["ann@example.com"], role="editor")
        assert len(invited.successful) == 1
        members = [m async for m in miro.members.list(board.id)]
        assert len(members) == 2
        guest = next(m for m in members if m.role == "editor")
        assert (await miro.members.get(board.id, guest.id)).id == guest.id
        assert (await miro.members.update(board.id, guest.id, role="viewer")).role == (
            "viewer"
        )
        await miro.members.remove(board.id, guest.id)
        assert len([m async for m in miro.members.list(board.id)]) == 1

        frame = await miro.frames.create(board.id, data=FrameData(title="Plan"))
        text = await miro.texts.create(board.id, data=TextData(content="Title"))
        shape = await miro.shapes.create(board.id, data=ShapeData(shape="circle"))
        notes = [
            await miro.sticky_notes.create(
                board.id,
                data=StickyNoteData(content=f"note {i}"),
                position=Position(x=i * 10, y=0),
            )
            for i in range(22)
        ]
        note = await miro.sticky_notes.update(
            board.id, notes[0].id, data=StickyNoteData(content="changed")
        )
        assert note.data is not None and note.data.content == "changed"
        assert (await miro.texts.get(board.id, text.id)).id == text.id
        await miro.shapes.delete(board.id, shape.id)

        listed = [i async for i in miro.items.list(board.id, page_size=10)]
        assert len(listed) == 24  # 22 notes, a text and a frame
        assert len({i.id for i in listed}) == 24
        assert {i.type for i in listed} == {"sticky_note", "text", "frame"}
        only = [i async for i in miro.items.list(board.id, type="frame")]
        assert [i.id for i in only] == [frame.id]


async def test_revoked_token_is_refused() -> None:
    async with emulator_http() as http:
        miro, _ = await open_client(http)
        await miro.revoke(
            client_id=emulator_app_client().client_id,
            client_secret=(emulator_app_client().client_secret),
        )
        with pytest.raises(ReauthorizationRequiredError):
            await miro.boards.create(name="after revoke")


async def test_a_burst_of_300_creations_gets_no_429_and_takes_the_windows_it_needs() -> (
    None
):
    time = FakeTime()
    # 5000 credits per 2 s window: 10 creations (500 credits each) per window.
    async with emulator_http(clock=time.now, credits=5000, window_seconds=2) as http:
        miro, _ = await open_client(http, time=time)
        start = time.epoch()
        boards = await asyncio.gather(
            *(miro.boards.create(name=f"burst {i}") for i in range(300))
        )
        elapsed = time.epoch() - start
        stats = (await http.get(f"{BASE}/_emulator/stats")).json()

    assert len({b.id for b in boards}) == 300
    assert stats["rate_limited"] == 0
    assert stats["boards"] == 300
    # 30 windows' worth of credits: it cannot finish sooner, and it wastes no window.
    assert 29 * 2 <= elapsed <= 31 * 2


async def test_pacing_with_the_real_clock_and_a_one_second_window() -> None:
    async with emulator_http(credits=2000, window_seconds=1) as http:
        miro, _ = await open_client(http)
        started = real_time.monotonic()
        await asyncio.gather(*(miro.boards.create(name=f"b{i}") for i in range(10)))
        elapsed = real_time.monotonic() - started
        stats = (await http.get(f"{BASE}/_emulator/stats")).json()
    assert stats["rate_limited"] == 0
    assert stats["boards"] == 10
    assert elapsed >= 1.0  # 4 creations per window: at least two resets passed
