"""The delivery worker on a real database (SQLite and PostgreSQL, `db` marker): the retry
schedule and dead-lettering on an injected clock (no real waits), leases, manual retry, and
two workers on two `Database`s that never send one event at the same time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx2
import pytest

from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.outbox import NewEvent, Outbox, OutboxEvent, WebhookQueue
from miroconnect.types import Backoff, system_clock
from miroconnect.webhooks.sender import WebhookSender
from miroconnect.webhooks.worker import RETRY, WebhookWorker, next_attempt
from support import FakeClock

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
URL = "https://hooks.app.example/miro"


class Receiver:
    """Answers `status`; counts each event id it got, and the most copies of one id it
    held at the same moment (it takes a little while over each)."""

    def __init__(self, status: int = 204, pause: float = 0.0) -> None:
        self.status = status
        self.pause = pause
        self.received: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.most_at_once = 0

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        event_id = request.headers["webhook-id"]
        self.in_flight[event_id] += 1
        self.most_at_once = max(self.most_at_once, self.in_flight[event_id])
        try:
            await asyncio.sleep(self.pause)
        finally:
            self.in_flight[event_id] -= 1
        self.received[event_id] += 1
        return httpx2.Response(self.status)


@dataclass
class World:
    db: Database
    clock: FakeClock
    outbox: Outbox
    queue: WebhookQueue

    async def write(self, count: int = 1) -> None:
        async with self.db.write_session() as session, session.begin():
            for number in range(count):
                event = NewEvent("board.created", {"n": number})
                await self.outbox.add(session, event, now=self.clock())

    async def only(self) -> OutboxEvent:
        [event], _ = await self.queue.list_events()
        return event


def worker(
    world: World, receiver: Receiver, db: Database | None = None, **options: object
) -> WebhookWorker:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(receiver))
    queue = WebhookQueue(db) if db is not None else world.queue
    return WebhookWorker(
        queue,
        WebhookSender(URL, SECRET, http),
        clock=world.clock,
        jitter=lambda: 0.5,  # no spread: the nominal schedule
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    await upgrade(database_url)
    db = Database(database_url)
    try:
        yield World(db, FakeClock(), Outbox(db), WebhookQueue(db))
    finally:
        await db.dispose()


async def test_failures_back_off_for_a_day_then_the_event_is_dead(
    world: World,
) -> None:
    await world.write()
    receiver = Receiver(status=503)
    sending = worker(world, receiver)
    start = world.clock()
    waits = []
    for attempt in range(1, RETRY.attempts + 2):
        assert await sending.deliver_due() == 1
        event = await world.only()
        assert event.attempts == attempt and event.last_error == "HTTP 503"
        if event.status == "dead":
            break
        assert event.status == "pending"
        wait = event.next_attempt_at - world.clock()
        waits.append(wait.total_seconds())
        world.clock.advance(seconds=wait.total_seconds() - 1)
        assert await sending.deliver_due() == 0  # not due a second early
        world.clock.advance(1)
    assert event.status == "dead" and event.attempts == RETRY.attempts + 1
    assert waits[:4] == [5.0, 10.0, 20.0, 40.0]
    assert waits[-1] == 3600.0 and max(waits) == 3600.0
    assert timedelta(days=1) <= world.clock() - start <= timedelta(days=1, hours=1)
    world.clock.advance(hours=24 * 30)
    assert await sending.deliver_due() == 0  # dead stays dead
    assert sum(receiver.received.values()) == RETRY.attempts + 1

    # `miroconnect webhooks retry ID`: again now, with a new schedule.
    assert await world.queue.retry(event.id, now=world.clock()) == "queued"
    receiver.status = 200
    assert await sending.deliver_due() == 1
    delivered = await world.only()
    assert delivered.status == "delivered" and delivered.attempts == 1
    assert delivered.delivered_at == world.clock()
    assert await world.queue.retry(event.id, now=world.clock()) == "delivered"
    assert await world.queue.retry("msg_unknown", now=world.clock()) == "unknown"


def test_jitter_spreads_each_wait_by_a_fifth() -> None:
    now = system_clock()
    for value, factor in ((0.0, 0.8), (0.5, 1.0), (0.999999, 1.2)):
        at = next_attempt(3, now, RETRY, lambda value=value: value)  # type: ignore[misc]
        assert at is not None
        assert (at - now).total_seconds() == pytest.approx(20.0 * factor, rel=1e-4)
    assert next_attempt(RETRY.attempts, now) is not None
    assert next_attempt(RETRY.attempts + 1, now) is None


async def test_a_claim_is_a_lease(world: World) -> None:
    await world.write()
    now = world.clock()
    lease = now + timedelta(seconds=60)
    [claimed] = await world.queue.claim(now=now, lease_until=lease, limit=10)
    # A worker that died mid-send: nobody else takes the event until the lease ends.
    assert await world.queue.claim(now=now, lease_until=lease, limit=10) == []
    assert await world.queue.retry(claimed.id, now=now) == "sending"
    later = lease + timedelta(seconds=1)
    [again] = await world.queue.claim(now=later, lease_until=later, limit=10)
    assert again.id == claimed.id and again.attempts == 2
    # The first claim's late outcome no longer counts; the second one's does.
    assert not await world.queue.delivered(claimed, now=later)
    assert await world.queue.delivered(again, now=later)
    assert (await world.only()).status == "delivered"


async def test_two_workers_on_two_databases_never_send_one_event_twice(
    world: World, database_url: str
) -> None:
    total = 120
    await world.write(total)
    receiver = Receiver(pause=0.002)
    other = Database(database_url)
    try:
        workers = [
            worker(world, receiver, batch=10),
            worker(world, receiver, db=other, batch=10),
        ]
        claimed = [0, 0]
        while sum(receiver.received.values()) < total:
            found = await asyncio.gather(*(w.deliver_due() for w in workers))
            claimed = [c + f for c, f in zip(claimed, found, strict=True)]
            assert any(found), "nothing due, yet not everything was received"
    finally:
        await other.dispose()
    assert len(receiver.received) == total
    assert set(receiver.received.values()) == {1}  # each once: no duplicate
    assert receiver.most_at_once == 1
    assert all(claimed), claimed  # both workers delivered some
    _, counts = await world.queue.list_events()
    assert counts == {"delivered": total}


async def test_the_worker_runs_in_the_background_and_stops_cleanly(
    world: World,
) -> None:
    receiver = Receiver()
    background = worker(
        world, receiver, idle=Backoff(attempts=3, first=0.01, maximum=0.05)
    )
    world.outbox.subscribe(background.wake)
    background.start()
    try:
        await world.write(3)  # written in this process: the outbox wakes the worker
        for _ in range(200):
            if len(receiver.received) == 3:
                break
            await asyncio.sleep(0.01)
        assert len(receiver.received) == 3
    finally:
        await asyncio.wait_for(background.stop(), 2)
    await background.stop()  # twice is fine
    assert not [
        t for t in asyncio.all_tasks() if t.get_name() == "miroconnect-webhooks"
    ]
