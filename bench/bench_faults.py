"""Faults: a load run through `miroconnect serve --workers N` on PostgreSQL while the
emulated Miro drops, delays and refuses responses, and PostgreSQL restarts once.

Setup (loopback only): a fresh PostgreSQL database (created and dropped here), the Miro
emulator under uvicorn (auto-approve, a rate-limit window of 5 s so a 429 waits at most 5 s,
access tokens that need a refresh about every 30 s), and `miroconnect serve --workers N`.
`USERS` app users connect through the real flow (202, launch link, consent, callback,
the host's confirm).

Then, for `DURATION` seconds, every user creates boards through the service API, one intent
after another, each with its own `Idempotency-Key` and a name unique to the intent, and lists
its boards between creations. A client retries a failed request with the same key, as a real
app would, within a bound (`ATTEMPTS`, backoff). Meanwhile:

* the emulator drops (`drop_after_commit`: the board is made, the answer lost) or delays
  about 10 % of the REST API's responses, and delays some token-endpoint answers;
* every few seconds it answers a burst of 503s or 429s (REST API and token endpoint);
* PostgreSQL is restarted once (`pg_ctlcluster ... restart`), and is running again at the
  end, whatever happened.

Drops are kept off the token endpoint on purpose: Miro rotates refresh tokens, so a lost
refresh answer kills the grant at Miro (nobody can avoid that; `docs/deploy.md`, backups).

Afterwards the bench verifies and prints: no duplicate board (the emulator's boards, by
intent name), no lost connection (every user still `connected`), no operation left
`pending`/`sent` (the operations table), and that every failed request had a clear error (an
`application/problem+json` document with `type` and `title`, never a bare page or a trace).
It exits non-zero when a check fails. Run: `python -m bench bench_faults` (about 2 min).
Settings: `MIROCONNECT_BENCH_FAULTS_USERS` (16), `_WORKERS` (3), `_SECONDS` (60),
`MIROCONNECT_BENCH_PG_URL` (the PostgreSQL server).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
from sqlalchemy.engine import make_url

from bench._stack import RETURN_ORIGIN, confirm

__all__ = ["main"]

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
RETURN_URL = f"{RETURN_ORIGIN}/done"  # the host app's page; the driver never opens it
USERS = int(os.environ.get("MIROCONNECT_BENCH_FAULTS_USERS", "16"))
WORKERS = int(os.environ.get("MIROCONNECT_BENCH_FAULTS_WORKERS", "3"))
DURATION = float(os.environ.get("MIROCONNECT_BENCH_FAULTS_SECONDS", "60"))
ATTEMPTS = 8  # per request, with the same Idempotency-Key
# After the load: intents whose retries ran out are tried again with the same key, as the
# app would on the user's next visit, for at most this long.
CONVERGE_SECONDS = 150.0
PREFIX = "fb"
PROBLEM = "application/problem+json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Tally:
    """What the clients saw."""

    created: dict[str, str] = field(default_factory=dict)  # intent name -> board id
    gave_up: set[str] = field(default_factory=set)
    requests: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # "POST 502 miro_error"
    unclear: list[str] = field(default_factory=list)  # failures without a problem doc
    retried_intents: int = 0
    lists: int = 0
    latencies: list[float] = field(default_factory=list)

    def record_failure(self, method: str, answer: httpx2.Response) -> None:
        kind = answer.headers.get("content-type", "").split(";")[0].strip()
        try:
            body: Any = answer.json()
        except ValueError:
            body = None
        clear = (
            kind == PROBLEM
            and isinstance(body, dict)
            and isinstance(body.get("type"), str)
            and isinstance(body.get("title"), str)
            and "Traceback" not in answer.text
        )
        reason = body.get("reason") if isinstance(body, dict) else None
        self.failures[f"{method} {answer.status_code} {reason or kind}"] += 1
        if not clear:
            self.unclear.append(f"{method} {answer.status_code}: {answer.text[:200]}")


# -- processes ------------------------------------------------------------------------


def _pg_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def _pg_ctl(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments
        [  # noqa: S607 - the Debian cluster tool, found on PATH
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            _pg_version(),
            "main",
            action,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _ensure_postgresql_running() -> None:
    if _pg_ctl("status").returncode != 0:
        started = _pg_ctl("start")
        print(f"PostgreSQL was down at the end; started it: rc={started.returncode}")


async def _admin(server: str, statement: str) -> None:
    url = make_url(server)
    connection = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx2.get(url, timeout=2).status_code < 500:
                return
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.2)


@contextmanager
def _process(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            [sys.executable, "-m", "miroconnect", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


# -- the clients ----------------------------------------------------------------------


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(3.0, 0.2 * 2**attempt))


async def _connect(service: str, key: str, user: str) -> None:
    """The real flow: 202, the launch link, Miro's consent (auto-approved), the
    callback (consent held), the host's confirm (connection and board)."""
    async with httpx2.AsyncClient(
        timeout=60, cookies={"miro_emulator_user": f"miro-{user}"}
    ) as browser:
        answer = await browser.post(
            f"{service}/api/v1/users/{user}/boards",
            json={"name": f"{PREFIX}-{user}-connect", "return_url": RETURN_URL},
            headers={"authorization": f"Bearer {key}", "idempotency-key": "connect"},
        )
        assert answer.status_code == 202, answer.text
        hop = await browser.get(answer.json()["authorize_url"])
        for _ in range(2):  # launch -> Miro -> callback
            assert hop.status_code in (302, 303), hop.text
            hop = await browser.get(hop.url.join(hop.headers["location"]))
        await confirm(browser, service, key, user, hop)


