"""The proxy to Miro (`/api/v1/users/{id}/miro/...`) versus direct calls to the emulator,
same run.

On 127.0.0.1: a fresh PostgreSQL database (dropped at the end), `miroconnect emulator`
(uvicorn, auto-approve, a credit budget too large to matter so that neither side waits on
Miro's rate limit) and `miroconnect serve --workers 4` on that database; `CONCURRENCY`
users connected first through the real flow, one user per task.

Two operations, each side driven by the same loop (`bench._stack.timed_series`):

- `GET /v2/boards/{id}` (Level 1): *direct*, raw `httpx2` at the emulator with a bearer
  token per task; *proxy*, `GET .../miro/v2/boards/{id}` (API key check, the user's
  connection read, the token read and decrypted, credits booked in the database, the
  call, the answer passed back);
- `POST /v2/boards` (Level 3): *direct*; *proxy*, the same without a key (sent once);
  *proxy+key*, with a new `Idempotency-Key` per call (the operation row claimed and
  finished around the call, the answer stored for repeats).

Each series is time-bounded (`SECONDS`); the sides alternate, `ROUNDS` times. Reported per
side over every round: calls/s, p50, p99, failures, and the ratios proxy / direct.

Rerun: `MIROCONNECT_BENCH_PROXY_SECONDS=5 .venv/bin/python -m bench bench_proxy` (about 1.5
minutes). Scale with `MIROCONNECT_BENCH_PROXY_CONCURRENCY` (default 16), `_SECONDS` (8),
`_ROUNDS` (2); `MIROCONNECT_BENCH_PG_URL` names another PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable

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

Call = Callable[[httpx2.AsyncClient, int, int], Awaitable[bool]]


def _sides(
    emulator: str,
    service: str,
    api_key: str,
    users: list[str],
    tokens: list[str],
    boards: dict[str, list[str]],
) -> dict[str, list[tuple[str, Call]]]:
    """The calls of each operation, by side."""
    run_id = secrets.token_hex(4)

    def direct_get(
        client: httpx2.AsyncClient, lane: int, index: int
    ) -> Awaitable[bool]:
        return _ok(
            client.get(
                f"{emulator}/v2/boards/{boards['direct'][lane]}",
                headers={"authorization": f"Bearer {tokens[lane]}"},
            ),
            200,
        )

    def proxy_get(client: httpx2.AsyncClient, lane: int, index: int) -> Awaitable[bool]:
        return _ok(
            client.get(
                f"{service}/api/v1/users/{users[lane]}/miro/v2/boards/"
                f"{boards['proxy'][lane]}",
                headers={"authorization": f"Bearer {api_key}"},
            ),
            200,
        )

    def direct_post(
        client: httpx2.AsyncClient, lane: int, index: int
    ) -> Awaitable[bool]:
        return _ok(
            client.post(
                f"{emulator}/v2/boards",
                json={"name": f"direct {index}"},
                headers={"authorization": f"Bearer {tokens[lane]}"},
            ),
            201,
        )

    def proxy_post(keyed: bool) -> Call:
        def call(client: httpx2.AsyncClient, lane: int, index: int) -> Awaitable[bool]:
            headers = {"authorization": f"Bearer {api_key}"}
            if keyed:
                headers["idempotency-key"] = f"{run_id}-{lane}-{index}"
            return _ok(
                client.post(
                    f"{service}/api/v1/users/{users[lane]}/miro/v2/boards",
                    json={"name": f"proxy {index}"},
                    headers=headers,
                ),
                201,
            )

        return call

    return {
        "GET /v2/boards/{id}": [("direct", direct_get), ("proxy", proxy_get)],
        "POST /v2/boards": [
            ("direct", direct_post),
            ("proxy", proxy_post(keyed=False)),
            ("proxy+key", proxy_post(keyed=True)),
        ],
    }


async def _ok(request: Awaitable[httpx2.Response], status: int) -> bool:
    answer = await request
    answer.json()  # both sides decode the answer
    return answer.status_code == status


async def _direct_boards(emulator: str, tokens: list[str]) -> list[str]:
    """One board per direct user, to read back."""
    async with httpx2.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{emulator}/v2/boards",
                    json={"name": "read me"},
                    headers={"authorization": f"Bearer {token}"},
                )
                for token in tokens
            )
        )
    return [str(answer.json()["id"]) for answer in answers]


async def run(
    *, concurrency: int, seconds: float, rounds: int, server: str = DEFAULT_PG_SERVER
) -> dict[str, list[Series]]:
    """Set up, connect, alternate the series; stop everything and drop the database."""
    async with service_against_emulator(
        server, "mc_bench_proxy", workers=WORKERS
    ) as running:
        emulator, service, api_key = running.emulator, running.service, running.api_key
        users = [f"proxy-user-{lane:03d}" for lane in range(concurrency)]
        proxy_boards = []
        async with httpx2.AsyncClient(timeout=60) as browser:
            for user in users:
                proxy_boards.append(
                    await connect_user(browser, service, api_key, user, user)
                )
        tokens = list(
            await asyncio.gather(
                *(
                    direct_token(emulator, running.direct_app, f"direct-{u}")
                    for u in users
                )
            )
        )
        boards = {
            "proxy": proxy_boards,
            "direct": await _direct_boards(emulator, tokens),
        }
        sides = _sides(emulator, service, api_key, users, tokens, boards)
        results: dict[str, list[Series]] = {operation: [] for operation in sides}
        for number in range(rounds):
            for operation, calls in sides.items():
                for side, call in calls:
                    series = await timed_series(side, concurrency, seconds, call)
                    results[operation].append(series)
                    print(
                        f"round {number + 1} {operation} {side:9}: "
                        f"{series.timing('calls')}, failed {series.failed}",
                        flush=True,
                    )
        return results


def main() -> None:
    """Run with the defaults (or the MIROCONNECT_BENCH_PROXY_* variables)."""
    concurrency = env_int("PROXY", "CONCURRENCY", 16)
    seconds = env_int("PROXY", "SECONDS", 8)
    rounds = env_int("PROXY", "ROUNDS", 2)
    print(
        f"proxy: serve --workers {WORKERS} (PostgreSQL) vs direct to the emulator, "
        f"{concurrency} concurrent, {rounds} x {seconds} s per side; load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = asyncio.run(run(concurrency=concurrency, seconds=seconds, rounds=rounds))
    print("| operation | path | calls/s | p50 | p99 | failed |", flush=True)
    for operation, series in results.items():
        sides = dict.fromkeys(s.side for s in series)
        figures = {side: pooled(series, side) for side in sides}
        for side, (rate, p50, p99, failed) in figures.items():
            print(
                f"| {operation} | {side} | {rate:.0f} | {p50:.1f} ms | {p99:.1f} ms "
                f"| {failed} |",
                flush=True,
            )
        direct = figures["direct"]
        for side, (rate, p50, p99, _) in figures.items():
            if side != "direct":
                print(
                    f"ratio {operation} {side} / direct: throughput "
                    f"{rate / direct[0]:.3f}, p50 {p50 / direct[1]:.1f}x, p99 "
                    f"{p99 / direct[2]:.1f}x",
                    flush=True,
                )
    print(f"load average at the end {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
