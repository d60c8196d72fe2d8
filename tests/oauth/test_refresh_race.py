"""The refresh race across OS processes: 4 processes x 50 concurrent calls, token expired.

Miro rotates refresh tokens, so any second refresh with the old token fails (and the
emulator counts it as a token error). All 200 calls must succeed with exactly one refresh.
The emulator runs under uvicorn on a loopback port, in a thread of the test process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest

from miroconnect.emulator import EmulatorClient, create_emulator, serve_in_thread
from miroconnect.oauth.outcomes import FlowOutcome
from miroconnect.storage.migrate import upgrade
from support import CLIENT_ID, CLIENT_SECRET
from support.oauth import KEY1, REDIRECT_URI, ProbeRunner, make_settings

PROCESSES = 4
CALLS = 50
WORKER = Path(__file__).with_name("race_worker.py")


@pytest.fixture
def miro_server() -> Iterator[str]:
    app = create_emulator(
        auto_approve=True,
        clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))],
    )
    with serve_in_thread(app) as base_url:
        yield base_url


async def run_workers(args: list[str]) -> list[dict[str, Any]]:
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(WORKER.parent),
        )
        for _ in range(PROCESSES)
    ]
    try:
        for worker in workers:  # barrier: every process is ready before any starts
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), 60)
            assert line.strip() == b"ready", line
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = [
            await asyncio.wait_for(worker.communicate(), 120) for worker in workers
        ]
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    for worker in workers:
        assert worker.returncode == 0
    return [
        json.loads(stdout.decode().strip().splitlines()[-1]) for stdout, _ in outputs
    ]


async def test_four_processes_refresh_once(database_url: str, miro_server: str) -> None:
    from miroconnect.assembly import build_stack

    await upgrade(database_url)
    stack = build_stack(make_settings(database_url, miro=miro_server))
    try:
        flow = stack.flow_with(ProbeRunner(httpx2.AsyncHTTPTransport()))
        start = await flow.start("racer", None, "/")
        async with httpx2.AsyncClient() as browser:
            response = await browser.get(start.authorize_url)
        assert response.status_code == 302
        callback = dict(parse_qsl(urlsplit(response.headers["location"]).query))
        outcome = await flow.complete(
            state=callback["state"],
            code=callback["code"],
            binding_cookie_value=start.binding_cookie_value,
        )
        assert isinstance(outcome, FlowOutcome)
    finally:
        await stack.aclose()

    async with httpx2.AsyncClient(base_url=miro_server) as control:
        # Miro's hour passes: every process now holds an expired access token.
        await control.post("/_emulator/clock", json={"advance_seconds": 3600})
        before = (await control.get("/_emulator/stats")).json()

        started = time.monotonic()
        results = await run_workers(
            [
                database_url,
                miro_server,
                outcome.connection.id,
                str(CALLS),
                "3600",
                KEY1,
                CLIENT_ID,
                CLIENT_SECRET,
                REDIRECT_URI,
            ]
        )
        elapsed = time.monotonic() - started
        after = (await control.get("/_emulator/stats")).json()

    statuses = [status for result in results for status in result["statuses"]]
    assert statuses == [200] * (PROCESSES * CALLS), statuses
    assert sum(result["refreshes"] for result in results) == 1
    refreshes = (
        after["token_grants"]["refresh_token"] - before["token_grants"]["refresh_token"]
    )
    assert refreshes == 1
    assert after["token_errors"] == before["token_errors"] == 0
    print(f"\n{PROCESSES}x{CALLS} calls, 1 refresh, {elapsed:.2f}s incl. start-up")
