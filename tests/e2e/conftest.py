"""`miroconnect demo` in a subprocess on free loopback ports, and Debian's Chromium driven
by playwright, for the end-to-end tests.

Browser tests are skipped only when Chromium is missing and `CI` is not set: in CI they
must run. Screenshots go to `artifacts/` (git ignores it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.processes import free_port, running

from .stack import ARTIFACTS, chromium_marks, launch_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser

needs_chromium = chromium_marks()


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, through playwright (never `playwright install`)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with launch_chromium() as browser:
        yield browser


@dataclass(frozen=True)
class Demo:
    app_url: str
    miro_url: str
    data: Path

    def __iter__(self) -> Iterator[str]:
        return iter((self.app_url, self.miro_url))


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """`miroconnect demo` on free loopback ports."""
    port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIROCONNECT_")}
    app_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    with running(
        ["demo", "--port", str(port), "--emulator-port", str(emulator_port)]
        + ["--data", str(tmp_path / "data")],
        env=env,
        log=log,
        ready=f"{app_url}/readyz",
    ):
        yield Demo(app_url, f"http://127.0.0.1:{emulator_port}", tmp_path / "data")
    output = log.read_text()
    assert "sign in as demo / demo" in output
    assert "Traceback" not in output, output
