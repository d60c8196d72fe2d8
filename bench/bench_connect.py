"""Connect-flow throughput: complete OAuth round trips per second, miroconnect versus a
minimal Authlib Starlette app, against the same emulator in the same run.

On 127.0.0.1, all stopped at the end: `miroconnect emulator` (uvicorn, auto-approve), and
two apps, each one uvicorn process storing in a SQLite file of its own:

- *miroconnect*: `miroconnect serve` (SQLite). A round trip is the service-mode flow:
  the host app's `POST /api/v1/users/{id}/boards` (202, a pending authorization with the
  board as its action), the browser opens the launch link (303 to Miro, binding cookie),
  consent at the emulator (302 back), the callback (state and browser checks, code
  exchange, token info, tokens encrypted and held, 303 to the app with `miro_result`), and
  the host's confirm (the held tokens become the user's connection, the board is created
  through the exactly-once action runner, 201): 4 requests to the service, 1 to the
  emulator, 3 from the service to the emulator;
- *miroconnect, library*: `bench/_library_app.py`, miroconnect embedded in a FastAPI host
  app with its own login (a cookie), the like-for-like of the Authlib app: the host's page
  (`GET /projects`: the form and its CSRF token), its form posted to `POST /connect/boards`
  (303 to Miro, the state bound to the browser and the user), consent at the emulator (302
  back), the callback (state, browser and user checks, code exchange, token info, tokens
  encrypted and stored, the board through the exactly-once action runner, 303 with
  `miro_board_id`): 3 requests to the app, 1 to the emulator, 3 from the app to the
  emulator;
- *Authlib*: `bench/_authlib_app.py` (Authlib's Starlette client on httpx2, tokens in
  SQLite in plaintext, the board by a raw httpx2 call): `GET /login` (302 to Miro, state in
  the session cookie), consent at the emulator (302 back), `GET /callback` (state check,
  code exchange, store, board, 303 with `miro_board_id`): 2 requests to the app, 1 to the
  emulator, 2 from the app to the emulator. Authlib builds a new HTTP client, and with it a
  TLS context (about 20 ms of CPU), for every code exchange; *authlib-tuned* is the same
  app with one TLS context shared through `client_kwargs`, served by the same process.

Each round trip is a new browser (empty cookie jar), a new app user and a new Miro user.
Besides the rate, each series reports the CPU each app's process, the emulator and this
process (the browsers) used per round trip (user + system time from `/proc`), which holds
up on a busy machine better than the rate does. The emulator's and the browsers' share
bounds the rate even for an app that cost nothing (printed as "a free app would top out
near"): the three share two cores.
Both sides are driven by the same loop: `CONCURRENCY` tasks, each with its own
`httpx2.AsyncClient` (no redirects followed: every hop is a request of the loop), a series
is time-bounded (`SECONDS`), sides alternate for `ROUNDS` rounds. A round trip counts when
the final redirect carries a board id; anything else is a failure.

Rerun: `.venv/bin/python -m bench bench_connect` (about 55 s). Scale with
`MIROCONNECT_BENCH_CONNECT_CONCURRENCY` (default 8), `_SECONDS` (8), `_ROUNDS` (2).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx2

from bench._library_app import USER_COOKIE
from bench._stack import (
    EMULATOR_USER_COOKIE,
    Children,
    MiroApp,
    Series,
    ServiceKeys,
    children,
    connect_user,
    cpu_seconds,
    env_int,
    free_port,
    pooled,
    register_app,
    service_env,
    start_emulator,
    start_service,
    wait_ready,
)
from miroconnect.storage.migrate import upgrade

__all__ = ["main", "run"]

REPO = Path(__file__).resolve().parent.parent

Flow = Callable[[httpx2.AsyncClient, str], Awaitable[None]]
SIDES = ("miroconnect", "miroconnect-library", "authlib", "authlib-tuned")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _series(side: str, concurrency: int, seconds: float, flow: Flow) -> Series:
    latencies: list[float] = []
    failures: list[str] = []
    prefix = f"{side[:2]}{secrets.token_hex(3)}"
    numbers = iter(range(10**9))

    async def lane(browser: httpx2.AsyncClient, deadline: float) -> None:
        for number in numbers:
            if time.monotonic() >= deadline:
                return
            began = time.monotonic()
            try:
                await flow(browser, f"{prefix}-{number}")
            except (RuntimeError, KeyError, httpx2.HTTPError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            latencies.append(time.monotonic() - began)

    browsers = [httpx2.AsyncClient(timeout=60) for _ in range(concurrency)]
    try:
        # One untimed round trip per task: connections open, code paths warm.
        await asyncio.gather(
            *(flow(b, f"{prefix}-warm{i}") for i, b in enumerate(browsers))
        )
        began = time.monotonic()
        deadline = began + seconds
        await asyncio.gather(*(lane(browser, deadline) for browser in browsers))
        elapsed = time.monotonic() - began
    finally:
        for browser in browsers:
            await browser.aclose()
    return Series(
        side,
        len(latencies),
        len(failures),
        elapsed,
        tuple(latencies),
        failures[0] if failures else None,
    )


async def _authlib_flow(browser: httpx2.AsyncClient, app: str, name: str) -> None:
    browser.cookies.clear()
    login = await browser.get(f"{app}/login", params={"user": name})
    if login.status_code != 302:
        raise RuntimeError(f"login: {login.status_code}")
    await _consent_and_back(browser, login.headers["location"], name)


async def _library_flow(browser: httpx2.AsyncClient, app: str, name: str) -> None:
    browser.cookies.clear()
    browser.cookies.set(USER_COOKIE, name)  # the host's login
    page = await browser.get(f"{app}/projects")
    token = CSRF_FIELD.search(page.text)
    if page.status_code != 200 or token is None:
        raise RuntimeError(f"page: {page.status_code}")
    started = await browser.post(
        f"{app}/connect/boards", data={"csrf_token": token[1], "name": "connect"}
    )
    if started.status_code != 303:
        raise RuntimeError(f"start: {started.status_code} {started.text[:200]}")
    await _consent_and_back(browser, started.headers["location"], name)


async def _consent_and_back(
    browser: httpx2.AsyncClient, authorize_url: str, name: str
) -> None:
    """Consent at the emulator as Miro user `miro-NAME`, then the app's callback, which
    must send the browser on (303) with the new board's id."""
    consent = await browser.get(
        authorize_url, headers={"cookie": f"{EMULATOR_USER_COOKIE}=miro-{name}"}
    )
    if consent.status_code != 302:
        raise RuntimeError(f"consent: {consent.status_code}")
    back = await browser.get(consent.headers["location"])
    board = dict(parse_qsl(urlsplit(back.headers.get("location", "")).query))
    if back.status_code != 303 or not board.get("miro_board_id"):
        raise RuntimeError(f"callback: {back.status_code} {back.text[:200]}")


