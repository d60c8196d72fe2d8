"""Plumbing shared by the load benches: ports, a throwaway PostgreSQL database, child
processes in their own process groups (always stopped), the emulator and `miroconnect serve`
as real servers on loopback, and the service-mode connect flow driven like a browser.

Not a bench itself (no `bench_` prefix): `python -m bench` does not run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncpg
import httpx2
from sqlalchemy.engine import make_url

from miroconnect.crypto import generate_key
from miroconnect.storage.migrate import upgrade

__all__ = [
    "Call",
    "DEFAULT_PG_SERVER",
    "EMULATOR_USER_COOKIE",
    "Children",
    "MiroApp",
    "Series",
    "ServeStack",
    "ServiceKeys",
    "ServiceRun",
    "children",
    "connect_user",
    "cpu_seconds",
    "create_database",
    "direct_token",
    "drop_database",
    "env_int",
    "free_port",
    "percentile_ms",
    "pooled",
    "register_app",
    "service_against_emulator",
    "service_env",
    "start_emulator",
    "start_serve_stack",
    "start_service",
    "timed_series",
    "wait_ready",
]

DEFAULT_PG_SERVER = os.environ.get(
    "MIROCONNECT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
EMULATOR_USER_COOKIE = (
    "miro_emulator_user"  # the emulator's sign-in cookie: who consents
)
RETURN_ORIGIN = "https://app.bench.test"  # the host app; the driver never follows it
MAX_CALLS = 20_000  # per timed series, at most
Call = Callable[[httpx2.AsyncClient, int, int], Awaitable[bool]]
"""One request of a series: (client, lane, index) -> whether it succeeded."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile_ms(samples: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile of `samples` (seconds), in milliseconds (nearest rank)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    if fraction == 0.5:
        return statistics.median(ordered) * 1000
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index] * 1000


# -- child processes -----------------------------------------------------------------------


def env_int(bench: str, name: str, default: int) -> int:
    """`MIROCONNECT_BENCH_<BENCH>_<NAME>` as an int, else `default`."""
    return int(os.environ.get(f"MIROCONNECT_BENCH_{bench}_{name}", default))


@dataclass(frozen=True)
class Series:
    """One timed series of requests from one side of a side-by-side bench."""

    side: str
    count: int
    failed: int
    seconds: float
    latencies: tuple[float, ...]
    first_failure: str | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def timing(self, unit: str, rate: str = "6.0f") -> str:
        """`<count> <unit> in <s> s = <rate>/s, p50 <ms> ms, p99 <ms> ms`: the part of
        a series' line every bench prints alike."""
        return (
            f"{self.count} {unit} in {self.seconds:.1f} s = {self.rate:{rate}}/s, p50 "
            f"{percentile_ms(self.latencies, 0.5):6.1f} ms, p99 "
            f"{percentile_ms(self.latencies, 0.99):6.1f} ms"
        )


def pooled(results: Sequence[Series], side: str) -> tuple[float, float, float, int]:
    """Requests/s, p50 ms, p99 ms and failures of one side over every round."""
    mine = [r for r in results if r.side == side]
    latencies = [x for r in mine for x in r.latencies]
    return (
        sum(r.count for r in mine) / sum(r.seconds for r in mine),
        percentile_ms(latencies, 0.5),
        percentile_ms(latencies, 0.99),
        sum(r.failed for r in mine),
    )


