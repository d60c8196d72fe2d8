"""Refresh under contention: 4 `miroconnect serve` processes on one PostgreSQL database,
1,000 users whose tokens fall due every few seconds, mixed service-API calls.

Setup (all on 127.0.0.1, all stopped and the database dropped at the end):

- a fresh PostgreSQL database, migrated;
- `miroconnect emulator` (uvicorn, auto-approve) with one app whose access tokens live
  `PERIOD + 121` seconds. Why not 3-5 s: the vault refreshes a token once fewer than
  2 minutes remain (`REFRESH_MARGIN`), and takes `expires_at = now + expires_in`, where the
  emulator answers `expires_in = ttl - 1` (as Miro answers 3599 for an hour). A token that
  lives less than 2 minutes is due the moment it is issued, so every call would refresh it
  again (four processes -> four grants for one "expiry"). With `ttl = PERIOD + 121` each
  token falls due exactly `PERIOD` seconds after the vault asked for it: the time-lapse of
  Miro's one hour (due at 58 minutes), with the same margin. Its rate-limit window is
  600 s (Miro: 60 s), see `WINDOW`;
- 4 `miroconnect serve` processes (one port each; each has its own redirect URI at the
  emulator, all share the database, the keys and the API key);
- `USERS` users connected through the real service-mode flow (202, launch link, consent
  as their own Miro user, callback: exchange, token info, store, board), spread over the
  4 processes.

The run: `LANES` tasks, each taking the next user in a fixed rotation and sending that user
two *bursts* back to back. A burst is five concurrent calls: `POST .../boards` to three
processes (so three processes find the same due token at the same moment), `GET .../boards`
to the fourth and `GET .../connection` to the first. With 1,000 users a user comes round
again long after its token fell due, so the first burst of a visit crosses one expiry; the
second finds the token just refreshed and must not refresh it. It lasts `SECONDS`.

The accounting of "one refresh grant per expiry per user":

- *crossed expiries* (expected), per user, from the driver's own clock: the user's token is
  due `PERIOD` s after it was issued (the connection at seeding, then each refresh); a burst
  that starts after that crosses one expiry, and the refresh it triggers issues the next
  token. Board creations are the only calls that need a token (listing boards and reading the
  connection are database reads), so a token that falls due between two bursts is not
  refreshed until the next one: the vault refreshes on use, not on a timer. A burst within
  the uncertainty of a due moment (`SLACK` plus the previous burst's duration), or a burst
  with a failed call, makes the user *ambiguous*: left out of the per-user comparison;
- *refresh grants* (actual), three ways: the emulator's `refresh_token` grant counter (and
  its `token_errors`, which a second refresh with a rotated token would raise), each
  user's `token_version` in the database (one per pair stored), and the services'
  `vault.refresh.started` log events per connection (with their triggers: a `rejected_401`
  would mean a call went out with an expired token).

Then: every user must still be `connected` (through the API and in the database), and
every call must have succeeded (201/200).

Rerun: `.venv/bin/python -m bench bench_refresh` (about 2.5 minutes). Scale with
`MIROCONNECT_BENCH_REFRESH_SECONDS` (default 90), `_USERS` (1000), `_PERIOD` (4), `_LANES`
(8); `MIROCONNECT_BENCH_PG_URL` names another PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx2

from bench._stack import (
    DEFAULT_PG_SERVER,
    Children,
    MiroApp,
    ServiceKeys,
    children,
    connect_user,
    create_database,
    drop_database,
    env_int,
    free_port,
    percentile_ms,
    register_app,
    service_env,
    start_emulator,
    start_service,
    wait_ready,
)
from miroconnect.storage.migrate import upgrade

__all__ = ["RefreshReport", "main", "run"]

PROCESSES = 4
REFRESH_MARGIN_S = 120  # the vault's REFRESH_MARGIN
EXPIRES_IN_SHORTFALL_S = 1  # the emulator answers expires_in = ttl - 1
SLACK = 0.05  # seconds of clock uncertainty around a due moment
SEED_LANES = 16
TOUCH = 2  # bursts per visit of a user, back to back
# Miro's rate-limit window is 60 s; a user's first call in a window whose reading has
# expired is a lone probe (the shared pacer holds the others until it answers), which would
# serialise each visit's first calls. 600 s keeps every reading valid through the run (at
# Miro's 100,000 credits, a user could still make 200 boards per window).
WINDOW = 600
# (kind, process offset) of the calls in one burst: offset 0 is the user's "home" process.
BURST = (("create", 0), ("create", 1), ("create", 2), ("list", 3), ("get", 0))


@dataclass
class _Call:
    kind: str
    seconds: float
    ok: bool


@dataclass
class _Burst:
    user: int
    started: float
    ended: float
    ok: bool  # every call of the burst succeeded


@dataclass
class _Log:
    calls: list[_Call] = field(default_factory=list)
    bursts: list[_Burst] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RefreshReport:
    """What one run measured and checked."""

    users: int
    seconds: float
    seed_seconds: float
    bursts: int
    calls: int
    failed_calls: int
    calls_per_second: float
    latency_ms: dict[str, tuple[float, float]]  # kind -> (p50, p99)
    expected_refreshes: int
    not_due_bursts: int
    ambiguous_users: int
    emulator_refresh_grants: int
    emulator_token_errors: int
    stored_refreshes: int
    logged_refreshes: int
    logged_triggers: dict[str, int]
    skipped_by_process: int
    skipped_by_task: int
    users_matching: int
    users_compared: int
    connected_api: int
    connected_db: int
    failures: tuple[str, ...]  # the first few failed calls, if any
    server_errors: dict[str, int]  # error-level log events of the services, by kind
    mismatches: tuple[str, ...]  # the first few users whose counts differ, if any


def _users(count: int) -> list[str]:
    return [f"bench-user-{index:05d}" for index in range(count)]


async def _seed(
    services: Sequence[str], api_key: str, users: Sequence[str]
) -> dict[str, tuple[float, float]]:
    """Connect every user through the real flow; the span in which each one's first
    token was issued."""
    connected: dict[str, tuple[float, float]] = {}
    queue: Iterator[int] = iter(range(len(users)))

    async def lane() -> None:
        async with httpx2.AsyncClient(timeout=60) as browser:
            for index in queue:
                user = users[index]
                began = time.monotonic()
                await connect_user(
                    browser, services[index % PROCESSES], api_key, user, f"miro-{user}"
                )
                connected[user] = (began, time.monotonic())

    await asyncio.gather(*(lane() for _ in range(SEED_LANES)))
    return connected


async def _burst(
    client: httpx2.AsyncClient,
    services: Sequence[str],
    user_index: int,
    user: str,
    log: _Log,
) -> None:
    async def call(kind: str, offset: int) -> None:
        base = services[(user_index + offset) % PROCESSES]
        url = f"{base}/api/v1/users/{user}"
        began = time.monotonic()
        ok = False
        try:
            if kind == "create":
                answer = await client.post(f"{url}/boards", json={"name": "load"})
                ok = answer.status_code == 201
            elif kind == "list":
                answer = await client.get(f"{url}/boards", params={"limit": 5})
                ok = answer.status_code == 200
            else:
                answer = await client.get(f"{url}/connection")
                ok = (
                    answer.status_code == 200 and answer.json()["status"] == "connected"
                )
            if not ok:
                log.failures.append(
                    f"{kind} {user}: {answer.status_code} {answer.text}"
                )
        except httpx2.HTTPError as exc:
            log.failures.append(f"{kind} {user}: {type(exc).__name__}")
        log.calls.append(_Call(kind, time.monotonic() - began, ok))

    started = time.monotonic()
    failed_before = len(log.failures)
    await asyncio.gather(*(call(kind, offset) for kind, offset in BURST))
    ok = len(log.failures) == failed_before
    log.bursts.append(_Burst(user_index, started, time.monotonic(), ok))


async def _load(
    services: Sequence[str],
    api_key: str,
    users: Sequence[str],
    *,
    seconds: float,
    lanes: int,
    max_bursts: int,
) -> _Log:
    log = _Log()
    rotation = itertools.cycle(range(len(users)))
    deadline = time.monotonic() + seconds
    limits = httpx2.Limits(max_connections=lanes * len(BURST) + 8)
    async with httpx2.AsyncClient(
        headers={"authorization": f"Bearer {api_key}"}, timeout=120, limits=limits
    ) as client:

        async def lane() -> None:
            while time.monotonic() < deadline and len(log.bursts) < max_bursts:
                index = next(rotation)
                # The first burst finds the token due; the second, right after, must not
                # refresh again (its token is fresh for another `period` seconds).
                for _ in range(TOUCH):
                    await _burst(client, services, index, users[index], log)

        await asyncio.gather(*(lane() for _ in range(lanes)))
    return log


def _expected(
    log: _Log,
    users: Sequence[str],
    connected: dict[str, tuple[float, float]],
    period: float,
) -> tuple[dict[int, int], set[int], int]:
    """Crossed expiries per user index, the users with an ambiguous burst, and the number
    of bursts that certainly found a token not yet due.

    The vault judges a token due when it reads it, somewhere inside a burst
    (`started..ended`), and the token it then issues is due `period` after a moment inside
    that same burst; the first token was issued inside the connect flow.
    """
    expected: dict[int, int] = dict.fromkeys(range(len(users)), 0)
    ambiguous: set[int] = set()
    not_due = 0
    by_user: dict[int, list[_Burst]] = {}
    for burst in log.bursts:
        by_user.setdefault(burst.user, []).append(burst)
    for index, bursts in by_user.items():
        issued_low, issued_high = connected[users[index]]
        for burst in sorted(bursts, key=lambda b: b.started):
            if not burst.ok:
                # A failed call may have stopped before or after its refresh.
                ambiguous.add(index)
                issued_high = max(issued_high, burst.ended)
            elif burst.started >= issued_high + period + SLACK:
                expected[index] += 1  # due for certain: refreshed once, reissued here
                issued_low, issued_high = burst.started, burst.ended
            elif burst.ended > issued_low + period - SLACK:
                ambiguous.add(index)  # may or may not have been due: not compared
                issued_high = burst.ended
            else:
                not_due += 1
    return expected, ambiguous, not_due


async def _versions(dsn: str) -> dict[str, tuple[int, str, str]]:
    """app user -> (token_version, status, connection id)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT app_user_id, token_version, status, id FROM connections"
        )
    finally:
        await connection.close()
    return {str(r[0]): (int(r[1]), str(r[2]), str(r[3])) for r in rows}


