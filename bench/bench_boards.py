"""Board creation through the service API versus direct calls to the emulator, same run.

On 127.0.0.1: a fresh PostgreSQL database (dropped at the end), `miroconnect emulator`
(uvicorn, auto-approve, a credit budget too large to matter so that neither side waits on
Miro's rate limit) and `miroconnect serve --workers 4` on that database.

- *service*: `POST /api/v1/users/{id}/boards` (201) for `CONCURRENCY` users connected first
  through the real flow, one user per task. Each call: API key check, an operation row
  (exactly-once), the connection's token read and decrypted, `POST /v2/boards` at the
  emulator through the Miro client (pacing, retry policy, models), the operation's result
  and a board row;
- *direct*: raw `httpx2` `POST /v2/boards` at the emulator with a fixed bearer token per
  task (tokens from the emulator's own code exchange), decoding the JSON: the floor, what
  the same request costs with nothing in between.

Both sides are driven by the same loop: `CONCURRENCY` tasks over one `httpx2.AsyncClient`,
each series time-bounded (`SECONDS`, and at most `MAX_CALLS` calls), alternating direct,
service, direct, service. Reported per side over both rounds: calls/s (calls / time of the
series), p50 and p99 latency, and the ratio service / direct.

Rerun: `.venv/bin/python -m bench bench_boards` (about 1 minute). Scale with
`MIROCONNECT_BENCH_BOARDS_CONCURRENCY` (default 16), `_SECONDS` (8), `_ROUNDS` (2);
`MIROCONNECT_BENCH_PG_URL` names another PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import os

import httpx2

from bench._stack import (
    DEFAULT_PG_SERVER,
    Series,
    connect_user,
    direct_token,
    env_int,
    pooled,
    service_against_emulator,
    timed_series,
)

__all__ = ["main", "run"]

WORKERS = 4


async def run(
    *, concurrency: int, seconds: float, rounds: int, server: str = DEFAULT_PG_SERVER
) -> list[Series]:
    """Set up, connect, alternate the series; stop everything and drop the database."""
    async with service_against_emulator(
        server, "mc_bench_boards", workers=WORKERS
    ) as running:
        emulator, service, api_key = running.emulator, running.service, running.api_key
        users = [f"boards-user-{lane:03d}" for lane in range(concurrency)]
        async with httpx2.AsyncClient(timeout=60) as browser:
            for user in users:
                await connect_user(browser, service, api_key, user, user)
        tokens = await asyncio.gather(
            *(direct_token(emulator, running.direct_app, f"direct-{u}") for u in users)
        )

        async def direct(client: httpx2.AsyncClient, lane: int, index: int) -> bool:
            answer = await client.post(
                f"{emulator}/v2/boards",
                json={"name": f"direct {index}"},
                headers={"authorization": f"Bearer {tokens[lane]}"},
            )
            answer.json()
            return answer.status_code == 201

        async def via_service(
            client: httpx2.AsyncClient, lane: int, index: int
        ) -> bool:
            answer = await client.post(
                f"{service}/api/v1/users/{users[lane]}/boards",
                json={"name": f"service {index}"},
                headers={"authorization": f"Bearer {api_key}"},
            )
            answer.json()
            return answer.status_code == 201

        results: list[Series] = []
        for number in range(rounds):
            for side, call in (("direct", direct), ("service", via_service)):
                series = await timed_series(side, concurrency, seconds, call)
                results.append(series)
                print(
                    f"round {number + 1} {side:7}: {series.timing('boards')}, "
                    f"failed {series.failed}",
                    flush=True,
                )
        return results


def main() -> None:
    """Run with the defaults (or the MIROCONNECT_BENCH_BOARDS_* variables)."""
    concurrency = env_int("BOARDS", "CONCURRENCY", 16)
    seconds = env_int("BOARDS", "SECONDS", 8)
    rounds = env_int("BOARDS", "ROUNDS", 2)
    print(
        f"boards: service (serve --workers {WORKERS}, PostgreSQL) vs direct to the "
        f"emulator, {concurrency} concurrent, {rounds} x {seconds} s per side; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = asyncio.run(run(concurrency=concurrency, seconds=seconds, rounds=rounds))
    direct = pooled(results, "direct")
    service = pooled(results, "service")
    print("| path | boards/s | p50 | p99 | failed |", flush=True)
    for label, (rate, p50, p99, failed) in (("direct", direct), ("service", service)):
        print(
            f"| {label} | {rate:.0f} | {p50:.1f} ms | {p99:.1f} ms | {failed} |",
            flush=True,
        )
    print(
        f"ratio service / direct: throughput {service[0] / direct[0]:.3f}, p50 "
        f"{service[1] / direct[1]:.1f}x, p99 {service[2] / direct[2]:.1f}x; "
        f"load average at the end {os.getloadavg()[0]:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
