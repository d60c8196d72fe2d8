"""What sharing the credit balance through the database costs per Miro call.

One `CreditPacer.acquire` + `settle` pair (what every metered call does around its HTTP
request) with a reading whose budget never runs out, so the numbers are pure bookkeeping:
`MemoryPacingStore` (the default) versus `SQLPacingStore` on a SQLite file and, when the local
PostgreSQL answers, on a fresh PostgreSQL database. Sequential calls give the latency added to
each call; 32 concurrent tasks on one key give the throughput one process reaches on one
Miro user (Miro itself allows at most 100,000 credits a minute, about 17 level-2 calls/s).

Rerun: `make bench` or `.venv/bin/python -m bench bench_pacing` (about 35 s).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

from miroconnect.client.pacing import CreditPacer, MemoryPacingStore, PacingStore
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.pacing import SQLPacingStore

__all__ = ["main"]

SEQUENTIAL = 1000
CONCURRENT_TASKS = 32
CONCURRENT_CALLS = 2000
PG_SERVER = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def _headers() -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(10**9),
        "x-ratelimit-remaining": str(10**9 - 100),
        "x-ratelimit-reset": str(time.time() + 3600),
    }


async def _call(pacer: CreditPacer, headers: dict[str, str]) -> None:
    ticket = await pacer.acquire("user-1", 100)
    await pacer.settle(ticket, headers, 200)


async def _measure(store: PacingStore) -> tuple[float, float]:
    """Microseconds per sequential call, and calls/s for 32 tasks."""
    pacer = CreditPacer(store=store)
    headers = _headers()
    for _ in range(20):  # the probe, connections, statement caches
        await _call(pacer, headers)
    started = time.perf_counter()
    for _ in range(SEQUENTIAL):
        await _call(pacer, headers)
    sequential = (time.perf_counter() - started) / SEQUENTIAL * 1e6
    queue = iter(range(CONCURRENT_CALLS))

    async def worker() -> None:
        for _ in queue:
            await _call(pacer, headers)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENT_TASKS)))
    return sequential, CONCURRENT_CALLS / (time.perf_counter() - started)


async def _postgres_database() -> str | None:
    try:
        import asyncpg
        from sqlalchemy.engine import make_url

        url = make_url(PG_SERVER)
        admin = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, database=url.database
        )
    except (OSError, ImportError, Exception):  # no PostgreSQL here: SQLite only
        return None
    name = f"mc_bench_pacing_{secrets.token_hex(4)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def _drop_postgres(database_url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(PG_SERVER)
    name = make_url(database_url).database
    admin = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _run(folder: Path) -> None:
    rows = [("memory (default)", *await _measure(MemoryPacingStore()))]
    targets = [("SQL, SQLite file", f"sqlite+aiosqlite:///{folder / 'pacing.db'}")]
    pg = await _postgres_database()
    if pg is not None:
        targets.append(("SQL, PostgreSQL", pg))
    try:
        for label, url in targets:
            await upgrade(url)
            db = Database(url)
            try:
                rows.append((label, *await _measure(SQLPacingStore(db))))
            finally:
                await db.dispose()
    finally:
        if pg is not None:
            await _drop_postgres(pg)
    print("| store | µs per call (sequential) | calls/s (32 tasks, one key) |")
    print("|---|---:|---:|")
    for label, micros, rate in rows:
        print(f"| {label} | {micros:,.0f} | {rate:,.0f} |")


def main() -> None:
    """Measure each store and print a Markdown table."""
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_run(Path(folder)))


if __name__ == "__main__":
    main()
