"""`miroconnect` commands in a subprocess, for the tests that need what only a real process
shows (its ports, its log lines, its shutdown): a free port, and a command that runs until
the block ends once it answers.

```python
port = free_port()
with running(["serve", "--port", str(port)], env=env, log=tmp_path / "serve.log",
             ready=f"http://127.0.0.1:{port}/readyz"):
    ...
```
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx2

__all__ = ["free_port", "running"]


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    args: list[str],
    *,
    env: Mapping[str, str],
    log: Path,
    ready: str,
    errors: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m miroconnect *args`, its output in `log` (stderr in `errors` when
    given), until `ready` answers 200; yield the process; stop it (SIGTERM, then SIGKILL
    after 15 s) when the block ends. Fails with the log if it exits or is not ready in
    `timeout` seconds."""
    with ExitStack() as files:
        out = files.enter_context(log.open("w"))
        err = files.enter_context(errors.open("w")) if errors else subprocess.STDOUT
        process = subprocess.Popen(  # noqa: S603 - our own command, the test's arguments
            [sys.executable, "-m", "miroconnect", *args],
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                assert process.poll() is None, log.read_text() + (
                    errors.read_text() if errors else ""
                )
                try:
                    if httpx2.get(ready, timeout=1).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{args[0]} did not start"
                time.sleep(0.1)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
