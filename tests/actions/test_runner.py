"""MiroActionRunner against the in-process emulator and a real database: exactly once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from miroconnect.errors import (
    ActionError,
    ActionFailedError,
    NotFoundError,
    OperationInProgressError,
)
from miroconnect.oauth.pending import PendingAction
from miroconnect.storage.db import Database
from miroconnect.storage.operations import OperationStore
from miroconnect.storage.outbox import NewEvent
from support import FakeTime

from .conftest import World, make_runner


def create(name: str, key: str | None) -> PendingAction:
    return PendingAction("create_board", {"name": name}, idempotency_key=key)


async def test_200_creations_through_faults_make_exactly_200_boards(
    world: World,
) -> None:
    await world.fault(
        method="POST", path="/v2/boards", probability=0.2, action="drop_after_commit"
    )
    await world.fault(
        method="POST", path="/v2/boards", probability=0.125, action="status", status=503
    )
    await world.fault(
        method="*", path="/v2/boards", times=6, action="status", status=429
    )
    gate = asyncio.Semaphore(25)

    async def one(i: int) -> str:
        async with gate:
            result = await world.runner.run(
                create(f"Board {i}", f"key-{i}"), world.context
            )
            return str(result.data["board_id"])

    ids = await asyncio.gather(*(one(i) for i in range(200)))

    boards = await world.boards()
    stats = await world.stats()
    assert stats["faults_applied"] > 40  # the faults really fired
    assert len(boards) == 200
    assert sorted(b["name"] for b in boards) == sorted(f"Board {i}" for i in range(200))
    assert len(set(ids)) == 200 and set(ids) == {b["id"] for b in boards}
    operations = await world.runner.operations.all()
    assert len(operations) == 200
    assert all(op.state == "done" for op in operations)
    assert any(op.attempts > 1 for op in operations)


async def test_the_same_key_twice_makes_one_board(world: World) -> None:
    first = await world.runner.run(create("Sprint 12", "click-1"), world.context)
    again = await world.runner.run(create("Sprint 12", "click-1"), world.context)
    assert again == first
    assert first.data["view_link"]
    assert len(await world.boards()) == 1


async def test_a_double_click_makes_one_board(world: World) -> None:
    other = world.new_runner()
    results = await asyncio.gather(
        world.runner.run(create("Sprint 12", "click-2"), world.context),
        other.run(create("Sprint 12", "click-2"), world.context),
    )
    assert results[0] == results[1]
    assert len(await world.boards()) == 1


async def test_a_refreshed_callback_makes_one_board(world: World) -> None:
    # The callback ran the action, the browser reloads it: a new request, same key.
    action = create("From consent", "state-abc")
    first = await world.runner.run(action, world.context)
    again = await world.new_runner().run(action, world.context)
    assert again.data["board_id"] == first.data["board_id"]
    assert (await world.stats())["boards_created"] == 1


async def test_same_name_other_keys_each_adopt_their_own_board(world: World) -> None:
    await world.fault(
        method="POST", path="/v2/boards", times=2, action="drop_after_commit"
    )
    a, b = await asyncio.gather(
        world.runner.run(create("Retro", "k-a"), world.context),
        world.runner.run(create("Retro", "k-b"), world.context),
    )
    assert a.data["board_id"] != b.data["board_id"]
    assert len(await world.boards()) == 2


async def test_a_crashed_worker_is_taken_over_and_its_board_adopted(
    world: World,
) -> None:
    # A worker committed `sent`, its request created the board, then it died.
    board = await world.client().boards.create(
        name="Orphan", team_id=world.context.miro_team_id
    )
    await world.sent_operation(
        "k-crash", "create_board", {"name": "Orphan"}, lease=timedelta(seconds=1)
    )
    await world.time.sleep(5)  # the dead worker's lease runs out
    result = await world.runner.run(create("Orphan", "k-crash"), world.context)
    assert result.data["board_id"] == board.id
    assert len(await world.boards()) == 1


async def test_a_repeat_while_another_worker_holds_the_key_gives_up_clearly(
    world: World,
) -> None:
    # A live worker holds the operation (its 2-minute lease is fresh): a repeat with the
    # same key must not wait out the lease, nor send anything to Miro.
    started = world.time.now()
    await world.sent_operation(
        "k-busy", "create_board", {"name": "Busy"}, lease=timedelta(minutes=2)
    )
    with pytest.raises(OperationInProgressError) as caught:
        await world.runner.run(create("Busy", "k-busy"), world.context)
    waited = (world.time.now() - started).total_seconds()
    assert 15 <= waited < 30
    assert caught.value.retry_after > 0
    assert await world.boards() == []


class DatabaseOutage(OperationStore):
    """The operations table during a PostgreSQL restart: `finish` fails, and so do the
    first `release` attempts, then the database is back."""

    def __init__(self, db: Database, time: FakeTime, failing_releases: int) -> None:
        super().__init__(db, clock=time.now)
        self.failing_releases = failing_releases
        self.release_calls = 0

    async def finish(
        self,
        op_id: str,
        owner: str,
        result: Any,
        *,
        board_id: str | None = None,
        event: NewEvent | None = None,
    ) -> datetime:
        raise ConnectionError("the database system is shutting down")

    async def release(self, op_id: str, owner: str) -> None:
        self.release_calls += 1
        if self.release_calls <= self.failing_releases:
            raise ConnectionError("the database system is starting up")
        await super().release(op_id, owner)


async def test_a_database_restart_does_not_leave_the_lease_behind(
    world: World,
) -> None:
    # The board is made, then the database goes away before the statement that records
    # it: the run fails, but it gives its lease back once the database answers, so the
    # app's retry resumes at once instead of waiting out the 2-minute lease, and finds
    # the board (the row still says `sent`) instead of making a second one.
    outage = DatabaseOutage(world.db, world.time, failing_releases=2)
    world.runner.operations = outage
    with pytest.raises(ConnectionError):
        await world.runner.run(create("Restart", "k-restart"), world.context)
    assert outage.release_calls == 3
    op = await outage.get(world.context.app_user_id, "k-restart")
    assert op is not None and op.state == "sent" and op.created_board_id is None

    retry = make_runner(world.db, world.http, world.time)
    before = world.time.now()
    result = await retry.run(create("Restart", "k-restart"), world.context)
    assert world.time.now() - before < timedelta(seconds=5)
    boards = await world.boards()
    assert [b["name"] for b in boards] == ["Restart"]
    assert result.data["board_id"] == boards[0]["id"]


async def test_a_definitive_error_fails_the_operation_and_the_key_repeats_it(
    world: World,
) -> None:
    share = PendingAction(
        "share_board",
        {"board_id": "nope=", "emails": ["ann@example.com"], "role": "editor"},
        idempotency_key="share-1",
    )
    with pytest.raises(NotFoundError):
        await world.runner.run(share, world.context)
    with pytest.raises(ActionFailedError, match="404"):
        await world.runner.run(share, world.context)
    op = await world.runner.operations.get(world.context.app_user_id, "share-1")
    assert op is not None and op.state == "failed"


async def test_bad_actions_are_refused_before_anything_is_written(world: World) -> None:
    for action, message in [
        (PendingAction("delete_everything", {}), "unknown action"),
        (PendingAction("create_board", {"name": ""}), "'name'"),
        (PendingAction("create_board", {"name": "x" * 61}), "'name'"),
        (PendingAction("share_board", {"board_id": "b=", "emails": "a@b.c"}), "emails"),
        (PendingAction("copy_board", {"name": "x"}), "template_board_id"),
    ]:
        with pytest.raises(ActionError, match=message):
            await world.runner.run(action, world.context)
    assert await world.runner.operations.all() == []
    with pytest.raises(ActionError, match="already used"):
        await world.runner.run(create("a", "k-kind"), world.context)
        await world.runner.run(
            PendingAction("add_starter_content", {"board_id": "b="}, "k-kind"),
            world.context,
        )


async def test_copy_share_and_starter_content_survive_a_lost_answer(
    world: World,
) -> None:
    template = await world.runner.run(create("Template", "t-1"), world.context)
    await world.fault(
        method="POST", path="/v2/boards/", times=1, action="drop_after_commit"
    )
    await world.fault(
        method="PUT", path="/v2/boards", times=1, action="drop_after_commit"
    )
    copied = await world.runner.run(
        PendingAction(
            "copy_board",
            {
                "template_board_id": template.data["board_id"],
                "name": "Sprint 14",
                "starter_content": True,
                "frame_title": "Plan",
            },
            idempotency_key="copy-1",
        ),
        world.context,
    )
    board_id = str(copied.data["board_id"])
    assert board_id != template.data["board_id"]
    assert len(await world.boards()) == 2

    items = [i async for i in world.client().items.list(board_id)]
    notes = sorted(
        str((i.data or {}).get("content")) for i in items if i.type == "sticky_note"
    )
    assert notes == ["Goals", "Ideas", "Next steps"]
    assert [i.type for i in items].count("frame") == 1

    shared = await world.runner.run(
        PendingAction(
            "share_board",
            {"board_id": board_id, "emails": ["ann@example.com"], "role": "editor"},
            idempotency_key="share-2",
        ),
        world.context,
    )
    assert len(shared.data["invited"]) == 1
    members = [m async for m in world.client().members.list(board_id)]
    assert sorted(m.role or "" for m in members) == ["editor", "owner"]