@dataclass
class Children:
    """Child processes, each the leader of its own process group (so a uvicorn master
    and its workers stop together), with output to a log file each."""

    folder: Path
    running: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = field(
        default_factory=list
    )

    def log(self, name: str) -> Path:
        """Where the output of child `name` goes."""
        return self.folder / f"{name}.log"

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in a new session; its stdout and stderr go to `log(name)`."""
        output = self.log(name).open("wb")
        try:
            process = subprocess.Popen(  # noqa: S603 - our own commands, fixed arguments
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except BaseException:
            output.close()
            raise
        self.running.append((name, process, output))
        return process

    def stop(self) -> None:
        """SIGTERM every group, wait up to 15 s, then SIGKILL what is left."""
        for _, process, _ in self.running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process, _ in self.running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for _, process, output in self.running:
            # Workers of a group may outlive their master: kill the group in any case.
            _signal_group(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            output.close()
        self.running.clear()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)  # the child leads its group (start_new_session)


@contextlib.contextmanager
def children(folder: Path) -> Iterator[Children]:
    """`Children` that are all stopped when the block ends, however it ends. Their logs go
    to `folder`, or to `MIROCONNECT_BENCH_LOGS` when set (kept for a post-mortem)."""
    kept = os.environ.get("MIROCONNECT_BENCH_LOGS")
    if kept:
        folder = Path(kept)
        folder.mkdir(parents=True, exist_ok=True)
    group = Children(folder)
    try:
        yield group
    finally:
        group.stop()


async def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90
) -> None:
    """Poll `url` until it answers 200; fail with the child's last log lines if it
    exits or takes longer than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    async with httpx2.AsyncClient(timeout=2) as client:
        while True:
            with contextlib.suppress(httpx2.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace").splitlines()[-15:]
                raise RuntimeError(
                    f"{url} did not come up (exit {process.poll()}):\n"
                    + "\n".join(tail)
                )
            await asyncio.sleep(0.2)


# -- PostgreSQL ------------------------------------------------------------------------------


async def create_database(server: str, prefix: str) -> tuple[str, str]:
    """A fresh database on `server`: its name and its SQLAlchemy (asyncpg) URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(server)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = make_url(server).set(drivername="postgresql+asyncpg", database=name)
    return name, url.render_as_string(hide_password=False)


async def drop_database(server: str, name: str) -> None:
    """Drop `name`, disconnecting whoever is still on it."""
    connection = await asyncpg.connect(server)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


# -- the emulator and the service --------------------------------------------------------------


@dataclass(frozen=True)
class MiroApp:
    """A Miro app registered at the emulator."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...]


def start_emulator(
    group: Children, port: int, *, credits: int, window: int = 60
) -> str:
    """`miroconnect emulator` (uvicorn) with auto-approve, `credits` per user and app per
    `window` seconds; returns its base URL. Apps are registered afterwards through the
    control API, so no secret is on a command line."""
    group.start(
        "emulator",
        [
            sys.executable,
            "-m",
            "miroconnect",
            "emulator",
            "--port",
            str(port),
            "--auto-approve",
            "--credits",
            str(credits),
            "--window",
            str(window),
        ],
    )
    return f"http://127.0.0.1:{port}"


async def register_app(
    emulator: str, app: MiroApp, *, access_token_ttl: int | None = None
) -> None:
    """`POST /_emulator/clients` (expiring tokens; the TTL when given, else one hour)."""
    body: dict[str, object] = {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "redirect_uris": list(app.redirect_uris),
    }
    if access_token_ttl is not None:
        body["access_token_ttl"] = access_token_ttl
    async with httpx2.AsyncClient(timeout=10) as client:
        answer = await client.post(f"{emulator}/_emulator/clients", json=body)
        answer.raise_for_status()


@dataclass(frozen=True)
class ServiceKeys:
    """Secrets generated for one run of the service (never printed)."""

    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    encryption_keys: str = field(repr=False)

    @classmethod
    def generate(cls) -> ServiceKeys:
        return cls(
            api_key="bench-" + secrets.token_urlsafe(24),
            secret_key=secrets.token_urlsafe(48),
            encryption_keys=generate_key("bench1"),
        )


def service_env(
    *,
    database_url: str,
    app: MiroApp,
    redirect_uri: str,
    emulator: str,
    keys: ServiceKeys,
) -> dict[str, str]:
    """The environment of `miroconnect serve` (ours only: inherited MIROCONNECT_* dropped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIROCONNECT_")}
    env.update(
        MIROCONNECT_DATABASE_URL=database_url,
        MIROCONNECT_MIRO_CLIENT_ID=app.client_id,
        MIROCONNECT_MIRO_CLIENT_SECRET=app.client_secret,
        MIROCONNECT_MIRO_REDIRECT_URI=redirect_uri,
        MIROCONNECT_MIRO_AUTH_URL=f"{emulator}/oauth/authorize",
        MIROCONNECT_MIRO_API_URL=emulator,
        MIROCONNECT_ENCRYPTION_KEYS=keys.encryption_keys,
        MIROCONNECT_SECRET_KEY=keys.secret_key,
        MIROCONNECT_API_KEYS=keys.api_key,
        MIROCONNECT_ALLOWED_RETURN_URLS=RETURN_ORIGIN,
        MIROCONNECT_LOG_FORMAT="json",
        MIROCONNECT_LOG_LEVEL="INFO",
    )
    return env


def start_service(
    group: Children, name: str, port: int, env: Mapping[str, str], *, workers: int = 1
) -> subprocess.Popen[bytes]:
    """`miroconnect serve --port PORT --workers N` on 127.0.0.1."""
    return group.start(
        name,
        [
            sys.executable,
            "-m",
            "miroconnect",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env,
    )


@dataclass(frozen=True)
class ServeStack:
    """The emulator and `miroconnect serve` started by `start_serve_stack`."""

    service: str
    emulator: str
    app: MiroApp
    keys: ServiceKeys


async def start_serve_stack(
    group: Children,
    database_url: str,
    *,
    workers: int,
    env: Mapping[str, str] | None = None,
) -> ServeStack:
    """The emulator (credits too many to matter), an app registered there, and
    `miroconnect serve --workers N` on `database_url` with `env` added to its
    environment; returns once both answer."""
    port = free_port()
    emulator = start_emulator(group, free_port(), credits=10**9)
    emulator_process = group.running[-1][1]
    redirect = f"http://127.0.0.1:{port}/connect/callback"
    app = MiroApp(_client_id(), secrets.token_urlsafe(24), (redirect,))
    keys = ServiceKeys.generate()
    service_vars = service_env(
        database_url=database_url,
        app=app,
        redirect_uri=redirect,
        emulator=emulator,
        keys=keys,
    )
    process = start_service(
        group, "serve", port, service_vars | dict(env or {}), workers=workers
    )
    await wait_ready(
        f"{emulator}/_emulator/stats", emulator_process, group.log("emulator")
    )
    await register_app(emulator, app)
    service = f"http://127.0.0.1:{port}"
    await wait_ready(f"{service}/readyz", process, group.log("serve"))
    return ServeStack(service, emulator, app, keys)


async def timed_series(
    side: str,
    concurrency: int,
    seconds: float,
    call: Call,
) -> Series:
    """`concurrency` tasks calling `call(client, lane, index)` (True: it worked) over one
    client for `seconds` (at most `MAX_CALLS` calls), after one untimed call each."""
    latencies: list[float] = []
    failed = 0
    limits = httpx2.Limits(max_connections=concurrency)
    async with httpx2.AsyncClient(timeout=60, limits=limits) as client:
        # One untimed call per task: connections open, workers warm.
        await asyncio.gather(*(call(client, lane, -1) for lane in range(concurrency)))
        deadline = time.monotonic() + seconds
        counter = iter(range(MAX_CALLS))

        async def lane(number: int) -> None:
            nonlocal failed
            for index in counter:
                if time.monotonic() >= deadline:
                    return
                began = time.monotonic()
                ok = await call(client, number, index)
                latencies.append(time.monotonic() - began)
                failed += not ok

        began = time.monotonic()
        await asyncio.gather(*(lane(number) for number in range(concurrency)))
        elapsed = time.monotonic() - began
    return Series(side, len(latencies), failed, elapsed, tuple(latencies))


async def direct_token(emulator: str, app: MiroApp, miro_user: str) -> str:
    """An access token for `miro_user` from the emulator's own authorize + exchange."""
    redirect = app.redirect_uris[0]
    query = urlencode(
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": redirect,
            "state": secrets.token_urlsafe(8),
        }
    )
    async with httpx2.AsyncClient(timeout=10) as client:
        consent = await client.get(
            f"{emulator}/oauth/authorize?{query}",
            headers={"cookie": f"{EMULATOR_USER_COOKIE}={miro_user}"},
        )
        code = dict(parse_qsl(urlsplit(consent.headers["location"]).query))["code"]
        answer = await client.post(
            f"{emulator}/v1/oauth/token",
            data={
                "grant_type": "authorization_code",
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "code": code,
                "redirect_uri": redirect,
            },
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token


@dataclass(frozen=True)
class ServiceRun:
    """`miroconnect serve` against the emulator, as `service_against_emulator` started
    them: their URLs, the service's API key, and a second app for direct calls."""

    service: str
    emulator: str
    api_key: str = field(repr=False)
    direct_app: MiroApp


@contextlib.asynccontextmanager
async def service_against_emulator(
    server: str, prefix: str, *, workers: int
) -> AsyncIterator[ServiceRun]:
    """A fresh PostgreSQL database (`prefix`, dropped at the end), and on it
    `start_serve_stack` (the emulator, `miroconnect serve --workers N`, its app) with
    another app for direct calls; stopped when the block ends, however it ends."""
    name, database_url = await create_database(server, prefix)
    try:
        await upgrade(database_url)
        with tempfile.TemporaryDirectory() as folder, children(Path(folder)) as group:
            stack = await start_serve_stack(group, database_url, workers=workers)
            direct_app = MiroApp(
                _client_id(),
                secrets.token_urlsafe(24),
                ("http://127.0.0.1:9/never-fetched",),
            )
            await register_app(stack.emulator, direct_app)
            yield ServiceRun(
                stack.service, stack.emulator, stack.keys.api_key, direct_app
            )
    finally:
        await drop_database(server, name)


def _client_id() -> str:
    return "34587" + str(secrets.randbelow(10**12))


# -- the connect flow, as a browser and the host app drive it ----------------------------------


async def connect_user(
    browser: httpx2.AsyncClient,
    service: str,
    api_key: str,
    app_user: str,
    miro_user: str,
) -> str:
    """One service-mode round trip: start (`POST .../boards` -> 202), the launch link,
    consent at the emulator (auto-approve, signed in as `miro_user`), the callback (code
    exchange, token info, consent held, 303 with `miro_result`), and the host's confirm
    (tokens stored, board). Returns the board id the confirm answered.

    `browser` must follow no redirects; its cookie jar is cleared first (a new browser).
    """
    browser.cookies.clear()
    started = await browser.post(
        f"{service}/api/v1/users/{app_user}/boards",
        json={"name": "connect", "return_url": f"{RETURN_ORIGIN}/done"},
        headers={"authorization": f"Bearer {api_key}"},
    )
    if started.status_code != 202:
        raise RuntimeError(f"start: {started.status_code} {started.text[:200]}")
    launched = await browser.get(started.json()["authorize_url"])
    if launched.status_code != 303:
        raise RuntimeError(f"launch: {launched.status_code}")
    consent = await browser.get(
        launched.headers["location"],
        headers={"cookie": f"{EMULATOR_USER_COOKIE}={miro_user}"},
    )
    if consent.status_code != 302:
        raise RuntimeError(f"consent: {consent.status_code}")
    back = await browser.get(consent.headers["location"])
    return await confirm(browser, service, api_key, app_user, back)


async def confirm(
    http: httpx2.AsyncClient,
    service: str,
    api_key: str,
    app_user: str,
    back: httpx2.Response,
) -> str:
    """The host app's half of service mode: read `miro_result` from the callback's
    redirect and confirm it for `app_user`; the board id of the flow."""
    query = dict(parse_qsl(urlsplit(back.headers.get("location", "")).query))
    result = query.get("miro_result")
    if back.status_code != 303 or not result:
        reason = query.get("miro_error")
        raise RuntimeError(f"callback: {back.status_code} {reason or back.text[:200]}")
    confirmed = await http.post(
        f"{service}/api/v1/users/{app_user}/connection/confirm",
        json={"result": result},
        headers={"authorization": f"Bearer {api_key}"},
    )
    if confirmed.status_code != 201:
        raise RuntimeError(f"confirm: {confirmed.status_code} {confirmed.text[:200]}")
    board: str = confirmed.json()["board"]["id"]
    return board


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds the processes `pids` (every thread of each) have used
    so far, from `/proc/<pid>/stat`; a process that is gone counts 0."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces) start at field 3.
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS
