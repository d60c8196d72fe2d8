"""Scale: up to 1,000,000 connections in PostgreSQL, through the real vault and store.

A fresh database on 127.0.0.1:5432 is created, migrated, filled in steps (10k, 100k, 1M rows
by default) and dropped at the end. The rows are bulk-loaded by `COPY` from two child
processes, with real AES-GCM ciphertexts (`TokenCipher`, a key generated for the run) bound to
each row id, so every lookup decrypts for real. The mix of rows:

- 89.5 % connected, refresh token issued in the last 50 days, access token fresh;
- 0.5 % connected and due for maintenance (refresh token 50-52 days old);
- 5 % needs_reauth (dead grants that pile up: refresh tokens 60-180 days old, kept);
- 1 % removed (tokens deleted).

At each step, in this process (which never holds the bulk data, so its RSS is the service's):

- token lookup: `vault.token_source(id).access_token()` for random connected rows and
  `vault.connection_for(app_user_id)` for random users, one at a time: p50 and p99;
- the maintenance scan (`store.due_for_maintenance`, limit 500, the real 50-day cutoff) and two
  full `vault.maintain()` runs: one with no-one due, one where `FEW_DUE` connections made
  through the in-process emulator are due and get refreshed there;
- `EXPLAIN` of every statement those calls sent (captured from the engine), to check that
  none scans the table;
- RSS (`VmRSS`) and the size of the vault's per-connection lock map.

Rerun: `.venv/bin/python -m bench bench_scale` (under a minute for 1M on 2 cores);
`MIROCONNECT_BENCH_SCALE_MAX=100000` for a quick run; `MIROCONNECT_BENCH_PG_URL` for another
server (default `postgresql://postgres@127.0.0.1:5432/postgres`).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import httpx2
from sqlalchemy import event
from sqlalchemy.engine import make_url

from miroconnect.crypto import KeyRing, TokenCipher, generate_key
from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.oauth.miro import MiroOAuthClient, MiroOAuthConfig
from miroconnect.oauth.vault import TokenVault
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.models import ConnectionRow
from miroconnect.storage.repository import SQLStore
from miroconnect.storage.sealing import associated_data

__all__ = ["StepResult", "main", "run"]

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
STEPS = (10_000, 100_000, 1_000_000)
LOOKUPS = 3_000  # timed lookups of each kind per step (after WARMUP untimed ones)
WARMUP = 300
FEW_DUE = 20  # emulator-backed connections refreshed by the "few due" maintenance run
LOADERS = 2  # child processes encrypting and COPYing in parallel
SCAN_REPEATS = 7

MIRO = "https://miro.test"
CLIENT_ID = "3074457000000000777"
CLIENT_SECRET = "bench-scale-secret"
REDIRECT_URI = "http://bench.test/connect/callback"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the vault's frozen "now"
REFRESH_CUTOFF = T0 - timedelta(days=50)  # what the default 60 - 10 day window gives

COLUMNS = (
    "id",
    "app_user_id",
    "miro_team_id",
    "miro_team_name",
    "miro_user_id",
    "miro_user_name",
    "scopes",
    "status",
    "status_reason",
    "key_id",
    "access_token_ciphertext",
    "refresh_token_ciphertext",
    "access_expires_at",
    "refresh_issued_at",
    "token_version",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class StepResult:
    """What one step measured."""

    rows: int
    load_seconds: float
    token_p50_ms: float
    token_p99_ms: float
    user_p50_ms: float
    user_p99_ms: float
    scan_ms: float
    scan_found: int
    maintain_idle_ms: float
    maintain_few_ms: float
    maintain_few_refreshed: int
    rss_mib: float
    locks: int
    seq_scans: tuple[str, ...]


# -- bulk loading (child processes) ---------------------------------------------------------


def _rows(
    cipher: TokenCipher, start: int, stop: int, seed: int
) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    day = 86_400.0
    for index in range(start, stop):
        connection_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        draw = rng.random()
        status, reason = "connected", None
        issued: datetime | None = None
        expires: datetime | None = None
        if draw < 0.05:
            status, reason = "needs_reauth", "refresh_rejected (401)"
            issued = T0 - timedelta(seconds=rng.uniform(60 * day, 180 * day))
            expires = issued + timedelta(hours=1)
        elif draw < 0.06:
            status, reason = "removed", "disconnected"
        elif draw < 0.065:
            issued = T0 - timedelta(seconds=rng.uniform(50 * day, 52 * day))
            expires = T0 + timedelta(seconds=rng.uniform(300, 3600))
        else:
            issued = T0 - timedelta(seconds=rng.uniform(0, 50 * day - 3600))
            expires = T0 + timedelta(seconds=rng.uniform(300, 3600))
        access = refresh = key_id = None
        app_user_id = f"app-user-{index:07d}"
        team_id = f"345876{index % 50_000:07d}"
        miro_user_id = f"307445{index:010d}"
        if status != "removed":
            owner = ConnectionRow(
                id=connection_id,
                app_user_id=app_user_id,
                miro_user_id=miro_user_id,
                miro_team_id=team_id,
            )
            access = cipher.encrypt(
                secrets.token_urlsafe(32),
                associated_data=associated_data(owner, "access_token"),
            )
            refresh = cipher.encrypt(
                secrets.token_urlsafe(32),
                associated_data=associated_data(owner, "refresh_token"),
            )
            key_id = cipher.primary_key_id
        created = T0 - timedelta(days=200)
        yield (
            connection_id,
            app_user_id,
            team_id,
            "Bench team",
            miro_user_id,
            "Bench User",
            "boards:read boards:write",
            status,
            reason,
            key_id,
            access,
            refresh,
            expires,
            issued,
            1,
            created,
            issued or created,
        )


async def _copy(dsn: str, key: str, start: int, stop: int) -> None:
    cipher = TokenCipher(KeyRing.parse(key))
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "connections",
            records=_rows(cipher, start, stop, seed=start),
            columns=COLUMNS,
        )
    finally:
        await connection.close()


def _load_range(dsn: str, key: str, start: int, stop: int) -> None:
    """Child process: encrypt and COPY rows `start..stop` (memory stays bounded: the rows
    are generated as asyncpg streams them)."""
    asyncio.run(_copy(dsn, key, start, stop))


def _load(dsn: str, key: str, start: int, stop: int) -> None:
    context = multiprocessing.get_context("spawn")
    bounds = [start + (stop - start) * part // LOADERS for part in range(LOADERS + 1)]
    workers = [
        context.Process(target=_load_range, args=(dsn, key, low, high))
        for low, high in zip(bounds, bounds[1:], strict=False)
        if high > low
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"a loader process failed (exit {worker.exitcode})")


# -- measuring (this process) -----------------------------------------------------------------


class _Statements:
    """Every SQL statement the engine sends, with its parameters, while recording."""

    def __init__(self, db: Database) -> None:
        self.recording = False
        self.seen: dict[str, tuple[str, Any]] = {}
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if self.recording and statement.lstrip().upper().startswith("SELECT"):
            self.seen.setdefault(" ".join(statement.split()), (statement, parameters))


async def _seq_scans(dsn: str, statements: _Statements) -> tuple[str, ...]:
    """The captured statements whose plan scans the whole `connections` table."""
    found: list[str] = []
    connection = await asyncpg.connect(dsn)
    try:
        for key, (statement, parameters) in statements.seen.items():
            if "connections" not in statement:
                continue
            rows = await connection.fetch("EXPLAIN " + statement, *(parameters or ()))
            plan = "\n".join(row[0] for row in rows)
            if "Seq Scan on connections" in plan:
                found.append(key[:120])
    finally:
        await connection.close()
    return tuple(found)


def _ms(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _connect_few(
    dsn: str, store: SQLStore, miro: MiroOAuthClient, emulator: Any, step: int
) -> list[str]:
    """`FEW_DUE` connections with real emulator grants, their refresh tokens backdated
    58.5 days so that only the "few due" maintenance run picks them."""
    ids: list[str] = []
    async with httpx2.AsyncClient(
        transport=emulator_transport(emulator), base_url=MIRO
    ) as browser:
        for number in range(FEW_DUE):
            answer = await browser.get(miro.authorize_url(secrets.token_urlsafe(16)))
            location = answer.headers["location"]
            code = dict(parse_qsl(urlsplit(location).query))["code"]
            tokens = await miro.exchange_code(code, now=T0)
            identity = await miro.token_info(tokens.access_token)
            connection = await store.save_connection(
                app_user_id=f"emulated-{step}-{number}",
                identity=identity,
                tokens=tokens,
                now=T0,
            )
            ids.append(connection.id)
    await _admin(
        dsn,
        "UPDATE connections SET refresh_issued_at = $1 WHERE id = ANY($2::text[])",
        T0 - timedelta(days=58, hours=12),
        ids,
    )
    return ids


async def _step(
    rows: int,
    load_seconds: float,
    dsn: str,
    store: SQLStore,
    miro: MiroOAuthClient,
    emulator: Any,
    statements: _Statements,
) -> StepResult:
    vault = TokenVault(store, miro, clock=lambda: T0)
    sample = await _sample(dsn, LOOKUPS + WARMUP)
    rng = random.Random(rows)
    statements.recording = True

    token_times: list[float] = []
    for number, (connection_id, _) in enumerate(sample):
        began = time.perf_counter()
        await vault.token_source(connection_id).access_token()
        if number >= WARMUP:
            token_times.append(time.perf_counter() - began)
    users = [user for _, user in sample]
    rng.shuffle(users)
    user_times: list[float] = []
    for number, user in enumerate(users):
        began = time.perf_counter()
        found = await vault.connection_for(user)
        if number >= WARMUP:
            user_times.append(time.perf_counter() - began)
        assert found is not None and found.is_live
    assert vault.refresh_count == 0  # every sampled token was fresh

    scan_times: list[float] = []
    due: Sequence[str] = ()
    for _ in range(SCAN_REPEATS):
        began = time.perf_counter()
        due = await store.due_for_maintenance(
            refresh_issued_before=REFRESH_CUTOFF, limit=500
        )
        scan_times.append(time.perf_counter() - began)

    # No-one due: a 1-day window puts the cutoff at 59 days, older than every connected row.
    idle = TokenVault(store, miro, clock=lambda: T0, maintenance_window=timedelta(1))
    began = time.perf_counter()
    report = await idle.maintain()
    maintain_idle = time.perf_counter() - began
    assert report.ran and report.refreshed == report.needs_reauth == 0

    # A few due: a 2-day window (cutoff 58 days) picks exactly the emulator-backed ones.
    await _connect_few(dsn, store, miro, emulator, rows)
    few = TokenVault(store, miro, clock=lambda: T0, maintenance_window=timedelta(2))
    began = time.perf_counter()
    report = await few.maintain()
    maintain_few = time.perf_counter() - began
    assert report.ran and report.failed == report.needs_reauth == 0

    statements.recording = False
    seq_scans = await _seq_scans(dsn, statements)
    del sample, users, vault, idle
    gc.collect()
    return StepResult(
        rows=rows,
        load_seconds=load_seconds,
        token_p50_ms=_ms(token_times)[0],
        token_p99_ms=_ms(token_times)[1],
        user_p50_ms=_ms(user_times)[0],
        user_p99_ms=_ms(user_times)[1],
        scan_ms=statistics.median(scan_times) * 1000,
        scan_found=len(due),
        maintain_idle_ms=maintain_idle * 1000,
        maintain_few_ms=maintain_few * 1000,
        maintain_few_refreshed=report.refreshed,
        rss_mib=_rss_mib(),
        locks=few.locks_in_memory,
        seq_scans=seq_scans,
    )


async def _sample(dsn: str, count: int) -> list[tuple[str, str]]:
    """Random connected rows (id, app user) of the bulk load."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id, app_user_id FROM connections TABLESAMPLE BERNOULLI ($1) "
            "WHERE status = 'connected' AND app_user_id LIKE 'app-user-%' LIMIT $2",
            min(100.0, 100.0 * count * 4 / max(1, await _count(connection))),
            count,
        )
    finally:
        await connection.close()
    picked = [(str(row[0]), str(row[1])) for row in rows]
    random.Random(count).shuffle(picked)
    return picked


async def _count(connection: Any) -> int:
    return int(await connection.fetchval("SELECT count(*) FROM connections"))


async def _admin(server: str, statement: str, *arguments: Any) -> None:
    connection = await asyncpg.connect(server)
    try:
        await connection.execute(statement, *arguments)
    finally:
        await connection.close()


def _steps(maximum: int) -> list[int]:
    steps = [n for n in STEPS if n < maximum]
    return [*steps, maximum]


async def run(maximum: int, server: str = DEFAULT_SERVER) -> list[StepResult]:
    """Create a database, measure at each step up to `maximum` rows, drop it."""
    name = f"mc_bench_scale_{secrets.token_hex(4)}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    dsn = make_url(server).set(database=name).render_as_string(hide_password=False)
    sqlalchemy_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    results: list[StepResult] = []
    try:
        await upgrade(sqlalchemy_url)
        key = generate_key("bench")
        db = Database(sqlalchemy_url)
        emulator = create_emulator(
            clock=lambda: T0,
            auto_approve=True,
            credits=10**9,
            clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))],
        )
        miro = MiroOAuthClient(
            MiroOAuthConfig(
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                redirect_uri=REDIRECT_URI,
                auth_url=f"{MIRO}/oauth/authorize",
                api_url=MIRO,
            ),
            transport=emulator_transport(emulator),
        )
        store = SQLStore(db, TokenCipher(KeyRing.parse(key)))
        statements = _Statements(db)
        loaded = 0
        try:
            for target in _steps(maximum):
                began = time.perf_counter()
                await asyncio.to_thread(_load, dsn, key, loaded, target)
                await _admin(dsn, "VACUUM ANALYZE connections")
                load_seconds = time.perf_counter() - began
                loaded = target
                result = await _step(
                    target, load_seconds, dsn, store, miro, emulator, statements
                )
                results.append(result)
                _print_row(result)
        finally:
            await miro.aclose()
            await db.dispose()
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


