"""The service API under `miroconnect demo` (uvicorn, SQLite, the emulator over HTTP).

Connects one user through the real flow (202 -> launch link -> consent -> callback ->
the host's confirm), then
times `POST /api/v1/users/{id}/boards` (201: a board created on the emulated Miro; each is
an operation row, a Miro call and a board row) and `GET .../boards`, sequentially and with
8 concurrent clients. Bounded: 80 creations per series (Miro allows 200 a minute per user:
board creation costs 500 of 100,000 credits, and the client waits rather than overdraw) and 200
reads. Run: `python -m bench bench_web`.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from bench._stack import confirm

__all__ = ["main"]

CREATIONS = 80
READS = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _connect(app: str, key: str, user: str) -> None:
    headers = {"authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as browser:
        answer = await browser.post(
            f"{app}/api/v1/users/{user}/boards",
            json={"name": "first", "return_url": f"{app}/"},
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
        launch = await browser.get(answer.json()["authorize_url"])
        consent = await browser.get(launch.headers["location"])
        fields = dict(re.findall(r'name=(\w+) value="([^"]*)"', consent.text))
        action = launch.headers["location"].split("/oauth/")[0] + "/oauth/authorize"
        approved = await browser.post(
            action,
            data=fields | {"decision": "approve", "team_id": _team(consent.text)},
        )
        back = await browser.get(approved.headers["location"])
        await confirm(browser, app, key, user, back)


def _team(html: str) -> str:
    found = re.search(r'<option value="([^"]+)" selected', html)
    assert found is not None
    return found.group(1)


async def _series(
    client: httpx2.AsyncClient, method: str, url: str, concurrency: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    total = CREATIONS if method == "POST" else READS
    counter = iter(range(total))

    async def worker() -> None:
        for index in counter:
            started = time.perf_counter()
            if method == "POST":
                answer = await client.post(url, json={"name": f"bench {index}"})
                assert answer.status_code == 201, answer.text
            else:
                answer = await client.get(url)
                assert answer.status_code == 200, answer.text
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def _measure(app: str, key: str) -> None:
    await _connect(app, key, "bench-user")
    url = f"{app}/api/v1/users/bench-user/boards"
    limits = httpx2.Limits(max_connections=16)
    async with httpx2.AsyncClient(
        headers={"authorization": f"Bearer {key}"}, timeout=60, limits=limits
    ) as client:
        for method, concurrency in (("POST", 1), ("POST", 8), ("GET", 1), ("GET", 8)):
            latencies, elapsed = await _series(client, method, url, concurrency)
            ordered = sorted(latencies)
            count = len(ordered)
            p95 = ordered[int(len(ordered) * 0.95) - 1]
            print(
                f"{method:4} boards c={concurrency}: {count / elapsed:7.1f} req/s, "
                f"p50 {statistics.median(ordered) * 1000:6.1f} ms, "
                f"p95 {p95 * 1000:6.1f} ms",
                flush=True,
            )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        port, emulator_port = _free_port(), _free_port()
        data = Path(folder) / "data"
        process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            [
                sys.executable,
                "-m",
                "miroconnect",
                "demo",
                "--port",
                str(port),
                "--emulator-port",
                str(emulator_port),
                "--data",
                str(data),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        app = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx2.get(f"{app}/readyz", timeout=1).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the demo did not start")
                time.sleep(0.1)
            key = json.loads((data / "demo-secrets.json").read_text())["api_key"]
            asyncio.run(_measure(app, str(key)))
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
