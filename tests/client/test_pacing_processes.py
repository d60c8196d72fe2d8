"""Several OS processes bursting for ONE Miro user share one credit budget through the
database: zero 429s. The control run, with each process pacing from its own memory, collects
429s, so the first test could fail.

The emulator runs under uvicorn on a free loopback port in a thread of the test process, with
2,500 credits per 1-second window (5 board creations); each of 4 processes is spawned
(`multiprocessing`, spawn) with its own event loop and `MiroClient`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from miroconnect.emulator import create_emulator, serve_in_thread
from miroconnect.storage.migrate import upgrade
from support import connect, emulator_app_client

from . import pacing_worker

PROCESSES = 4
BOARDS = 5  # per process: 20 creations, 4 windows' worth of credits


@pytest.fixture
def miro_server() -> Iterator[str]:
    app = create_emulator(
        auto_approve=True,
        clients=[emulator_app_client()],
        credits=2500,
        window_seconds=1,
    )
    with serve_in_thread(app) as base_url:
        yield base_url


async def _grant(api_url: str) -> tuple[str, str]:
    async with httpx2.AsyncClient() as http:
        grant = await connect(http, api_url)
    return grant.access_token, grant.user_id


async def _stats(api_url: str) -> dict[str, Any]:
    async with httpx2.AsyncClient() as http:
        stats: dict[str, Any] = (await http.get(f"{api_url}/_emulator/stats")).json()
    return stats


def _burst(database_url: str | None, api_url: str) -> tuple[list[Any], float]:
    """Run the processes; their outcomes and the burst's wall time."""
    token, user_id = asyncio.run(_grant(api_url))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES + 1)
    results: Any = context.Queue()
    workers = [
        context.Process(
            target=pacing_worker.run,
            args=(database_url, api_url, token, user_id, BOARDS, barrier, results),
        )
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(60)  # every process is ready: go
        started = time.monotonic()
        outcomes = [results.get(timeout=60) for _ in workers]
        elapsed = time.monotonic() - started
        for worker in workers:
            worker.join(10)
            assert worker.exitcode == 0
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
    return outcomes, elapsed


def test_processes_sharing_the_database_get_no_429(
    database_url: str, miro_server: str
) -> None:
    asyncio.run(upgrade(database_url))
    outcomes, elapsed = _burst(database_url, miro_server)
    stats = asyncio.run(_stats(miro_server))

    assert [errors for _, errors in outcomes] == [[]] * PROCESSES
    assert sum(created for created, _ in outcomes) == PROCESSES * BOARDS
    assert stats["boards"] == PROCESSES * BOARDS
    assert stats["rate_limited"] == 0
    # 20 creations at 5 a window: at least three resets had to pass (the first window
    # may already be partly over when the burst starts).
    assert elapsed >= 2.0
    print(f"\n{PROCESSES}x{BOARDS} creations, 0 429s, {elapsed:.2f}s")


def test_processes_pacing_from_their_own_memory_collect_429s(miro_server: str) -> None:
    """The control. Its margin does not depend on the machine's speed the way a timing
    test's would: each memory pacer spends what its own readings leave, so any two
    processes whose bursts meet in one 1-second window overdraw it, and only bursts spread
    over four different windows (3 s apart, after one barrier) could collect none. Measured
    under load (2 and 6 busy loops on 2 cores): 11-22 429s in 15 runs, bursts 2.4-3.4 s
    including the 429s' retries, every process at the barrier within 8 s of its start."""
    outcomes, _ = _burst(None, miro_server)
    stats = asyncio.run(_stats(miro_server))

    # Each process believes the whole budget is its own.
    assert stats["rate_limited"] > 0
    assert stats["boards"] == sum(created for created, _ in outcomes)
    print(f"\ncontrol: {stats['rate_limited']} 429s")