async def _create(
    api: httpx2.AsyncClient, tally: Tally, user: str, intent: str, attempts: int
) -> bool:
    """One intent: POST with its key until 201, at most `attempts` times."""
    started = time.perf_counter()
    for attempt in range(attempts):
        tally.requests += 1
        if attempt:
            tally.retried_intents += attempt == 1
        try:
            answer = await api.post(
                f"/api/v1/users/{user}/boards",
                json={"name": intent},
                headers={"idempotency-key": intent},
            )
        except httpx2.TransportError as error:
            tally.unclear.append(f"POST transport error {type(error).__name__}")
        else:
            if answer.status_code == 201:
                board_id = answer.json()["board"]["id"]
                previous = tally.created.setdefault(intent, board_id)
                if previous != board_id:
                    tally.unclear.append(f"{intent}: two board ids for one key")
                tally.latencies.append(time.perf_counter() - started)
                return True
            tally.record_failure("POST", answer)
        await asyncio.sleep(_backoff(attempt))
    return False


async def _list(api: httpx2.AsyncClient, tally: Tally, user: str) -> None:
    for attempt in range(ATTEMPTS):
        tally.requests += 1
        try:
            answer = await api.get(f"/api/v1/users/{user}/boards", params={"limit": 5})
        except httpx2.TransportError as error:
            tally.unclear.append(f"GET transport error {type(error).__name__}")
        else:
            if answer.status_code == 200:
                tally.lists += 1
                return
            tally.record_failure("GET", answer)
        await asyncio.sleep(_backoff(attempt))


async def _user_load(
    api: httpx2.AsyncClient, tally: Tally, user: str, until: float
) -> None:
    number = 0
    while time.monotonic() < until:
        intent = f"{PREFIX}-{user}-{number}"
        number += 1
        if not await _create(api, tally, user, intent, ATTEMPTS):
            tally.gave_up.add(intent)
        await _list(api, tally, user)


