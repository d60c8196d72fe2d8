"""`serve_in_thread`: the emulator (or any ASGI app) on a real loopback port, for tests.

Most tests talk to the emulator in-process through `emulator_transport`. Code that opens its
own sockets (a synchronous SDK, a subprocess, a browser) needs a real address:

```python
from miroconnect.emulator import create_emulator, serve_in_thread

with serve_in_thread(create_emulator(auto_approve=True)) as base_url:
    ...  # e.g. "http://127.0.0.1:40123"
```

The socket is bound before uvicorn starts (port 0: the system picks a free port), so there is
no window in which another process can take the port. Standard library and uvicorn only.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

__all__ = ["serve_in_thread"]


@contextmanager
def serve_in_thread(
    app: Callable[..., Any], *, startup_timeout: float = 30.0
) -> Iterator[str]:
    """Serve the ASGI `app` under uvicorn on a free port of 127.0.0.1, in a daemon thread.

    Yields the base URL once the server accepts connections; on exit, stops the server and
    waits for its thread. Raises `RuntimeError` if it does not start within
    `startup_timeout` seconds, or stops before it serves (the error that stopped it is the
    cause, caught in the server's thread rather than left to the thread's excepthook).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                app, log_level="critical", lifespan="off", ws="none", access_log=False
            )
        )
        failures: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except (
                BaseException
            ) as exc:  # uvicorn exits (SystemExit) when it cannot start
                failures.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + startup_timeout
            while not server.started:
                if not thread.is_alive():
                    cause = failures[0] if failures else None
                    detail = f" ({type(cause).__name__}: {cause})" if cause else ""
                    raise RuntimeError(
                        f"uvicorn stopped before it started serving{detail}"
                    ) from cause
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"uvicorn did not start within {startup_timeout:g} s"
                    )
                thread.join(0.01)  # poll: uvicorn has no startup callback
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(startup_timeout)
    finally:
        sock.close()
