"""The webhook outbox: each change of a connection, and each board an operation made,
writes its event in the same transaction, or neither is kept; without an outbox nothing
is written. On SQLite and PostgreSQL (`db` marker)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from miroconnect.client import StaticTokenSource
from miroconnect.crypto import KeyRing, TokenCipher
from miroconnect.errors import ActionError, LeaseLostError
from miroconnect.oauth.pending import ActionContext
from miroconnect.oauth.store import ConsentStatus, HeldConsent, NewHeldConsent
from miroconnect.oauth.tokens import ConnectionStatus, MiroIdentity, TokenSet
from miroconnect.storage.consents import SQLConsentStore
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.models import ConnectionRow, OperationRow, WebhookEventRow
from miroconnect.storage.operations import NewOperation, OperationStore
from miroconnect.storage.outbox import NewEvent, Outbox, board_event, new_event_id
from miroconnect.storage.repository import SQLStore
from support import FakeClock
from support.oauth import KEY1
from support.statements import statement_kind, statements

ACCESS = "access-token-never-in-an-event"
REFRESH = "refresh-token-never-in-an-event"
IDENTITY = MiroIdentity("miro-u1", "team-1", "Ada", "Team One", ("boards:write",))


def tokens(clock: FakeClock) -> TokenSet:
    return TokenSet(ACCESS, REFRESH, clock() + timedelta(hours=1))


class FixedIds:
    """Event ids from a list: a repeated id makes the event's INSERT fail, as any
    failure after the change would."""

    def __init__(self, *ids: str) -> None:
        self.ids = list(ids)

    def __call__(self) -> str:
        return self.ids.pop(0) if self.ids else new_event_id()


@dataclass
class World:
    db: Database
    clock: FakeClock
    ids: FixedIds
    outbox: Outbox
    store: SQLStore
    consents: SQLConsentStore
    operations: OperationStore

    async def events(self) -> list[dict[str, Any]]:
        """Every event's body, oldest first (with its id under `_id`)."""
        async with self.db.session() as session:
            rows = await session.scalars(
                select(WebhookEventRow).order_by(WebhookEventRow.id)
            )
            return [json.loads(r.payload) | {"_id": r.id} for r in rows]

    async def count(self, model: Any) -> int:
        async with self.db.session() as session:
            return int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    await upgrade(database_url)
    db = Database(database_url)
    cipher = TokenCipher(KeyRing.parse(KEY1))
    clock = FakeClock()
    ids = FixedIds()
    outbox = Outbox(db, new_id=ids)
    try:
        yield World(
            db,
            clock,
            ids,
            outbox,
            SQLStore(db, cipher, outbox=outbox),
            SQLConsentStore(db, cipher, outbox=outbox),
            OperationStore(db, clock=clock, outbox=outbox),
        )
    finally:
        await db.dispose()


async def save(world: World, user: str = "u1") -> str:
    saved = await world.store.save_connection(
        app_user_id=user,
        identity=IDENTITY,
        tokens=tokens(world.clock),
        now=world.clock(),
    )
    return saved.id


async def test_each_change_of_a_connection_writes_its_event(world: World) -> None:
    first = await save(world)
    world.clock.advance(60)
    again = await save(world)  # a new consent for the same user and team
    async with world.store.lock(first) as locked:
        await locked.set_status(
            ConnectionStatus.NEEDS_REAUTH, "refresh_rejected", now=world.clock()
        )
    async with world.store.lock(first) as locked:  # the same status again: no event
        await locked.set_status(
            ConnectionStatus.NEEDS_REAUTH, "again", now=world.clock()
        )
    async with world.store.lock(first) as locked:
        await locked.set_status(
            ConnectionStatus.REMOVED, "disconnected", now=world.clock()
        )
    await save(world)  # connecting after a disconnect is a new connection
    events = await world.events()
    assert again == first
    assert [e["type"] for e in events] == [
        "connection.created",
        "connection.reconnected",
        "connection.needs_reauth",
        "connection.revoked",
        "connection.created",
    ]
    assert events[0]["data"] == {
        "app_user_id": "u1",
        "connection_id": first,
        "miro_user_id": "miro-u1",
        "miro_team_id": "team-1",
        "status": "connected",
        "reason": None,
    }
    assert events[2]["data"]["reason"] == "refresh_rejected"
    assert events[0]["timestamp"] == "2026-11-28T12:00:00.000Z"
    assert events[1]["timestamp"] == "2026-11-28T12:01:00.000Z"
    assert len({e["_id"] for e in events}) == 5
    assert all(e["_id"].startswith("msg_") for e in events)
    for event in events:
        assert ACCESS not in json.dumps(event) and REFRESH not in json.dumps(event)