async def _bursts(emulator: str, until: float) -> int:
    """A burst of 503s or 429s every few seconds, on the REST API and the token endpoint."""
    bursts = 0
    async with httpx2.AsyncClient(base_url=emulator, timeout=10) as control:
        while time.monotonic() < until:
            await asyncio.sleep(4)
            status = 503 if bursts % 2 == 0 else 429
            for path in ("/v2/", "/v1/oauth/token"):
                await control.post(
                    "/_emulator/faults",
                    json={
                        "action": "status",
                        "status": status,
                        "path": path,
                        "times": 12,
                    },
                )
            bursts += 1
    return bursts


def _restart_postgresql(after: float, result: dict[str, float]) -> None:
    time.sleep(after)
    started = time.monotonic()
    outcome = _pg_ctl("restart")
    result["seconds"] = time.monotonic() - started
    result["rc"] = outcome.returncode


async def _install_faults(emulator: str) -> None:
    async with httpx2.AsyncClient(base_url=emulator, timeout=10) as control:
        for rule in (
            # About 10 % of REST responses: half dropped after the work was done, half late.
            {"action": "drop_after_commit", "path": "/v2/", "probability": 0.05},
            {"action": "delay", "seconds": 0.5, "path": "/v2/", "probability": 0.053},
            {
                "action": "delay",
                "seconds": 0.5,
                "path": "/v1/oauth/",
                "probability": 0.1,
            },
        ):
            answer = await control.post("/_emulator/faults", json=rule)
            assert answer.status_code == 201, answer.text


async def _load(service: str, emulator: str, key: str) -> tuple[Tally, dict[str, Any]]:
    users = [f"u{index:03d}" for index in range(USERS)]
    started = time.monotonic()
    for batch in range(0, len(users), 8):
        await asyncio.gather(
            *(_connect(service, key, user) for user in users[batch : batch + 8])
        )
    print(f"{len(users)} users connected in {time.monotonic() - started:.1f} s")
    await _install_faults(emulator)
    tally = Tally()
    restart: dict[str, float] = {}
    until = time.monotonic() + DURATION
    restarter = threading.Thread(
        target=_restart_postgresql, args=(DURATION * 0.4, restart), daemon=True
    )
    # Below uvicorn's 5 s keep-alive: a pooled connection is never reused just as the
    # server closes it (that race is the client's, not the service's).
    limits = httpx2.Limits(max_connections=USERS * 2, keepalive_expiry=2.0)
    async with httpx2.AsyncClient(
        base_url=service,
        headers={"authorization": f"Bearer {key}"},
        timeout=60,
        limits=limits,
    ) as api:
        restarter.start()
        load_started = time.monotonic()
        bursts, *_ = await asyncio.gather(
            _bursts(emulator, until),
            *(_user_load(api, tally, user, until) for user in users),
        )
        load_seconds = time.monotonic() - load_started
        restarter.join(120)
        async with httpx2.AsyncClient(base_url=emulator, timeout=10) as control:
            await control.delete("/_emulator/faults")
        # The app tries again later with the same key; nothing is injected any more.
        converge_started = time.monotonic()
        pending = sorted(tally.gave_up)
        while pending and time.monotonic() - converge_started < CONVERGE_SECONDS:
            intent = pending.pop(0)
            user = intent.split("-")[1]
            if not await _create(api, tally, user, intent, 1):
                pending.append(intent)
                await asyncio.sleep(1)
        converge_seconds = time.monotonic() - converge_started
        connections = {
            user: (await api.get(f"/api/v1/users/{user}/connection")).json()["status"]
            for user in users
        }
    facts = {
        "users": users,
        "bursts": bursts,
        "restart": restart,
        "load_seconds": load_seconds,
        "converge_seconds": converge_seconds,
        "never_created": pending,
        "connections": connections,
    }
    return tally, facts


