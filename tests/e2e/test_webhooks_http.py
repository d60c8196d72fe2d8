"""Webhooks over real HTTP: the service app (its lifespan running the delivery worker)
sends to a receiver served by uvicorn on a loopback port, which checks every signature with
`standardwebhooks`. The receiver is stopped while boards are being made and started again:
nothing is lost, every event id arrives (duplicates counted); a receiver that answers 302
to another server gets its events only once it answers 2xx, and that other server never
gets one. On SQLite and PostgreSQL (`db` marker)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from miroconnect.emulator import serve_in_thread
from miroconnect.storage.outbox import OutboxEvent
from miroconnect.web.context import WebContext
from web.conftest import Harness, open_harness
from web.test_service_api import BOARDS, connect

pytestmark = pytest.mark.db

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class HookServer:
    """The host app's webhook endpoint on a fixed loopback port, started and stopped at
    will. Counts each verified event id; answers 302 to `redirect_to` while it is set."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.received: Counter[str] = Counter()
        self.forged = 0
        self.redirect_to: str | None = None
        self.app = Starlette(routes=[Route("/hooks", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = (await request.body()).decode()
        try:
            Webhook(SECRET).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.forged += 1
            return Response(status_code=400)
        if self.redirect_to is not None:
            return RedirectResponse(self.redirect_to, status_code=302)
        self.received[request.headers["webhook-id"]] += 1
        return Response(status_code=204)

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="critical", lifespan="off")
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "no receiver"
            time.sleep(0.01)
        self._running = (server, thread, sock)

    async def stop(self) -> None:
        """Stop serving (in a thread: the app's event loop keeps running meanwhile)."""
        server, thread, sock = self._running
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)
        sock.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self.start()
        try:
            yield
        finally:
            await self.stop()


class Stolen:
    """Another server: a redirect would send events here."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.requests += 1
        await Response(status_code=204)(scope, receive, send)


async def until(check: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def events(harness: Harness) -> list[OutboxEvent]:
    context: WebContext = harness.app.state.miroconnect
    found, _ = await context.stack.storage.webhook_queue.list_events(limit=1000)
    return found


async def recorded(harness: Harness, status: str) -> None:
    """Wait until every event has `status` (the receiver counts an event before the
    worker records its answer)."""
    deadline = time.monotonic() + 20
    while {e.status for e in await events(harness)} != {status}:
        assert time.monotonic() < deadline, f"not every event is {status}"
        await asyncio.sleep(0.02)


async def retry_now(harness: Harness) -> None:
    """Move time past every retry's wait and let the worker look at once."""
    harness.clock.advance(hours=2)
    context: WebContext = harness.app.state.miroconnect
    assert context.stack.webhooks is not None
    context.stack.webhooks.wake()


async def test_a_receiver_down_mid_run_loses_nothing(database_url: str) -> None:
    hooks = HookServer()
    boards = 20
    async with open_harness(
        database_url, webhook_url=hooks.url, webhook_secret=SECRET
    ) as harness:

        async def make_boards(numbers: range) -> None:
            async with harness.api() as api:
                for number in numbers:
                    made = await api.post(BOARDS, json={"name": f"Board {number}"})
                    assert made.status_code == 201, made.text

        async with hooks.running():
            await connect(harness)  # connection.created, board.created
            # Boards being made (and their events sent) while the receiver stops.
            making = asyncio.create_task(make_boards(range(boards // 2)))
            await until(lambda: len(hooks.received) >= 3, "the first events")
        await making
        await make_boards(range(boards // 2, boards))  # made while it is down
        total = 2 + boards
        assert len(hooks.received) <= 2 + boards // 2

        async def all_tried() -> bool:
            found = await events(harness)
            return len(found) == total and all(e.attempts for e in found)

        deadline = time.monotonic() + 20
        while not await all_tried():
            assert time.monotonic() < deadline, "the worker did not try every event"
            await asyncio.sleep(0.02)
        async with hooks.running():
            await retry_now(harness)  # past the retries' waits
            await until(lambda: len(hooks.received) == total, "every event")
            await recorded(harness, "delivered")
            written = await events(harness)
    assert {e.id for e in written} == set(hooks.received)
    assert {e.status for e in written} == {"delivered"}
    failed_attempts = sum(e.attempts - 1 for e in written)
    duplicates = sum(hooks.received.values()) - len(hooks.received)
    print(f"{total} events, {failed_attempts} failed attempts, {duplicates} duplicates")
    assert failed_attempts > 0  # some were sent while the receiver was down
    assert duplicates <= 1  # at most one in flight when it stopped
    assert hooks.forged == 0


async def test_a_redirect_never_delivers_to_another_server(database_url: str) -> None:
    hooks = HookServer()
    stolen = Stolen()
    with serve_in_thread(stolen) as elsewhere:
        async with (
            hooks.running(),
            open_harness(
                database_url, webhook_url=hooks.url, webhook_secret=SECRET
            ) as harness,
        ):
            hooks.redirect_to = f"{elsewhere}/steal"
            await connect(harness)

            async def refused() -> bool:
                found = await events(harness)
                return len(found) == 2 and all(
                    e.last_error == "redirect 302 not followed" for e in found
                )

            deadline = time.monotonic() + 20
            while not await refused():
                assert time.monotonic() < deadline, "the redirects were not recorded"
                await asyncio.sleep(0.02)
            assert hooks.received == Counter() and stolen.requests == 0
            hooks.redirect_to = None  # the receiver is fixed
            await retry_now(harness)
            await until(lambda: len(hooks.received) == 2, "the events, once fixed")
            await recorded(harness, "delivered")
    assert stolen.requests == 0
    assert hooks.forged == 0