async def test_a_first_connection_is_one_insert_and_its_event_atomic_with_it(
    world: World,
) -> None:
    # Without webhooks: the one prebuilt `INSERT ... ON CONFLICT DO NOTHING`.
    plain = SQLStore(world.db, TokenCipher(KeyRing.parse(KEY1)))
    with statements() as seen:
        await plain.save_connection(
            app_user_id="u0",
            identity=IDENTITY,
            tokens=tokens(world.clock),
            now=world.clock(),
        )
    assert [statement_kind(s) for s in seen] == ["INSERT connections"]
    assert "ON CONFLICT" in seen[0]
    # With them: the INSERT and the event's, one statement on PostgreSQL (a CTE), one
    # transaction on SQLite (BEGIN IMMEDIATE; its COMMIT is the driver's).
    with statements() as seen:
        await save(world)
    if world.db.is_postgresql:
        assert [statement_kind(s) for s in seen] == ["WITH"]
        assert "INSERT INTO connections" in seen[0]
        assert "INSERT INTO webhook_outbox" in seen[0]
    else:
        assert [statement_kind(s) for s in seen] == [
            "BEGIN",
            "INSERT connections",
            "INSERT webhook_outbox",
        ]
    [written] = await world.events()
    assert written["type"] == "connection.created"
    assert await world.count(ConnectionRow) == 2


async def test_a_status_change_rolled_back_leaves_no_event(world: World) -> None:
    connection_id = await save(world)
    before = await world.events()
    with pytest.raises(RuntimeError, match="after the change"):
        async with world.store.lock(connection_id) as locked:
            await locked.set_status(ConnectionStatus.REMOVED, "x", now=world.clock())
            raise RuntimeError("a failure after the change, before the commit")
    assert await world.events() == before
    found = await world.store.get_connection(connection_id)
    assert found is not None and found.status is ConnectionStatus.CONNECTED


async def test_a_first_connection_whose_event_fails_is_not_stored(world: World) -> None:
    await save(world, "u0")
    taken = (await world.events())[0]["_id"]
    # The event's INSERT fails, at each of `save_connection`'s three attempts.
    world.ids.ids.extend([taken] * 3)
    with pytest.raises(IntegrityError):
        await save(world, "u1")
    assert await world.count(ConnectionRow) == 1
    assert len(await world.events()) == 1


async def test_a_confirmed_consent_writes_its_event_with_the_connection(
    world: World,
) -> None:
    now = world.clock()

    async def hold(result_hash: str) -> None:
        await world.consents.hold_consent(
            NewHeldConsent(
                id=new_event_id()[4:],
                result_hash=result_hash,
                flow_id="flow",
                app_user_id="u1",
                action=None,
                identity=IDENTITY,
                tokens=tokens(world.clock),
                created_at=now,
                expires_at=now + timedelta(minutes=10),
            )
        )

    def confirm(consent: HeldConsent) -> ConsentStatus:
        return ConsentStatus.CONFIRMED

    await save(world, "u0")
    [taken] = await world.events()
    await hold("a" * 64)
    # The event's INSERT fails after the connection was written: neither is stored,
    # and the consent is still held.
    world.ids.ids.append(taken["_id"])
    with pytest.raises(IntegrityError):
        await world.consents.decide_consent("a" * 64, confirm, now=now)
    assert await world.count(ConnectionRow) == 1
    assert [e["_id"] for e in await world.events()] == [taken["_id"]]
    decided = await world.consents.decide_consent("a" * 64, confirm, now=now)
    assert decided is not None and decided.consent.status is ConsentStatus.HELD
    assert decided.connection is not None
    event = (await world.events())[-1]
    assert event["type"] == "connection.created"
    assert event["data"]["connection_id"] == decided.connection.id


