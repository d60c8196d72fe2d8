"""Webhook delivery: throughput and lag with `miroconnect serve --workers 4` on PostgreSQL.

On 127.0.0.1: a fresh PostgreSQL database (dropped at the end), `miroconnect emulator`
(auto-approve, credits too many to matter), a webhook receiver (`bench/_webhook_receiver.py`,
uvicorn, one process: it verifies every signature with `standardwebhooks`) and
`miroconnect serve --workers 4` with `MIROCONNECT_WEBHOOK_URL` pointing at it: four
processes, each with its delivery worker, claiming from one outbox.

1. *Under load*: `CONCURRENCY` tasks create boards through the service API for `SECONDS`
   (users connected first through the real flow). Each board's finish writes its
   `board.created` event in the same statement; the workers deliver it. Reported: boards/s,
   events delivered/s over the same time, the lag of each event (written -> verified by the
   receiver) p50 and p99, and how long after the last board the last event arrived.
2. *Backlog*: `BACKLOG` events written at once into the outbox (as after a receiver
   outage), then drained by the four workers: events/s.

Rerun: `.venv/bin/python -m bench bench_webhooks` (about a minute). Scale with
`MIROCONNECT_BENCH_WEBHOOKS_CONCURRENCY` (default 16), `_SECONDS` (10), `_BACKLOG` (5000);
`MIROCONNECT_BENCH_PG_URL` names another PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from bench._stack import (
    DEFAULT_PG_SERVER,
    Children,
    children,
    connect_user,
    create_database,
    drop_database,
    env_int,
    free_port,
    percentile_ms,
    start_serve_stack,
    timed_series,
    wait_ready,
)
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.outbox import NewEvent, Outbox
from miroconnect.types import system_clock
from miroconnect.webhooks.sender import new_webhook_secret

__all__ = ["main", "run"]

WORKERS = 4


@dataclass(frozen=True)
class Report:
    boards: int
    seconds: float
    delivered: int
    delivery_seconds: float
    lags: list[float]
    drain_after: float
    duplicates: int
    backlog: int
    backlog_seconds: float


def _start_receiver(group: Children, port: int, secret: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIROCONNECT_")}
    env["RECEIVER_SECRET"] = secret
    group.start(
        "receiver",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench._webhook_receiver:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env,
    )
    return f"http://127.0.0.1:{port}"


async def _stats(receiver: str) -> dict[str, Any]:
    async with httpx2.AsyncClient(timeout=10) as client:
        answer: dict[str, Any] = (await client.get(f"{receiver}/stats")).json()
        return answer


async def _until_received(
    receiver: str, events: int, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stats = await _stats(receiver)
        if stats["events"] >= events:
            return stats
        if time.monotonic() > deadline:
            raise RuntimeError(f"{stats['events']} of {events} events arrived")
        await asyncio.sleep(0.05)


async def _write_backlog(database_url: str, count: int) -> float:
    """`count` events in one transaction; the time of the commit."""
    db = Database(database_url)
    try:
        outbox = Outbox(db)
        async with db.write_session() as session, session.begin():
            for number in range(count):
                event = NewEvent("board.created", {"backlog": number})
                await outbox.add(session, event, now=system_clock())
        return time.time()
    finally:
        await db.dispose()


async def run(
    *, concurrency: int, seconds: float, backlog: int, server: str = DEFAULT_PG_SERVER
) -> Report:
    """Set up, connect, the load phase, the backlog; stop everything, drop the database."""
    name, database_url = await create_database(server, "mc_bench_webhooks")
    try:
        await upgrade(database_url)
        with tempfile.TemporaryDirectory() as folder, children(Path(folder)) as group:
            secret = new_webhook_secret()
            receiver = _start_receiver(group, free_port(), secret)
            await wait_ready(
                f"{receiver}/stats", group.running[-1][1], group.log("receiver")
            )
            stack = await start_serve_stack(
                group,
                database_url,
                workers=WORKERS,
                env={
                    "MIROCONNECT_WEBHOOK_URL": f"{receiver}/hooks",
                    "MIROCONNECT_WEBHOOK_SECRET": secret,
                },
            )
            service, api_key = stack.service, stack.keys.api_key

            users = [f"hooks-user-{lane:03d}" for lane in range(concurrency)]
            async with httpx2.AsyncClient(timeout=60) as browser:
                for user in users:
                    await connect_user(browser, service, api_key, user, user)
            before = 2 * len(users)  # connection.created and the first board, each
            await _until_received(receiver, before)
            async with httpx2.AsyncClient(timeout=10) as client:
                await client.post(f"{receiver}/reset")

            async def board(client: httpx2.AsyncClient, lane: int, index: int) -> bool:
                answer = await client.post(
                    f"{service}/api/v1/users/{users[lane]}/boards",
                    json={"name": f"hooked {index}"},
                    headers={"authorization": f"Bearer {api_key}"},
                )
                return answer.status_code == 201

            started = time.time()
            series = await timed_series("service", concurrency, seconds, board)
            ended = time.time()
            made = series.count + concurrency  # and one untimed call per task
            loaded = await _until_received(receiver, before + made)

            committed = await _write_backlog(database_url, backlog)
            final = await _until_received(receiver, before + made + backlog)
            return Report(
                boards=series.count,
                seconds=series.seconds,
                delivered=made,
                delivery_seconds=loaded["last"] - started,
                lags=loaded["lags"],
                drain_after=max(0.0, loaded["last"] - ended),
                duplicates=final["deliveries"] - final["events"],
                backlog=backlog,
                backlog_seconds=final["last"] - committed,
            )
    finally:
        await drop_database(server, name)


def main() -> None:
    """Run with the defaults (or the MIROCONNECT_BENCH_WEBHOOKS_* variables)."""
    concurrency = env_int("WEBHOOKS", "CONCURRENCY", 16)
    seconds = env_int("WEBHOOKS", "SECONDS", 10)
    backlog = env_int("WEBHOOKS", "BACKLOG", 5000)
    print(
        f"webhooks: serve --workers {WORKERS} on PostgreSQL, {concurrency} concurrent "
        f"board requests for {seconds} s, then a backlog of {backlog}; load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    r = asyncio.run(run(concurrency=concurrency, seconds=seconds, backlog=backlog))
    print("| phase | events | rate | lag p50 | lag p99 | last event after |")
    print(
        f"| under load ({r.boards / r.seconds:.0f} boards/s) | {r.delivered} | "
        f"{r.delivered / r.delivery_seconds:.0f} events/s | "
        f"{percentile_ms(r.lags, 0.5):.0f} ms | {percentile_ms(r.lags, 0.99):.0f} ms | "
        f"{r.drain_after * 1000:.0f} ms after the last board |"
    )
    print(
        f"| backlog | {r.backlog} | {r.backlog / r.backlog_seconds:.0f} events/s | - | "
        f"- | {r.backlog_seconds:.1f} s after the commit |"
    )
    print(
        f"duplicates {r.duplicates}; load average at the end {os.getloadavg()[0]:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