async def _operations(dsn: str) -> dict[str, int]:
    url = make_url(dsn)
    connection = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database,
    )
    try:
        rows = await connection.fetch(
            "SELECT state, count(*) AS n FROM operations GROUP BY state"
        )
        connected = await connection.fetch(
            "SELECT status, count(*) AS n FROM connections GROUP BY status"
        )
        failed = await connection.fetch(
            "SELECT idempotency_key, error FROM operations WHERE state = 'failed' LIMIT 5"
        )
    finally:
        await connection.close()
    for row in failed:
        print(f"failed operation {row['idempotency_key']}: {row['error']}")
    found = {f"operations.{row['state']}": int(row["n"]) for row in rows}
    found |= {f"connections.{row['status']}": int(row["n"]) for row in connected}
    return found


def _verify(
    tally: Tally,
    facts: dict[str, Any],
    boards: list[dict[str, Any]],
    rows: dict[str, int],
) -> list[str]:
    problems: list[str] = []
    names = Counter(b["name"] for b in boards if b["name"].startswith(f"{PREFIX}-"))
    duplicates = {name: n for name, n in names.items() if n > 1}
    if duplicates:
        problems.append(f"duplicate boards: {sorted(duplicates.items())[:10]}")
    by_name = {b["name"]: b["id"] for b in boards}
    wrong = [i for i, board in tally.created.items() if by_name.get(i) != board]
    if wrong:
        problems.append(f"answered board ids not on Miro: {wrong[:10]}")
    if facts["never_created"]:
        problems.append(f"intents never created: {facts['never_created'][:10]}")
    lost = {u: s for u, s in facts["connections"].items() if s != "connected"}
    if lost:
        problems.append(f"connections lost: {lost}")
    open_ops = {
        k: v for k, v in rows.items() if k in ("operations.pending", "operations.sent")
    }
    if open_ops:
        problems.append(f"operations left open: {open_ops}")
    if tally.unclear:
        problems.append(f"{len(tally.unclear)} unclear failures: {tally.unclear[:5]}")
    if facts["restart"].get("rc") != 0:
        problems.append(f"the PostgreSQL restart failed: {facts['restart']}")
    return problems