async def _stats(emulator: str) -> dict[str, Any]:
    async with httpx2.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{emulator}/_emulator/stats")
        answer.raise_for_status()
        stats: dict[str, Any] = answer.json()
        return stats


async def _connected_via_api(
    services: Sequence[str], api_key: str, users: Sequence[str]
) -> int:
    limits = httpx2.Limits(max_connections=32)
    async with httpx2.AsyncClient(
        headers={"authorization": f"Bearer {api_key}"}, timeout=60, limits=limits
    ) as client:
        semaphore = asyncio.Semaphore(32)

        async def status(index: int, user: str) -> bool:
            async with semaphore:
                base = services[index % PROCESSES]
                answer = await client.get(f"{base}/api/v1/users/{user}/connection")
                return answer.status_code == 200 and (
                    answer.json()["status"] == "connected"
                )

        found = await asyncio.gather(*(status(i, u) for i, u in enumerate(users)))
    return sum(found)


def _log_events(paths: Sequence[Path]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (
                str(event.get("event", "")).startswith("vault.refresh")
                or event.get("level") in ("error", "critical")
            ):
                events.append(event)
    return events


async def _start_stack(
    group: Children, database_url: str, period: int
) -> tuple[str, list[str], ServiceKeys]:
    emulator_port = free_port()
    ports = [free_port() for _ in range(PROCESSES)]
    emulator = start_emulator(group, emulator_port, credits=100_000, window=WINDOW)
    redirects = tuple(f"http://127.0.0.1:{port}/connect/callback" for port in ports)
    app = MiroApp(
        "3458764" + str(secrets.randbelow(10**9)), secrets.token_urlsafe(24), redirects
    )
    keys = ServiceKeys.generate()
    ttl = period + REFRESH_MARGIN_S + EXPIRES_IN_SHORTFALL_S
    processes = [
        start_service(
            group,
            f"serve-{number}",
            port,
            service_env(
                database_url=database_url,
                app=app,
                redirect_uri=redirect,
                emulator=emulator,
                keys=keys,
            ),
        )
        for number, (port, redirect) in enumerate(zip(ports, redirects, strict=True))
    ]
    await wait_ready(
        f"{emulator}/_emulator/stats", group.running[0][1], group.log("emulator")
    )
    await register_app(emulator, app, access_token_ttl=ttl)
    services = [f"http://127.0.0.1:{port}" for port in ports]
    for number, (service, process) in enumerate(zip(services, processes, strict=True)):
        await wait_ready(f"{service}/readyz", process, group.log(f"serve-{number}"))
    return emulator, services, keys


async def run(
    *,
    users_count: int,
    seconds: float,
    period: int,
    lanes: int,
    server: str = DEFAULT_PG_SERVER,
) -> RefreshReport:
    """Set up, seed, load, check; everything started is stopped, the database dropped."""
    name, database_url = await create_database(server, "mc_bench_refresh")
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    try:
        await upgrade(database_url)
        with tempfile.TemporaryDirectory() as folder, children(Path(folder)) as group:
            emulator, services, keys = await _start_stack(group, database_url, period)
            users = _users(users_count)
            began = time.monotonic()
            connected = await _seed(services, keys.api_key, users)
            seed_seconds = time.monotonic() - began
            print(
                f"seeded {len(connected)} users through the real flow in "
                f"{seed_seconds:.1f} s ({len(connected) / seed_seconds:.0f} flows/s)",
                flush=True,
            )
            before = await _versions(dsn)
            stats_before = await _stats(emulator)
            load_began = time.monotonic()
            log = await _load(
                services,
                keys.api_key,
                users,
                seconds=seconds,
                lanes=lanes,
                max_bursts=users_count * 10_000,
            )
            elapsed = time.monotonic() - load_began
            # Let the last refreshes' log lines reach the files.
            await asyncio.sleep(0.5)
            stats_after = await _stats(emulator)
            after = await _versions(dsn)
            connected_api = await _connected_via_api(services, keys.api_key, users)
            events = _log_events(
                [group.log(f"serve-{number}") for number in range(PROCESSES)]
            )
        return _report(
            users,
            connected,
            log,
            elapsed,
            seed_seconds,
            period,
            before,
            after,
            stats_before,
            stats_after,
            events,
            connected_api,
        )
    finally:
        await drop_database(server, name)


def _report(
    users: Sequence[str],
    connected: dict[str, tuple[float, float]],
    log: _Log,
    elapsed: float,
    seed_seconds: float,
    period: int,
    before: dict[str, tuple[int, str, str]],
    after: dict[str, tuple[int, str, str]],
    stats_before: dict[str, Any],
    stats_after: dict[str, Any],
    events: list[dict[str, Any]],
    connected_api: int,
) -> RefreshReport:
    expected, ambiguous, not_due = _expected(log, users, connected, period)
    owner = {after[user][2]: index for index, user in enumerate(users) if user in after}
    started = [e for e in events if e.get("event") == "vault.refresh.started"]
    logged: Counter[int] = Counter(
        owner[str(e.get("connection_id"))]
        for e in started
        if str(e.get("connection_id")) in owner
    )
    skipped = Counter(
        str(e.get("by")) for e in events if e.get("event") == "vault.refresh.skipped"
    )
    stored = {
        index: after[user][0] - before[user][0]
        for index, user in enumerate(users)
        if user in after and user in before
    }
    compared = [index for index in range(len(users)) if index not in ambiguous]
    matching = [
        index
        for index in compared
        if stored.get(index) == expected[index] == logged.get(index, 0)
    ]
    latency: dict[str, tuple[float, float]] = {}
    for kind in (*sorted({call.kind for call in log.calls}), "all"):
        samples = [c.seconds for c in log.calls if kind in ("all", c.kind)]
        latency[kind] = (percentile_ms(samples, 0.5), percentile_ms(samples, 0.99))
    grants_before = stats_before["token_grants"]["refresh_token"]
    grants_after = stats_after["token_grants"]["refresh_token"]
    return RefreshReport(
        users=len(users),
        seconds=elapsed,
        seed_seconds=seed_seconds,
        bursts=len(log.bursts),
        calls=len(log.calls),
        failed_calls=sum(not c.ok for c in log.calls),
        calls_per_second=len(log.calls) / elapsed,
        latency_ms=latency,
        expected_refreshes=sum(expected.values()),
        not_due_bursts=not_due,
        ambiguous_users=len(ambiguous),
        emulator_refresh_grants=int(grants_after) - int(grants_before),
        emulator_token_errors=int(stats_after["token_errors"])
        - int(stats_before["token_errors"]),
        stored_refreshes=sum(stored.values()),
        logged_refreshes=len(started),
        logged_triggers=dict(Counter(str(e.get("trigger")) for e in started)),
        skipped_by_process=skipped.get("process", 0),
        skipped_by_task=skipped.get("task", 0),
        users_matching=len(matching),
        users_compared=len(compared),
        connected_api=connected_api,
        connected_db=sum(1 for v in after.values() if v[1] == "connected"),
        failures=tuple(log.failures[:5]),
        server_errors=dict(
            Counter(
                f"{e.get('event')}: {e.get('error_type')} {str(e.get('message'))[:160]}"
                for e in events
                if e.get("level") in ("error", "critical")
            )
        ),
        mismatches=tuple(
            f"{users[i]}: expected {expected[i]}, stored {stored.get(i)}, "
            f"logged {logged.get(i, 0)}"
            for i in compared
            if i not in set(matching)
        )[:5],
    )


def _print(report: RefreshReport) -> None:
    r = report
    print(
        f"load: {r.seconds:.0f} s, {r.bursts} bursts, {r.calls} calls "
        f"({r.calls_per_second:.0f} calls/s), failed {r.failed_calls}",
        flush=True,
    )
    for kind, (p50, p99) in r.latency_ms.items():
        print(f"  {kind:6} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms", flush=True)
    print(
        f"bursts finding the token due (expiries crossed) {r.expected_refreshes}, not "
        f"yet due {r.not_due_bursts}; refresh grants: emulator "
        f"{r.emulator_refresh_grants}, stored {r.stored_refreshes}, logged "
        f"{r.logged_refreshes} {r.logged_triggers}; token errors "
        f"{r.emulator_token_errors}; skipped by process {r.skipped_by_process}, by task "
        f"{r.skipped_by_task}",
        flush=True,
    )
    print(
        f"per user: {r.users_matching}/{r.users_compared} match exactly "
        f"({r.ambiguous_users} users with an ambiguous burst left out)",
        flush=True,
    )
    print(
        f"connected at the end: {r.connected_api}/{r.users} (API), "
        f"{r.connected_db}/{r.users} (database)",
        flush=True,
    )
    for mismatch in r.mismatches:
        print(f"  mismatch: {mismatch}", flush=True)
    for failure in r.failures:
        print(f"  failure: {failure}", flush=True)
    for kind, count in list(r.server_errors.items())[:5]:
        print(f"  server error x{count}: {kind}", flush=True)


def main() -> None:
    """Run with the defaults (or the MIROCONNECT_BENCH_REFRESH_* variables)."""
    users = env_int("REFRESH", "USERS", 1000)
    seconds = env_int("REFRESH", "SECONDS", 90)
    period = env_int("REFRESH", "PERIOD", 4)
    lanes = env_int("REFRESH", "LANES", 8)
    print(
        f"refresh: {PROCESSES} serve processes, PostgreSQL, {users} users, token due "
        f"every {period} s (emulator ttl {period + 121} s), {seconds} s of bursts from "
        f"{lanes} lanes; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    report = asyncio.run(
        run(users_count=users, seconds=seconds, period=period, lanes=lanes)
    )
    _print(report)
    print(f"load average at the end {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