async def claim(world: World, key: str, kind: str = "create_board") -> str:
    new = NewOperation(
        app_user_id="u1",
        idempotency_key=key,
        kind=kind,
        params={"name": key},
        connection_id="c1",
        miro_user_id="miro-u1",
        miro_team_id="team-1",
    )
    made = await world.operations.claim(new, owner="me", sending=True)
    return made.operation.id


def created(board_id: str) -> tuple[dict[str, str], NewEvent]:
    """An action's result for a new board, and its `board.created` event."""
    link = f"https://miro.com/app/board/{board_id}/"
    result = {"board_id": board_id, "name": "Plan", "view_link": link}
    source = StaticTokenSource(ACCESS, key="c1")
    context = ActionContext("u1", "c1", "miro-u1", "team-1", tokens=source)
    return result, board_event(context, result)


async def test_finishing_an_operation_writes_board_created_with_it(
    world: World,
) -> None:
    op_id = await claim(world, "k1")
    result, event = created("b1")
    await world.operations.finish(op_id, "me", result, board_id="b1", event=event)
    [written] = await world.events()
    assert written["type"] == "board.created"
    assert written["data"] == {
        "app_user_id": "u1",
        "connection_id": "c1",
        "miro_user_id": "miro-u1",
        "miro_team_id": "team-1",
        "board": {
            "id": "b1",
            "name": "Plan",
            "view_link": "https://miro.com/app/board/b1/",
        },
    }
    # A finish that lost its lease changes nothing and writes nothing.
    op2 = await claim(world, "k2")
    result, event = created("b2")
    with pytest.raises(LeaseLostError):
        await world.operations.finish(op2, "not-me", result, board_id="b2", event=event)
    assert len(await world.events()) == 1


async def test_a_finish_whose_event_fails_is_rolled_back(world: World) -> None:
    op_id = await claim(world, "k1")
    result, event = created("b0")
    await world.operations.finish(op_id, "me", result, board_id="b0", event=event)
    taken = (await world.events())[0]["_id"]
    op2 = await claim(world, "k2")
    world.ids.ids.append(taken)  # the event's INSERT fails after the UPDATE
    result, event = created("b2")
    with pytest.raises(ActionError):  # the IntegrityError, as `finish` reports it
        await world.operations.finish(op2, "me", result, board_id="b2", event=event)
    async with world.db.session() as session:
        row = await session.get(OperationRow, op2)
    assert row is not None and row.state == "sent" and row.created_board_id is None
    assert len(await world.events()) == 1
    # The same finish, retried, goes through with its event.
    await world.operations.finish(op2, "me", result, board_id="b2", event=event)
    assert [e["data"]["board"]["id"] for e in await world.events()] == ["b0", "b2"]


async def test_without_an_outbox_nothing_is_written(world: World) -> None:
    cipher = TokenCipher(KeyRing.parse(KEY1))
    store = SQLStore(world.db, cipher)
    operations = OperationStore(world.db, clock=world.clock)
    assert not operations.records_events
    saved = await store.save_connection(
        app_user_id="u9",
        identity=IDENTITY,
        tokens=tokens(world.clock),
        now=world.clock(),
    )
    async with store.lock(saved.id) as locked:
        await locked.set_status(ConnectionStatus.REMOVED, "x", now=world.clock())
    op_id = await claim(world, "k9")
    result, event = created("b9")
    # An event handed to a store without an outbox is ignored, not written.
    await operations.finish(op_id, "me", result, board_id="b9", event=event)
    assert await world.events() == []
