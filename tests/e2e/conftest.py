"""`miroconnect demo` in a subprocess on free loopback ports, for the end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .stack import Processes, free_port, miroconnect_command, wait_until_up


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
    with Processes(tmp_path) as children:
        process = children.start(
            "demo",
            miroconnect_command(
                "demo",
                "--port",
                str(port),
                "--emulator-port",
                str(emulator_port),
                "--data",
                str(tmp_path / "data"),
            ),
            env,
        )
        wait_until_up(f"{app_url}/readyz", process, children.log("demo"))
        yield Demo(app_url, f"http://127.0.0.1:{emulator_port}", tmp_path / "data")
    output = children.log("demo").read_text()
    assert "sign in as demo / demo" in output
    assert "Traceback" not in output, output
