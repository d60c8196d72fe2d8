"""`miroconnect serve` and `miroconnect emulator` as real processes on loopback, and
Chromium, for the tests that drive a host app on another origin (popup mode, the Node
example).

The service gets a SQLite database in the test's folder, migrated by `miroconnect db
upgrade`, fresh keys, and the host apps' origins as its allowed return URLs; the emulator
approves consent at once (`--auto-approve`) and learns the service's app through its control
API, so no secret is on a command line. Both are stopped when the block ends; a traceback in
either log fails the test.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import httpx2
import pytest

from miroconnect.crypto import generate_key
from support.processes import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "Processes",
    "Stack",
    "launch_chromium",
    "chromium_marks",
    "miroconnect_command",
    "requests_to",
    "service_stack",
    "wait_until_up",
]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = (
    Path(__file__).resolve().parents[2] / "artifacts"
)  # screenshots; git ignores it
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def requests_to(page: Page, prefix: str) -> list[str]:
    """The URLs `page` GETs (redirects included) that start with `prefix`, as they come:
    e.g. how many times the browser was sent to Miro's consent page."""
    seen: list[str] = []

    def record(request: Request) -> None:
        if request.method == "GET" and request.url.startswith(prefix):
            seen.append(request.url)

    page.on("request", record)
    return seen


def chromium_marks() -> list[pytest.MarkDecorator]:
    """`browser`, and skipped when Chromium is missing, unless in CI (where it must run)."""
    return [
        pytest.mark.browser,
        pytest.mark.skipif(
            not CHROMIUM.exists() and not os.environ.get("CI"),
            reason="Chromium is not installed at /usr/bin/chromium (in CI it must be)",
        ),
    ]


@contextlib.contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, with the team's launch flags, closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Stack:
    """The running service and emulator."""

    service: str  # e.g. http://127.0.0.1:40123
    miro: str
    api_key: str = field(repr=False)

    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `url` until it answers 200; fail with the log if the process exits first
    or 30 s pass."""
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, log.read_text(errors="replace")
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(url, timeout=1).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{url} did not come up in 30 s"
        time.sleep(0.1)


class Processes:
    """Child processes with a log file each in `folder`; as a context manager, all are
    stopped (TERM, then KILL) when the block ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        output = self.log(name).open("wb")
        process = subprocess.Popen(  # noqa: S603 - our own commands, fixed arguments
            list(argv), stdout=output, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
        self.running.append((process, output))
        return process

    def stop(self) -> None:
        for process, _ in self.running:
            process.terminate()
        for process, output in self.running:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            output.close()
        self.running.clear()


@dataclass(frozen=True)
class _MiroApp:
    """The service's app, registered at the emulator."""

    client_id: str
    client_secret: str = field(repr=False)


def miroconnect_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "miroconnect", *args]


def _service_env(
    folder: Path,
    service: str,
    miro: str,
    app: _MiroApp,
    api_key: str,
    allowed_return_urls: Sequence[str],
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIROCONNECT_")}
    env.update(
        MIROCONNECT_DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'service.db'}",
        MIROCONNECT_MIRO_CLIENT_ID=app.client_id,
        MIROCONNECT_MIRO_CLIENT_SECRET=app.client_secret,
        MIROCONNECT_MIRO_REDIRECT_URI=f"{service}/connect/callback",
        MIROCONNECT_MIRO_AUTH_URL=f"{miro}/oauth/authorize",
        MIROCONNECT_MIRO_API_URL=miro,
        MIROCONNECT_ENCRYPTION_KEYS=generate_key("e2e1"),
        MIROCONNECT_SECRET_KEY=secrets.token_urlsafe(48),
        MIROCONNECT_API_KEYS=api_key,
        MIROCONNECT_ALLOWED_RETURN_URLS=",".join(allowed_return_urls),
        MIROCONNECT_LOG_FORMAT="text",
        MIROCONNECT_LOG_LEVEL="WARNING",
    )
    return env


@contextlib.contextmanager
def service_stack(folder: Path, allowed_return_urls: Sequence[str]) -> Iterator[Stack]:
    """The emulator and `miroconnect serve` on free loopback ports, until the block ends."""
    miro = f"http://127.0.0.1:{free_port()}"
    service = f"http://127.0.0.1:{free_port()}"
    app = _MiroApp(f"3074457{secrets.randbelow(10**12)}", secrets.token_urlsafe(24))
    api_key = "e2e-" + secrets.token_urlsafe(24)
    env = _service_env(folder, service, miro, app, api_key, allowed_return_urls)
    with Processes(folder) as children:
        emulator = children.start(
            "emulator",
            miroconnect_command(
                "emulator",
                "--port",
                miro.rsplit(":", 1)[1],
                "--auto-approve",
                "--search-delay",
                "0",
            ),
            env,
        )
        wait_until_up(f"{miro}/_emulator/stats", emulator, children.log("emulator"))
        registered = httpx2.post(
            f"{miro}/_emulator/clients",
            json={
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "redirect_uris": [f"{service}/connect/callback"],
            },
        )
        assert registered.status_code == 201, registered.text
        upgraded = subprocess.run(  # noqa: S603 - our own command, fixed arguments
            miroconnect_command("db", "upgrade"),
            env=env,
            capture_output=True,
            check=False,
        )
        assert upgraded.returncode == 0, upgraded.stderr
        serve = children.start(
            "serve",
            miroconnect_command("serve", "--port", service.rsplit(":", 1)[1]),
            env,
        )
        wait_until_up(f"{service}/readyz", serve, children.log("serve"))
        yield Stack(service, miro, api_key)
    for name in ("emulator", "serve"):
        text = children.log(name).read_text(errors="replace")
        assert "Traceback" not in text, text
