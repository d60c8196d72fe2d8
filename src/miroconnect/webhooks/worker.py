"""`WebhookWorker`: delivers the outbox's events, at least once, from every `serve` process.

Each process runs one worker (started in the app's lifespan when
`MIROCONNECT_WEBHOOK_URL` is set). A worker claims a batch of due events (one statement,
`FOR UPDATE SKIP LOCKED` on PostgreSQL: two workers never claim the same event), sends them
concurrently, and records each outcome. A claim is a lease (`LEASE`): a worker that dies
mid-send leaves its events to be claimed again when the lease ends, so an event may arrive
twice (receivers deduplicate on `webhook-id`) but is never lost. Events may arrive out of
order.

A failed attempt is retried after waits that double from 5 seconds to an hour, then
hourly (`RETRY`), each shortened or lengthened by up to 20 % at random so that receivers
coming back from an outage are not hit by every event at once: 33 retries, about 24 hours
after the first attempt. After the last one the event is `dead`;
`miroconnect webhooks retry ID` sends it again.

Idle, a worker looks for due events every 50 ms at first, then less often up to once a
second (`IDLE`); an event written by its own process wakes it at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from miroconnect.logs import log_event
from miroconnect.storage.outbox import OutboxEvent, WebhookQueue
from miroconnect.types import Backoff, Clock, system_clock
from miroconnect.webhooks.sender import WebhookSender

__all__ = ["IDLE", "LEASE", "RETRY", "WebhookWorker", "next_attempt"]

logger = logging.getLogger(__name__)

# Waits after failed attempts: 5 s, 10 s, ... 2560 s, then 1 h; 33 of them, about 24 h.
RETRY = Backoff(attempts=33, first=5.0, maximum=3600.0)
JITTER = 0.2  # each wait is its nominal length +/- up to 20 %
# How long a claim holds its events: well over one attempt (`SEND_TIMEOUT`).
LEASE = timedelta(seconds=60)
# Looking for due events while there are none.
IDLE = Backoff(attempts=6, first=0.05, maximum=1.0)
BATCH = 50  # events claimed at once
CONCURRENCY = 16  # attempts in flight at once, per process
STOP_GRACE = 5.0  # seconds `stop` lets attempts in flight finish


def next_attempt(
    attempts: int,
    now: datetime,
    schedule: Backoff = RETRY,
    jitter: Callable[[], float] = random.random,
) -> datetime | None:
    """When to try again after `attempts` failed attempts (`None`: give up, dead): the
    schedule's wait, spread by `JITTER` with `jitter()` (a number in [0, 1))."""
    if attempts > schedule.attempts:
        return None
    spread = 1.0 + JITTER * (2.0 * jitter() - 1.0)
    return now + timedelta(seconds=schedule.delay(attempts - 1) * spread)


class WebhookWorker:
    """Claims, sends and records webhook events (see the module doc).

    ```python
    worker = WebhookWorker(WebhookQueue(db), sender)
    worker.start()  # in the app's lifespan
    ...
    await worker.stop()
    ```

    `deliver_due()` is one round (tests call it with a `clock` they move); `retry`,
    `jitter` (see `next_attempt`) and `lease` shape the schedule.
    """

    def __init__(
        self,
        queue: WebhookQueue,
        sender: WebhookSender,
        *,
        clock: Clock = system_clock,
        retry: Backoff = RETRY,
        jitter: Callable[[], float] = random.random,
        lease: timedelta = LEASE,
        idle: Backoff = IDLE,
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._queue = queue
        self._sender = sender
        self._clock = clock
        self._retry = retry
        self._jitter = jitter
        self._lease = lease
        self._idle = idle
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Look for due events now (an event was just written in this process)."""
        self._wake.set()

    async def deliver_due(self) -> int:
        """Claim up to one batch of due events, send them, record each outcome.
        Returns how many were claimed."""
        now = self._clock()
        events = await self._queue.claim(
            now=now, lease_until=now + self._lease, limit=self._batch
        )
        outcomes = await asyncio.gather(
            *(self._deliver(event) for event in events), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                # Recording failed (the database went away): the lease runs out and the
                # event goes again.
                log_event(
                    logger,
                    "webhook.record_failed",
                    level=logging.WARNING,
                    error_type=type(outcome).__name__,
                )
        return len(events)

    async def _deliver(self, event: OutboxEvent) -> None:
        async with self._slots:
            attempt = await self._sender.send(event.id, event.payload)
        now = self._clock()
        fields: dict[str, Any] = {
            "event_id": event.id,
            "type": event.type,
            "attempt": event.attempts,
        }
        if attempt.delivered:
            await self._queue.delivered(event, now=now)
            log_event(logger, "webhook.delivered", **fields)
            return
        retry_at = next_attempt(event.attempts, now, self._retry, self._jitter)
        await self._queue.failed(event, attempt.detail, retry_at=retry_at, now=now)
        log_event(
            logger,
            "webhook.failed" if retry_at is not None else "webhook.dead",
            level=logging.WARNING,
            error=attempt.detail,
            retry_at=retry_at.isoformat() if retry_at else None,
            **fields,
        )

    def start(self) -> None:
        """Run the worker in the background of the running event loop."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="miroconnect-webhooks")

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop looking; attempts in flight get `grace` seconds to finish and record,
        then are cancelled (their events go again when their lease ends)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(task, grace)
        except TimeoutError:
            pass  # `wait_for` cancelled it

    async def _run(self) -> None:
        idle = 0
        while not self._stopping:
            self._wake.clear()  # a wake from now on is seen by the wait below
            try:
                found = await self.deliver_due()
            except Exception as exc:  # the database away: keep going, slowly
                log_event(
                    logger,
                    "webhook.claim_failed",
                    level=logging.WARNING,
                    error_type=type(exc).__name__,
                )
                found = 0
            if found >= self._batch:
                idle = 0
                continue  # a full batch: more may be due
            try:
                await asyncio.wait_for(self._wake.wait(), self._idle.delay(idle))
                idle = 0
            except TimeoutError:
                idle = min(idle + 1, self._idle.attempts)
