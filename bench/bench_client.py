"""MiroClient versus raw httpx2 and versus the official `miro_api`, against the emulator.

The emulator runs under uvicorn in a separate process on a free loopback port, with a credit
budget too large to matter. Measured side by side in one run:

- GET board, POST board and a page of 50 items, at concurrency 1 and 64: our client
  (pacing, auth flow, retries, typed models; the page through `items.list`, which parses
  each item) versus raw `httpx2` calls with a fixed bearer token that only decode JSON;
- the same calls at 64 in parallel: ours (64 tasks) versus `miro_api` in a 64-thread pool.

It also prints how many of the spec's 85 platform operations have a `MiroClient` method.

Rerun: `make bench` or `.venv/bin/python -m bench bench_client`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
from starlette.applications import Starlette

from miroconnect.client import CreditPacer, MiroClient, StaticTokenSource
from miroconnect.client.models import ItemCreate, StickyNoteData
from miroconnect.client.operations import operation_map
from miroconnect.emulator import EmulatorClient, create_emulator

__all__ = ["coverage", "emulator_app", "main"]

CLIENT_ID = "3074457000000000099"
CLIENT_SECRET = "bench-secret"
REDIRECT_URI = "http://bench.test/callback"
ROUNDS = 3  # each pair is measured this many times, alternating; the best run counts


def emulator_app() -> Starlette:
    """The emulator the benchmark serves (uvicorn `--factory` target)."""
    return create_emulator(
        auto_approve=True,
        credits=10**12,
        clients=[
            EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,), expiring=False)
        ],
    )


def coverage() -> tuple[int, int]:
    """(with a method, total): the spec's platform operations `MiroClient` makes."""
    from bench.bench_emulator import PLATFORM_TAGS, SPEC

    wanted = {
        operation["operationId"]
        for methods in json.loads(SPEC.read_text())["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict)
        and (operation.get("tags") or [""])[0] in PLATFORM_TAGS
    }
    client = MiroClient(httpx2.AsyncClient(), StaticTokenSource("unused"))
    return len(wanted & set(operation_map(client))), len(wanted)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(port: int) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bench_client:emulator_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


async def _wait_until_up(base: str) -> None:
    async with httpx2.AsyncClient() as http:
        for _ in range(200):
            try:
                await http.get(f"{base}/_emulator/stats")
                return
            except httpx2.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the emulator did not start")


async def _token(base: str) -> str:
    async with httpx2.AsyncClient() as http:
        authorize = await http.get(
            f"{base}/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
            },
        )
        code = httpx2.URL(authorize.headers["location"]).params["code"]
        answer = await http.post(
            f"{base}/v1/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        )
        token: str = answer.json()["access_token"]
        return token


async def _throughput(
    call: Callable[[int], Awaitable[object]], total: int, concurrency: int
) -> float:
    """Calls per second for `total` calls, `concurrency` at a time."""
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            await call(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start)


async def _ours_vs_raw(base: str, token: str) -> list[tuple[str, int, float, float]]:
    rows: list[tuple[str, int, float, float]] = []
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx2.AsyncClient(limits=limits) as http:
        ours = MiroClient(
            http,
            StaticTokenSource(token, key="bench"),
            base_url=base,
            pacer=CreditPacer(),
        )
        auth = {"Authorization": f"Bearer {token}"}
        board_id = (await ours.boards.create(name="bench target")).id

        async def raw_get(i: int) -> object:
            response = await http.get(f"{base}/v2/boards/{board_id}", headers=auth)
            response.raise_for_status()
            return response.json()

        async def raw_post(i: int) -> object:
            response = await http.post(
                f"{base}/v2/boards", headers=auth, json={"name": f"raw {i}"}
            )
            response.raise_for_status()
            return response.json()

        async def our_get(i: int) -> object:
            return await ours.boards.get(board_id)

        async def our_post(i: int) -> object:
            return await ours.boards.create(name=f"ours {i}")

        # A board of 50 sticky notes, made in bulk (20 at a time).
        for start in range(0, 50, 20):
            notes = [
                ItemCreate(type="sticky_note", data=StickyNoteData(content=f"n{i}"))
                for i in range(start, min(start + 20, 50))
            ]
            await ours.items.create_bulk(board_id, notes)

        async def raw_items(i: int) -> object:
            response = await http.get(
                f"{base}/v2/boards/{board_id}/items",
                params={"limit": 50},
                headers=auth,
            )
            response.raise_for_status()
            return response.json()

        async def our_items(i: int) -> object:
            return [item async for item in ours.items.list(board_id, page_size=50)]

        pairs = [
            ("GET board", raw_get, our_get),
            ("POST board", raw_post, our_post),
            ("GET 50 items", raw_items, our_items),
        ]
        for name, raw, mine in pairs:
            for concurrency, total in ((1, 300), (64, 2000)):
                await _throughput(raw, 50, concurrency)  # warm the connections
                raw_best = ours_best = 0.0
                for round_ in range(ROUNDS):
                    # Alternate who goes first: the machine's load drifts during a run.
                    first, second = (raw, mine) if round_ % 2 == 0 else (mine, raw)
                    a = await _throughput(first, total, concurrency)
                    b = await _throughput(second, total, concurrency)
                    raw_rate, our_rate = (a, b) if round_ % 2 == 0 else (b, a)
                    raw_best = max(raw_best, raw_rate)
                    ours_best = max(ours_best, our_rate)
                rows.append((name, concurrency, raw_best, ours_best))
    return rows


def _official(base: str, token: str) -> Any:
    from miro_api import MiroApi
    from miro_api.configuration import Configuration
    from miro_api.rest import RESTClientObject

    api = MiroApi(token)
    configuration = Configuration(host=base)
    configuration.connection_pool_maxsize = 64
    api.api_client.configuration = configuration
    api.api_client.rest_client = RESTClientObject(configuration)
    return api


def _official_throughput(
    base: str, token: str, total: int, call: Callable[[Any, int], object]
) -> float:
    api = _official(base, token)
    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(lambda i: call(api, i), range(64)))  # warm up
        start = time.perf_counter()
        list(pool.map(lambda i: call(api, i), range(total)))
        return total / (time.perf_counter() - start)


