"""Two uvicorn servers in one process, stopped together: an app and the Miro emulator.

`miroconnect demo` and `miroconnect serve --with-emulator` run the emulator beside the app
on loopback. Each `uvicorn.Server` installs its own signal handlers and re-raises the signal
once it has stopped, which would cancel the other server mid-shutdown; here Ctrl+C or
SIGTERM stops both, and so does one of them stopping on its own (e.g. its port was taken).
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "EMULATOR_PORT_OFFSET",
    "default_emulator_port",
    "in_use_text",
    "ports_in_use",
    "serve_together",
]

# The emulator's port when none is given: the app's + 765 (8000 -> 8765, Miro's emulator
# port in every example), or - 765 where + would not be a port.
EMULATOR_PORT_OFFSET = 765


def default_emulator_port(port: int) -> int:
    """The emulator's port beside an app on `port`."""
    above = port + EMULATOR_PORT_OFFSET
    return above if above <= 65535 else port - EMULATOR_PORT_OFFSET


def ports_in_use(host: str, ports: Iterable[int]) -> list[int]:
    """Those of `ports` that another program listens on at `host` now.

    Checked before a server says where it runs, so that a taken port is one clear line,
    not a banner followed by uvicorn's traceback. Bound as uvicorn binds (with
    `SO_REUSEADDR`: a port whose last connections are closing is free). Any other
    error (an address that is not this machine's) is left for the server to report.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    taken = []
    for port in ports:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    taken.append(port)
    return taken


def in_use_text(host: str, taken: list[int]) -> str:
    """`port 8000 on 127.0.0.1 is in use`, or `ports 8000 and 8765 ... are`."""
    if len(taken) == 1:
        return f"port {taken[0]} on {host} is in use by another program"
    return (
        f"ports {' and '.join(map(str, taken))} on {host} are in use by another program"
    )


class _Server:
    """A uvicorn server that leaves signals to `_stop_on_signal`."""

    def __init__(self, config: Any, label: str | None = None) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self._server = Quiet(config)
        self._label = label

    async def serve(self) -> None:
        from miroconnect.logs import context_fields

        if self._label is None:
            await self._server.serve()
            return
        # uvicorn's lines ("Started server process", ...) read alike for both servers.
        with context_fields(server=self._label):
            await self._server.serve()

    def stop(self) -> None:
        self._server.should_exit = True

    @property
    def stopped(self) -> bool:
        return bool(self._server.should_exit)


async def _stop_on_signal(servers: list[_Server]) -> None:
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as group:

            async def on_signal() -> None:
                async for _ in signals:
                    break
                group.cancel_scope.cancel()

            async def on_stop() -> None:
                while not any(server.stopped for server in servers):
                    await anyio.sleep(0.2)
                group.cancel_scope.cancel()

            group.start_soon(on_signal)
            group.start_soon(on_stop)
    for server in servers:
        server.stop()


async def serve_together(*, emulator: Any, app: Any) -> None:
    """Serve the two `uvicorn.Config`s until a signal, or until one server stops; the
    emulator's log lines carry `server=emulator`."""
    import anyio

    servers = [_Server(emulator, "emulator"), _Server(app)]
    async with anyio.create_task_group() as group:
        for server in servers:
            group.start_soon(server.serve)
        group.start_soon(_stop_on_signal, servers)