async def run(*, concurrency: int, seconds: float, rounds: int) -> list[Series]:
    """Start the emulator and the three apps, alternate the series, stop everything."""
    with tempfile.TemporaryDirectory() as folder, children(Path(folder)) as group:
        ours_port, authlib_port, emulator_port = free_port(), free_port(), free_port()
        library_port = free_port()
        emulator = start_emulator(group, emulator_port, credits=10**9)
        ours_app = MiroApp(
            "3458764" + str(secrets.randbelow(10**9)),
            secrets.token_urlsafe(24),
            (f"http://127.0.0.1:{ours_port}/connect/callback",),
        )
        library_app = MiroApp(
            "3458766" + str(secrets.randbelow(10**9)),
            secrets.token_urlsafe(24),
            (f"http://127.0.0.1:{library_port}/connect/callback",),
        )
        authlib_app = MiroApp(
            "3458765" + str(secrets.randbelow(10**9)),
            secrets.token_urlsafe(24),
            (
                f"http://127.0.0.1:{authlib_port}/callback",
                f"http://127.0.0.1:{authlib_port}/tuned/callback",
            ),
        )
        database_url = f"sqlite+aiosqlite:///{Path(folder) / 'miroconnect.db'}"
        await upgrade(database_url)
        keys = ServiceKeys.generate()
        ours_env = service_env(
            database_url=database_url,
            app=ours_app,
            redirect_uri=ours_app.redirect_uris[0],
            emulator=emulator,
            keys=keys,
        )
        ours_process = start_service(group, "serve", ours_port, ours_env)
        library_database = f"sqlite+aiosqlite:///{Path(folder) / 'library.db'}"
        await upgrade(library_database)
        library_env = service_env(
            database_url=library_database,
            app=library_app,
            redirect_uri=library_app.redirect_uris[0],
            emulator=emulator,
            keys=ServiceKeys.generate(),
        )
        library_process = _uvicorn(
            group, "library", "bench._library_app:create_app", library_port, library_env
        )
        authlib_env = {
            k: v for k, v in os.environ.items() if not k.startswith("BENCH_")
        }
        authlib_env.update(
            BENCH_AUTHLIB_EMULATOR=emulator,
            BENCH_AUTHLIB_CLIENT_ID=authlib_app.client_id,
            BENCH_AUTHLIB_CLIENT_SECRET=authlib_app.client_secret,
            BENCH_AUTHLIB_BASE_URL=f"http://127.0.0.1:{authlib_port}",
            BENCH_AUTHLIB_DATABASE=str(Path(folder) / "authlib.db"),
            BENCH_AUTHLIB_SESSION_SECRET=secrets.token_urlsafe(32),
        )
        authlib_process = _uvicorn(
            group, "authlib", "bench._authlib_app:create_app", authlib_port, authlib_env
        )
        await wait_ready(
            f"{emulator}/_emulator/stats", group.running[0][1], group.log("emulator")
        )
        await register_app(emulator, ours_app)
        await register_app(emulator, authlib_app)
        await register_app(emulator, library_app)
        ours = f"http://127.0.0.1:{ours_port}"
        authlib = f"http://127.0.0.1:{authlib_port}"
        library = f"http://127.0.0.1:{library_port}"
        await wait_ready(f"{ours}/readyz", ours_process, group.log("serve"))
        await _wait_http(f"{library}/projects", library_process, group.log("library"))
        await _wait_http(f"{authlib}/callback", authlib_process, group.log("authlib"))

        async def ours_flow(browser: httpx2.AsyncClient, name: str) -> None:
            await connect_user(browser, ours, keys.api_key, name, f"miro-{name}")

        async def library_flow(browser: httpx2.AsyncClient, name: str) -> None:
            await _library_flow(browser, library, name)

        async def authlib_flow(browser: httpx2.AsyncClient, name: str) -> None:
            await _authlib_flow(browser, authlib, name)

        async def tuned_flow(browser: httpx2.AsyncClient, name: str) -> None:
            await _authlib_flow(browser, f"{authlib}/tuned", name)

        results: list[Series] = []
        cpu = {side: [0.0, 0.0, 0.0] for side in SIDES}
        for number in range(rounds):
            for side, flow, process in (
                ("miroconnect", ours_flow, ours_process),
                ("miroconnect-library", library_flow, library_process),
                ("authlib", authlib_flow, authlib_process),
                ("authlib-tuned", tuned_flow, authlib_process),
            ):
                app_pid = process.pid
                # the app, the emulator, and this process (the browsers)
                pids = [app_pid], [group.running[0][1].pid], [os.getpid()]
                before = [cpu_seconds(p) for p in pids]
                series = await _series(side, concurrency, seconds, flow)
                spent = [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]
                results.append(series)
                cpu[side] = [c + x for c, x in zip(cpu[side], spent, strict=True)]
                count = max(1, series.count)
                print(
                    f"round {number + 1} {side:19}: "
                    f"{series.timing('round trips', rate='5.1f')}, "
                    f"CPU {1000 * spent[0] / count:.1f} ms in the app + "
                    f"{1000 * spent[1] / count:.1f} ms in the emulator + "
                    f"{1000 * spent[2] / count:.1f} ms in the browsers, "
                    f"failed {series.failed}",
                    flush=True,
                )
                if series.first_failure:
                    print(f"  first failure: {series.first_failure}", flush=True)
        for side in SIDES:
            count = max(1, sum(r.count for r in results if r.side == side))
            app_cpu, emulator_cpu, browsers_cpu = (1000 * c / count for c in cpu[side])
            # What the rest of the rig spends on one round trip bounds the rate even
            # for an app that cost nothing: two cores shared by all three processes.
            ceiling = 2000 / (emulator_cpu + browsers_cpu)
            print(
                f"CPU per round trip, {side}: {app_cpu:.1f} ms in the app, "
                f"{emulator_cpu:.1f} ms in the emulator, "
                f"{browsers_cpu:.1f} ms in the browsers "
                f"(a free app would top out near {ceiling:.0f}/s on 2 cores)",
                flush=True,
            )
        return results