def _report(
    tally: Tally,
    facts: dict[str, Any],
    stats: dict[str, Any],
    boards: list[dict[str, Any]],
    rows: dict[str, int],
) -> None:
    ours = [b for b in boards if b["name"].startswith(f"{PREFIX}-")]
    lat = sorted(tally.latencies)
    p99 = lat[max(0, int(len(lat) * 0.99) - 1)] if lat else 0.0
    print(
        f"load: {USERS} users, {WORKERS} workers, {facts['load_seconds']:.0f} s; "
        f"{len(tally.created)} boards created by intent, {tally.lists} lists, "
        f"{tally.requests} requests; {tally.retried_intents} intents needed a retry; "
        f"{len(tally.gave_up)} ran out of retries, converged afterwards in "
        f"{facts['converge_seconds']:.1f} s"
    )
    if lat:
        print(
            f"intent latency (first try to 201): p50 "
            f"{statistics.median(lat) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )
    print(
        f"emulator: {stats['requests']} requests, {stats['faults_applied']} faults "
        f"applied ({facts['bursts']} bursts of 503/429), refresh grants "
        f"{stats['token_grants']['refresh_token']}, boards {len(ours)}"
    )
    print(
        f"PostgreSQL restart: {facts['restart'].get('seconds', float('nan')):.1f} s "
        f"(rc {facts['restart'].get('rc')})"
    )
    print("failed requests (all answered with a problem document unless listed below):")
    for kind, count in sorted(tally.failures.items()):
        print(f"  {count:6d}  {kind}")
    names = Counter(b["name"] for b in ours)
    print(
        f"checks: duplicate boards {sum(1 for n in names.values() if n > 1)}, "
        f"connections {dict(Counter(facts['connections'].values()))}, rows {rows}, "
        f"unclear failures {len(tally.unclear)}"
    )


async def run(server: str = DEFAULT_SERVER) -> list[str]:
    """Run the whole bench; returns the failed checks (empty: all held)."""
    from miroconnect.crypto import generate_key

    name = f"mc_bench_faults_{secrets.token_hex(4)}"
    dsn = make_url(server).set(database=name).render_as_string(hide_password=False)
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as folder:
            port, miro_port = _free_port(), _free_port()
            service = f"http://127.0.0.1:{port}"
            emulator = f"http://127.0.0.1:{miro_port}"
            client_id = str(3458764000000000 + secrets.randbelow(10**9))
            client_secret = secrets.token_urlsafe(24)
            key = "bench-" + secrets.token_urlsafe(24)
            env = dict(os.environ) | {
                "MIROCONNECT_DATABASE_URL": dsn,
                "MIROCONNECT_MIRO_CLIENT_ID": client_id,
                "MIROCONNECT_MIRO_CLIENT_SECRET": client_secret,
                "MIROCONNECT_MIRO_REDIRECT_URI": f"{service}/connect/callback",
                "MIROCONNECT_MIRO_AUTH_URL": f"{emulator}/oauth/authorize",
                "MIROCONNECT_MIRO_API_URL": emulator,
                "MIROCONNECT_ENCRYPTION_KEYS": generate_key("fb1"),
                "MIROCONNECT_SECRET_KEY": secrets.token_urlsafe(48),
                "MIROCONNECT_API_KEYS": key,
                "MIROCONNECT_ALLOWED_RETURN_URLS": RETURN_ORIGIN,
                "MIROCONNECT_LOG_LEVEL": "WARNING",
            }
            upgrade = subprocess.run(
                [sys.executable, "-m", "miroconnect", "db", "upgrade"],
                env=env,
                capture_output=True,
                check=False,
            )
            assert upgrade.returncode == 0, upgrade.stderr.decode()[-2000:]
            emulator_args = [
                "emulator",
                f"--port={miro_port}",
                "--auto-approve",
                f"--client={client_id}:{client_secret}:{service}/connect/callback",
                "--access-token-ttl=150",  # refresh due 30 s after each grant
                "--credits=1000000000",
                "--window=5",
            ]
            serve_args = ["serve", f"--port={port}", f"--workers={WORKERS}"]
            logs = Path(folder)
            with (
                _process(emulator_args, env, logs / "emulator.log") as miro,
                _process(serve_args, env, logs / "serve.log") as served,
            ):
                _wait_http(f"{emulator}/", miro, "the emulator")
                _wait_http(f"{service}/healthz", served, "miroconnect serve")
                tally, facts = await _load(service, emulator, key)
                async with httpx2.AsyncClient(base_url=emulator, timeout=10) as c:
                    stats = (await c.get("/_emulator/stats")).json()
                    boards = (await c.get("/_emulator/boards")).json()
                served_log = (logs / "serve.log").read_text(errors="replace")
                keep = os.environ.get("MIROCONNECT_BENCH_FAULTS_LOG")
                if keep:  # for a look at the service's log after the run
                    Path(keep).write_text(served_log)
            rows = await _operations(dsn)
            _report(tally, facts, stats, boards, rows)
            tracebacks = served_log.count("Traceback")
            # uvicorn's line for an exception that escaped the app after (or before) the
            # answer: it then closes that connection.
            escaped = served_log.count("Exception in ASGI application")
            print(
                f"service log: {tracebacks} tracebacks (logged, never sent), "
                f"{escaped} exceptions that escaped to uvicorn"
            )
            return _verify(tally, facts, boards, rows)
    finally:
        _ensure_postgresql_running()
        for _ in range(30):
            try:
                await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(1)


def main() -> None:
    server = os.environ.get("MIROCONNECT_BENCH_PG_URL", DEFAULT_SERVER)
    try:
        problems = asyncio.run(run(server))
    finally:
        _ensure_postgresql_running()
    if problems:
        for problem in problems:
            print(f"FAILED: {problem}")
        raise SystemExit(1)
    print("all checks held")


if __name__ == "__main__":
    main()
