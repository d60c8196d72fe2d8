"""The hot path's own CPU, in one process: the service app against the floor app, Miro canned.

`bench_hotpath` measures whole servers over loopback, where the HTTP server, the sockets and
the other processes on a 2-core machine move a ratio by ±0.3 between runs. This one leaves
all of that out, to compare two versions of our own code: each app's ASGI callable is
called directly (no server, no socket) for `POST /api/v1/users/{id}/boards`, and Miro's
`POST /v2/boards` is answered in memory (`Canned`: a full board, rate-limit headers with a
budget too large to matter). CPU per board is `time.process_time()` over the series.

- *floor*: `bench/_floor_app.py` on a client with the same canned transport;
- *sqlite*, *postgres*: `create_app` on a fresh database (PostgreSQL: a new database on
  the server of `MIROCONNECT_BENCH_PG_URL`, dropped at the end), the user
  connected through the store (`SQLStore.save_connection`) so that no OAuth round trip is
  needed, logs written as `serve` writes them (JSON lines, here to `/dev/null`).

Each side warms up (`WARM` boards), then makes `BOARDS` boards one after another; the sides
alternate for `ROUNDS` rounds and the best round of each counts (the least disturbed).

Rerun: `.venv/bin/python -m bench bench_inprocess` (about 40 s). Scale with
`MIROCONNECT_BENCH_INPROCESS_BOARDS` (3000), `_ROUNDS` (3); `_SIDES` (say `postgres`, for a
profile: `py-spy record --format raw -o out.txt -- .venv/bin/python -m bench bench_inprocess`)
runs only those sides, and the floor, which every ratio needs.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2

from bench._stack import (
    DEFAULT_PG_SERVER,
    ServiceKeys,
    create_database,
    drop_database,
    env_int,
)
from miroconnect.config import Settings
from miroconnect.logs import configure_logging
from miroconnect.oauth.tokens import MiroIdentity, TokenSet
from miroconnect.storage.migrate import upgrade
from miroconnect.web.app import create_app

__all__ = ["main", "opened_sides", "run"]

SIDES = ("floor", "sqlite", "postgres")
WARM = 300
USER = "bench-user"
TOKEN = "bench-access-token"
MIRO = "https://miro.bench"


class Canned(httpx2.AsyncBaseTransport):
    """Miro's answer to `POST /v2/boards`, in memory: a new board id each time."""

    def __init__(self) -> None:
        self.made = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        if request.method != "POST" or request.url.path != "/v2/boards":
            return httpx2.Response(404, json={"status": 404, "code": "notFound"})
        self.made += 1
        board_id = f"uXjV{self.made:08d}="
        user = {"id": "3458764500000001", "type": "user", "name": "Ada"}
        board = {
            "id": board_id,
            "type": "board",
            "name": json.loads(request.content).get("name", ""),
            "description": "",
            "viewLink": f"https://miro.com/app/board/{board_id}",
            "createdAt": "2026-11-30T12:00:00Z",
            "modifiedAt": "2026-11-30T12:00:00Z",
            "owner": user,
            "createdBy": user,
            "modifiedBy": user,
            "team": {"id": "3458764500000002", "type": "team", "name": "Team"},
        }
        headers = {
            "x-ratelimit-limit": "1000000000",
            "x-ratelimit-remaining": "999999000",
            "x-ratelimit-reset": str(int(time.time()) + 60),
        }
        return httpx2.Response(201, json=board, headers=headers)


Send = Callable[[], Awaitable[int]]


