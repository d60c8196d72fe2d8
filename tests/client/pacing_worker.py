"""One OS process of the shared-pacing test (started by `test_pacing_processes.py`).

`run` is the target of a `multiprocessing` spawn: its own event loop, `httpx2.AsyncClient`,
`MiroClient` and pacer (a `SQLPacingStore` on the shared database, or per-process memory for
the control run). It waits at the barrier so every process bursts at once, then creates
`boards` boards and puts (created, error names) on the queue.
"""

from __future__ import annotations

import asyncio
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import httpx2

from miroconnect.client import CreditPacer, MiroClient, RetryPolicy, StaticTokenSource
from miroconnect.storage.db import Database
from miroconnect.storage.pacing import SQLPacingStore

__all__ = ["run"]


async def _main(
    database_url: str | None,
    api_url: str,
    token: str,
    key: str,
    boards: int,
    barrier: Barrier,
) -> tuple[int, list[str]]:
    db = Database(database_url) if database_url is not None else None
    pacer = CreditPacer(store=SQLPacingStore(db)) if db is not None else CreditPacer()
    try:
        async with httpx2.AsyncClient(timeout=30.0) as http:
            miro = MiroClient(
                http,
                StaticTokenSource(token, key=key),
                base_url=api_url,
                pacer=pacer,
                retry=RetryPolicy(rate_limited_attempts=4),
            )
            await pacer.reading(key)  # open the database connection before the start
            barrier.wait(30)
            results = await asyncio.gather(
                *(miro.boards.create(name=f"burst {i}") for i in range(boards)),
                return_exceptions=True,
            )
    finally:
        if db is not None:
            await db.dispose()
    errors = [type(r).__name__ for r in results if isinstance(r, BaseException)]
    return len(results) - len(errors), errors


def run(
    database_url: str | None,
    api_url: str,
    token: str,
    key: str,
    boards: int,
    barrier: Barrier,
    results: Queue[Any],
) -> None:
    """Burst `boards` creations for `key` and report (created, errors) on `results`."""
    try:
        outcome = asyncio.run(_main(database_url, api_url, token, key, boards, barrier))
    except BaseException as error:  # report it rather than die silently
        results.put((0, [f"{type(error).__name__}: {error}"]))
        raise
    results.put(outcome)
