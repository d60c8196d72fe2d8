"""`miroconnect serve --workers 2`: the worker processes write the JSON events (they are
fresh processes that never ran the CLI's `main()`), uvicorn's own lines are JSON too (one
format per process), and no log line holds the callback's code or state (uvicorn's access
log, which writes raw URLs, is off)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx2

from miroconnect.storage.migrate import upgrade
from support.processes import free_port, running

from .test_cli import clean_env, good_env

CODE = "eyJnot-a-real-code-but-secret-1234"
STATE = "state-value-that-is-secret-5678"


def test_workers_log_request_and_flow_events_without_the_callback_query(
    tmp_path: Path,
) -> None:
    env = clean_env() | good_env(tmp_path) | {"MIROCONNECT_LOG_LEVEL": "INFO"}
    asyncio.run(upgrade(env["MIROCONNECT_DATABASE_URL"]))
    port = free_port()
    log_path = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with running(
        ["serve", "--port", str(port), "--workers", "2"],
        env=env,
        log=log_path,
        ready=f"{base}/readyz",
    ):
        callback = httpx2.get(
            f"{base}/connect/callback",
            params={"code": CODE, "state": STATE},
            headers={"X-Request-ID": "probe-1"},
        )
        assert callback.status_code == 400  # nobody started that flow
        assert callback.headers["x-request-id"] == "probe-1"
    text = log_path.read_text()
    assert CODE not in text and STATE not in text
    # Every line, uvicorn's included (parent and workers, start and stop), is one event.
    events = [json.loads(line) for line in text.splitlines()]
    uvicorn = [e for e in events if e["logger"].startswith("uvicorn")]
    assert any("Application startup complete" in e["message"] for e in uvicorn)
    assert any(e["event"] == "serve.starting" for e in events)
    requests = [
        e
        for e in events
        if e["event"] == "http.request" and e["route"] == "/connect/callback"
    ]
    assert [(e["request_id"], e["status_code"]) for e in requests] == [("probe-1", 400)]
    failed = [e for e in events if e["event"] == "flow.failed"]
    assert [(e["request_id"], e["reason"]) for e in failed] == [
        ("probe-1", "state_unknown")
    ]
