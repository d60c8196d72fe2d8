"""`miroconnect demo` prints its URLs and account, and logs readable lines: nothing below
WARNING unless `--verbose`, and never JSON (that is `serve`'s format)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from .test_cli import clean_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_demo(tmp_path: Path, *extra: str) -> tuple[str, str]:
    """Start the demo, load two pages, stop it; its stdout and stderr."""
    port, miro_port = free_port(), free_port()
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            [
                sys.executable,
                "-m",
                "miroconnect",
                "demo",
                "--port",
                str(port),
                "--emulator-port",
                str(miro_port),
                "--data",
                str(tmp_path / "data"),
                *extra,
            ],
            env=clean_env(),
            stdout=stdout,
            stderr=stderr,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, err.read_text()
                try:
                    if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                assert time.monotonic() < deadline, "the demo did not start"
                time.sleep(0.1)
            assert httpx2.get(f"{base}/signin").status_code == 200
        finally:
            process.terminate()
            process.wait(15)
    return out.read_text(), err.read_text()


@pytest.mark.parametrize("verbose", [False, True])
def test_demo_logs_readable_lines_and_only_warnings_by_default(
    tmp_path: Path, verbose: bool
) -> None:
    stdout, stderr = run_demo(tmp_path, *(["--verbose"] if verbose else []))
    assert "App:       http://127.0.0.1:" in stdout
    assert "(sign in as demo / demo)" in stdout
    assert "Miro:      http://127.0.0.1:" in stdout
    assert not any(line.startswith("{") for line in (stdout + stderr).splitlines())
    if verbose:
        assert "INFO    http.request" in stderr
        assert "route=/signin" in stderr
    else:
        assert "http.request" not in stderr
        assert " INFO " not in stderr
