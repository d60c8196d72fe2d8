"""`miroconnect demo` prints its URLs and account, and logs readable lines: nothing below
WARNING unless `--verbose`, and never JSON (that is `serve`'s format)."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from support.processes import free_port, running

from .test_cli import clean_env


def run_demo(tmp_path: Path, *extra: str) -> tuple[str, str]:
    """Start the demo, load two pages, stop it; its stdout and stderr."""
    port, miro_port = free_port(), free_port()
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    base = f"http://127.0.0.1:{port}"
    with running(
        ["demo", "--port", str(port), "--emulator-port", str(miro_port)]
        + ["--data", str(tmp_path / "data"), *extra],
        env=clean_env(),
        log=out,
        errors=err,
        ready=f"{base}/healthz",
    ):
        assert httpx2.get(f"{base}/signin").status_code == 200
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