_HEADER = (
    "| connections | load (s) | token p50 / p99 (ms) | connection_for p50 / p99 (ms) "
    "| due scan (ms) | maintain, none due (ms) | maintain, 20 due (ms) "
    "| RSS (MiB) | locks held |"
)


def _print_row(result: StepResult) -> None:
    print(
        f"| {result.rows:,} | {result.load_seconds:.0f} "
        f"| {result.token_p50_ms:.2f} / {result.token_p99_ms:.2f} "
        f"| {result.user_p50_ms:.2f} / {result.user_p99_ms:.2f} "
        f"| {result.scan_ms:.1f} ({result.scan_found} due) "
        f"| {result.maintain_idle_ms:.1f} "
        f"| {result.maintain_few_ms:.0f} ({result.maintain_few_refreshed} refreshed) "
        f"| {result.rss_mib:.0f} | {result.locks} |",
        flush=True,
    )
    for statement in result.seq_scans:
        print(f"  sequential scan: {statement}", flush=True)


def main() -> None:
    """Run the scale benchmark up to `MIROCONNECT_BENCH_SCALE_MAX` rows (default 1M)."""
    maximum = int(os.environ.get("MIROCONNECT_BENCH_SCALE_MAX", STEPS[-1]))
    server = os.environ.get("MIROCONNECT_BENCH_PG_URL", DEFAULT_SERVER)
    if maximum < 10_000:
        raise SystemExit("MIROCONNECT_BENCH_SCALE_MAX must be at least 10000")
    print(
        f"scale: up to {maximum:,} connections on {make_url(server).host}, "
        f"{LOOKUPS} timed lookups of each kind per step",
        flush=True,
    )
    print(_HEADER, flush=True)
    print("|" + "---|" * _HEADER.count(" |"), flush=True)
    began = time.perf_counter()
    asyncio.run(run(maximum, server))
    print(f"total {time.perf_counter() - began:.0f} s; database dropped", flush=True)


if __name__ == "__main__":
    main()