def _uvicorn(
    group: Children, name: str, factory: str, port: int, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """`uvicorn FACTORY --factory` on 127.0.0.1:`port`, uvicorn's defaults otherwise (the
    Authlib app and the library app are served alike)."""
    return group.start(
        name,
        [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--app-dir",
            str(REPO),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env,
    )


async def _wait_http(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    """The Authlib app and the library app have no health route: wait until `url`
    answers HTTP at all."""
    deadline = time.monotonic() + timeout
    async with httpx2.AsyncClient(timeout=2) as client:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                await client.get(url)
            except httpx2.TransportError:
                await asyncio.sleep(0.2)
                continue
            return
    tail = log.read_text(errors="replace").splitlines()[-15:]
    raise RuntimeError(f"{url} did not come up:\n" + "\n".join(tail))


def main() -> None:
    """Run with the defaults (or the MIROCONNECT_BENCH_CONNECT_* variables)."""
    concurrency = env_int("CONNECT", "CONCURRENCY", 8)
    seconds = env_int("CONNECT", "SECONDS", 8)
    rounds = env_int("CONNECT", "ROUNDS", 2)
    print(
        f"connect: miroconnect serve and miroconnect in a host app (SQLite) vs Authlib "
        f"Starlette (SQLite), one "
        f"uvicorn process each, {concurrency} concurrent, {rounds} x {seconds} s per "
        f"side; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = asyncio.run(run(concurrency=concurrency, seconds=seconds, rounds=rounds))
    ours = pooled(results, "miroconnect")
    library = pooled(results, "miroconnect-library")
    theirs = pooled(results, "authlib")
    tuned = pooled(results, "authlib-tuned")
    print("| app | round trips/s | p50 | p99 | failed |", flush=True)
    for label, (rate, p50, p99, failed) in (
        ("miroconnect (service mode)", ours),
        ("miroconnect (library)", library),
        ("Authlib", theirs),
        ("Authlib, shared TLS context", tuned),
    ):
        print(
            f"| {label} | {rate:.1f} | {p50:.1f} ms | {p99:.1f} ms | {failed} |",
            flush=True,
        )
    print(
        f"ratio miroconnect / Authlib: {ours[0] / theirs[0]:.2f}; miroconnect / Authlib "
        f"with a shared TLS context: {ours[0] / tuned[0]:.2f}; library / Authlib with "
        f"a shared TLS context: {library[0] / tuned[0]:.2f}; load average at the end "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