def _caller(app: Any, api_key: str) -> Send:
    """One `POST /api/v1/users/{USER}/boards` straight into `app`; its status code."""
    body = b'{"name": "Board"}'
    path = f"/api/v1/users/{USER}/boards"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {api_key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def send_one() -> int:
        status = 0
        done = asyncio.Event()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get(
                "more_body"
            ):
                done.set()

        await app(dict(scope, state={}), receive, send)
        return status

    return send_one


async def _cpu_per_board(send: Send, boards: int) -> float:
    """Milliseconds of this process's CPU per board over `boards` boards."""
    began = time.process_time()
    for _ in range(boards):
        status = await send()
        if status != 201:
            raise RuntimeError(f"a board answered {status}")
    return (time.process_time() - began) * 1000 / boards


async def _floor(keys: ServiceKeys) -> tuple[Send, Callable[[], Any]]:
    """The floor app, configured in place of its environment (it reads these names
    at each request)."""
    from bench import _floor_app

    _floor_app._API_KEY = keys.api_key
    _floor_app._TOKENS = {USER: TOKEN}
    http = httpx2.AsyncClient(transport=Canned(), base_url=MIRO, timeout=30)
    _floor_app.app.state.http = http
    return _caller(_floor_app.app, keys.api_key), http.aclose


async def _service(
    database_url: str, keys: ServiceKeys
) -> tuple[Send, Callable[[], Any]]:
    await upgrade(database_url)
    settings = Settings(
        database_url=database_url,
        miro_client_id="3458764500000000",
        miro_client_secret=secrets.token_urlsafe(24),
        miro_redirect_uri="https://service.bench/connect/callback",
        miro_auth_url=f"{MIRO}/oauth/authorize",
        miro_api_url=MIRO,
        encryption_keys=keys.encryption_keys,
        secret_key=keys.secret_key,
        api_keys=keys.api_key,
    )
    app = create_app(settings, miro_transport=Canned())
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    now = datetime.now(UTC)
    await app.state.miroconnect.stack.storage.connections.save_connection(
        app_user_id=USER,
        identity=MiroIdentity("3458764500000001", "3458764500000002", "Ada", "Team"),
        tokens=TokenSet(TOKEN, "bench-refresh-token", now + timedelta(hours=1)),
        now=now,
    )

    async def close() -> None:
        await lifespan.__aexit__(None, None, None)

    return _caller(app, keys.api_key), close


@asynccontextmanager
async def opened_sides(
    keys: ServiceKeys, sides: tuple[str, ...]
) -> AsyncIterator[dict[str, Send]]:
    """Each of `sides` ready to take boards (the service's logs written as `serve`
    writes them, to nowhere); all closed at the end, a PostgreSQL side's database
    (made only for it) dropped."""
    database: str | None = None
    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as sink:
        handler = configure_logging(stream=sink)
        opened: dict[str, tuple[Send, Callable[[], Any]]] = {}
        try:
            for side in sides:
                if side == "floor":
                    opened[side] = await _floor(keys)
                elif side == "sqlite":
                    url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
                    opened[side] = await _service(url, keys)
                else:
                    database, url = await create_database(
                        DEFAULT_PG_SERVER, "bench_inprocess"
                    )
                    opened[side] = await _service(url, keys)
            yield {side: send for side, (send, _) in opened.items()}
        finally:
            for _, close in opened.values():
                await close()
            handler.close()
            if database is not None:
                await drop_database(DEFAULT_PG_SERVER, database)


async def run(
    *, boards: int, rounds: int, sides_run: tuple[str, ...] = SIDES
) -> dict[str, list[float]]:
    """CPU per board (ms) of each side in `sides_run`, one figure per round."""
    wanted = tuple(side for side in SIDES if side == "floor" or side in sides_run)
    async with opened_sides(ServiceKeys.generate(), wanted) as sides:
        for side in sides:
            await _cpu_per_board(sides[side], WARM)
        results: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(rounds):
            for side in sides:
                results[side].append(await _cpu_per_board(sides[side], boards))
        return results


def main() -> None:
    boards = env_int("INPROCESS", "BOARDS", 3000)
    rounds = env_int("INPROCESS", "ROUNDS", 3)
    wanted = os.environ.get("MIROCONNECT_BENCH_INPROCESS_SIDES", ",".join(SIDES))
    sides_run = tuple(side for side in SIDES if side == "floor" or side in wanted)
    print(
        f"inprocess: ASGI apps called directly, Miro canned, {boards} boards a round, "
        f"{rounds} rounds; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = asyncio.run(run(boards=boards, rounds=rounds, sides_run=sides_run))
    floor = min(results["floor"])
    print("| side | CPU per board (best round) | rounds | / floor |")
    for side in results:
        best = min(results[side])
        rounds_text = ", ".join(f"{value:.3f}" for value in results[side])
        print(f"| {side} | {best:.3f} ms | {rounds_text} | {best / floor:.2f} |")


if __name__ == "__main__":
    main()