async def _ours_vs_official(
    base: str, token: str
) -> list[tuple[str, float, float, float]]:
    from miro_api.models.board_changes import BoardChanges

    async with httpx2.AsyncClient() as http:
        ours = MiroClient(
            http,
            StaticTokenSource(token, key="bench"),
            base_url=base,
            pacer=CreditPacer(),
        )
        board_id = (await ours.boards.create(name="bench target 2")).id

        async def our_get(i: int) -> object:
            return await ours.boards.get(board_id)

        async def our_post(i: int) -> object:
            return await ours.boards.create(name=f"ours {i}")

        auth = {"Authorization": f"Bearer {token}"}

        async def raw_get(i: int) -> object:
            response = await http.get(f"{base}/v2/boards/{board_id}", headers=auth)
            response.raise_for_status()
            return response.json()

        async def raw_post(i: int) -> object:
            response = await http.post(
                f"{base}/v2/boards", headers=auth, json={"name": f"raw {i}"}
            )
            response.raise_for_status()
            return response.json()

        total = 1500
        rows = []
        for name, mine, raw, theirs in (
            (
                "GET board",
                our_get,
                raw_get,
                lambda api, i: api.get_specific_board(board_id),
            ),
            (
                "POST board",
                our_post,
                raw_post,
                lambda api, i: api.create_board(BoardChanges(name=f"official {i}")),
            ),
        ):
            official_best = ours_best = raw_best = 0.0
            for round_ in range(ROUNDS):
                # Alternate the order: the emulator holds more boards as the run goes on.
                order = ["official", "ours", "raw"]
                for who in order if round_ % 2 == 0 else order[::-1]:
                    if who == "official":
                        rate = await asyncio.to_thread(
                            _official_throughput, base, token, total, theirs
                        )
                        official_best = max(official_best, rate)
                    elif who == "ours":
                        ours_best = max(ours_best, await _throughput(mine, total, 64))
                    else:
                        raw_best = max(raw_best, await _throughput(raw, total, 64))
            rows.append((name, official_best, ours_best, raw_best))
    return rows


async def _run(base: str) -> None:
    covered, total = coverage()
    print(f"platform operations with a MiroClient method: {covered}/{total}")
    await _wait_until_up(base)
    token = await _token(base)
    raw_rows = await _ours_vs_raw(base, token)
    official_rows = await _ours_vs_official(base, token)
    print(
        "\n| call | concurrency | raw httpx2 (calls/s) | MiroClient (calls/s) | ratio |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, concurrency, raw, mine in raw_rows:
        print(f"| {name} | {concurrency} | {raw:.0f} | {mine:.0f} | {mine / raw:.2f} |")
    print(
        "\n| call (64 in parallel) | miro_api, 64 threads | MiroClient, 64 tasks "
        "| raw httpx2, 64 tasks | ours / miro_api |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, official, mine, raw in official_rows:
        print(
            f"| {name} | {official:.0f} | {mine:.0f} | {raw:.0f} "
            f"| {mine / official:.2f} |"
        )


def main() -> None:
    """Start the emulator, measure, print Markdown tables, stop the emulator."""
    port = _free_port()
    server = _start_server(port)
    try:
        asyncio.run(_run(f"http://127.0.0.1:{port}"))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
