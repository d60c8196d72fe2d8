"""When the database cannot be reached: a 503 with `Retry-After` (a problem document on the
service API and `/readyz`, a page in the reference app), never a 500 or a trace; and a bug
that merely involves the database stays a 500.

The outage is injected, never monkeypatched: a database URL whose port refuses connections
(a socket bound but not listening), a SQLite file in a folder that does not exist, a fake
PostgreSQL server that answers like one shutting down, a `Database` whose sessions raise
the driver's error, or (PostgreSQL) the test database's own backends terminated.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import traceback
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest
import uvloop
from fastapi import FastAPI
from sqlalchemy import Executable
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from miroconnect.emulator import create_emulator, emulator_transport, serve_in_thread
from miroconnect.errors import TokenStorageError
from miroconnect.storage.db import Database
from miroconnect.storage.direct import Prepared, ResultRow
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.outage import database_unavailable
from miroconnect.web import create_app
from miroconnect.web.problems import DATABASE_UNAVAILABLE_TYPE, PROBLEM_MEDIA_TYPE

from .conftest import API_KEY, APP, form_fields, make_settings

AUTH = {"authorization": f"Bearer {API_KEY}"}


@pytest.fixture(autouse=True)
def _aiosqlite_threads(aiosqlite_threads_finish: None) -> None:
    """Every test here opens databases that may fail to open (see the fixture)."""


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), never
    listening (so the kernel answers every SYN with a reset)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


@pytest.fixture
async def shutting_down_port() -> AsyncIterator[int]:
    """A fake PostgreSQL server that answers every connection as a server in shutdown does:
    `FATAL 57P03 the database system is shutting down`, then closes."""

    async def answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        first = await reader.read(8)
        if first[4:8] == (80877103).to_bytes(4, "big"):  # SSLRequest: "no TLS here"
            writer.write(b"N")
            await writer.drain()
            await reader.read(1024)  # the StartupMessage
        fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is shutting down\0\0"
        writer.write(b"E" + (len(fields) + 4).to_bytes(4, "big") + fields)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _app(url: str, *, database: Database | None = None) -> FastAPI:
    return create_app(
        make_settings(url),
        miro_transport=emulator_transport(create_emulator()),
        reference_app=True,
        database=database,
    )


def _client(app: FastAPI) -> httpx2.AsyncClient:
    # raise_app_exceptions=False: an error that escaped to the server would surface as a
    # 500 here rather than as an exception, so the status code is what is asserted.
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app, raise_app_exceptions=False),
        base_url=APP,
        headers=AUTH,
    )


def assert_unavailable_problem(answer: httpx2.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.headers["retry-after"] == "5"
    # Answered by a handler, not after an escaped exception: the connection stays open.
    assert "connection" not in answer.headers
    body = answer.json()
    assert body["type"] == DATABASE_UNAVAILABLE_TYPE
    assert body["title"] == "Database unavailable"
    assert body["status"] == 503
    assert body["reason"] == "database_unavailable"
    assert "Traceback" not in answer.text


async def _api_and_readiness(app: FastAPI) -> None:
    async with app.router.lifespan_context(app), _client(app) as client:
        assert_unavailable_problem(await client.get("/api/v1/users/u1/boards"))
        assert_unavailable_problem(
            await client.post(
                "/api/v1/users/u1/boards",
                json={"name": "Plan"},
                headers={"idempotency-key": "k1"},
            )
        )
        assert_unavailable_problem(await client.get("/api/v1/users/u1/connection"))
        assert_unavailable_problem(await client.get("/readyz"))
        assert (await client.get("/healthz")).status_code == 200  # the process lives


async def test_api_503_when_postgresql_refuses_connections(refusing_port: int) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{refusing_port}/miroconnect"
    await _api_and_readiness(_app(url))


async def test_api_503_when_postgresql_is_shutting_down(
    shutting_down_port: int,
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{shutting_down_port}/miroconnect"
    await _api_and_readiness(_app(url))


async def test_api_503_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'db.sqlite'}"
    await _api_and_readiness(_app(url))


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_reference_app_page_when_the_database_is_down(
    backend: str, refusing_port: int, tmp_path: Path
) -> None:
    url = (
        f"postgresql+asyncpg://postgres@127.0.0.1:{refusing_port}/miroconnect"
        if backend == "postgresql"
        else f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'db.sqlite'}"
    )
    app = _app(url)
    async with app.router.lifespan_context(app), _client(app) as browser:
        form = await browser.get("/signup")  # needs no database
        assert form.status_code == 200
        fields = form_fields(form.text, "/signup")
        fields.update(username="ada", password="lovelace-1843")
        page = await browser.post("/signup", data=fields)
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == "5"
    assert 'data-reason="database_unavailable"' in page.text
    assert "cannot reach its database" in page.text
    assert "Traceback" not in page.text


class FailingDatabase(Database):
    """A real `Database` whose sessions raise `error` (a driver's error, or a bug)."""

    def __init__(self, url: str, error: Exception) -> None:
        super().__init__(url)
        self.error = error

    def session(self) -> AsyncSession:
        raise self.error

    def write_session(self) -> AsyncSession:
        raise self.error

    def single_session(self) -> AsyncSession:
        raise self.error

    async def run(
        self,
        statement: Executable | Prepared[Any],
        params: Mapping[str, Any] | None = None,
    ) -> Sequence[ResultRow]:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        ),
        asyncpg.AdminShutdownError(
            "terminating connection due to administrator command"
        ),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionResetError(104, "Connection reset by peer"),  # raised by us: a bug
    ],
    ids=["closed-mid-operation", "admin-shutdown", "closed", "bare-oserror"],
)
async def test_driver_errors_from_the_database(
    tmp_path: Path, error: Exception
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    app = _app(url, database=FailingDatabase(url, error))
    async with app.router.lifespan_context(app), _client(app) as client:
        answer = await client.get("/api/v1/users/u1/boards")
    if isinstance(error, OSError):
        # An OSError our own code raised (not the driver connecting) is no outage.
        assert answer.status_code == 500
        assert answer.json()["reason"] == "internal"
    else:
        assert_unavailable_problem(answer)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("a bug"),
        # Two tasks on one connection: our bug, though asyncpg says "in progress".
        asyncpg.InterfaceError(
            "cannot perform operation: another operation is in progress"
        ),
    ],
    ids=["bug", "concurrent-use"],
)
async def test_bugs_stay_500_and_close_the_connection(
    tmp_path: Path, error: Exception
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    app = _app(url, database=FailingDatabase(url, error))
    async with app.router.lifespan_context(app), _client(app) as client:
        answer = await client.get("/api/v1/users/u1/boards")
        readiness = await client.get("/readyz")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.json()["reason"] == "internal"
    assert "Traceback" not in answer.text
    assert "retry-after" not in answer.headers
    # The server is about to close this connection: the answer says so.
    assert answer.headers["connection"] == "close"
    assert readiness.status_code == 503  # whatever the error, not ready


async def test_a_missing_table_is_a_bug_not_an_outage(database_url: str) -> None:
    app = _app(database_url)  # never migrated: no tables
    async with app.router.lifespan_context(app), _client(app) as client:
        answer = await client.get("/api/v1/users/u1/boards")
        ready = await client.get("/readyz")
    assert answer.status_code == 500
    assert answer.json()["reason"] == "internal"
    assert ready.status_code == 200  # the database itself answers


async def test_terminated_backends_answer_503_once_then_recover(
    database_url: str, is_postgresql: bool
) -> None:
    """PostgreSQL drops every connection (as in a restart): the request that meets a dead
    pooled connection gets a 503, the next one gets a fresh connection and a 200."""
    if not is_postgresql:
        pytest.skip("terminating backends is PostgreSQL's")
    await upgrade(database_url)
    app = _app(database_url)
    async with app.router.lifespan_context(app), _client(app) as client:
        assert (await client.get("/api/v1/users/u1/boards")).status_code == 200
        admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            # pg_terminate_backend(pid, timeout): waits until each backend is gone.
            await admin.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert_unavailable_problem(await client.get("/api/v1/users/u1/boards"))
        assert (await client.get("/api/v1/users/u1/boards")).status_code == 200


async def test_a_500_makes_the_client_open_a_new_connection(tmp_path: Path) -> None:
    """Over a real socket: after a 500 (the server closes that connection) the client's
    pool opens a new connection instead of sending on the closing one (which would be
    reset with no answer); after a 200 or a 503 the connection is kept."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    broken = _app(url, database=FailingDatabase(url, RuntimeError("a bug")))
    down = _app(url, database=FailingDatabase(url, asyncpg.AdminShutdownError("bye")))

    async def get(client: httpx2.AsyncClient, path: str) -> tuple[int, int]:
        """The status, and the client's local port (read before the body, while the
        connection is surely open): the same port is the same connection."""
        async with client.stream("GET", path) as answer:
            stream = answer.extensions["network_stream"]
            port = int(stream.get_extra_info("client_addr")[1])
            await answer.aread()
            return answer.status_code, port

    for app, status, keeps in ((broken, 500, False), (down, 503, True)):
        with serve_in_thread(app) as base_url:
            async with httpx2.AsyncClient(
                base_url=base_url,
                headers=AUTH,
                limits=httpx2.Limits(max_connections=1),
            ) as client:
                first = await get(client, "/healthz")
                second = await get(client, "/healthz")
                failed = await get(client, "/api/v1/users/u1/boards")
                after = await get(client, "/healthz")
        assert first[0] == second[0] == after[0] == 200
        assert failed[0] == status
        assert first[1] == second[1] == failed[1]  # keep-alive works
        assert (after[1] == failed[1]) is keeps


def test_a_refused_connection_under_uvloop_is_an_outage(refusing_port: int) -> None:
    """uvicorn runs uvloop when it is installed (`miroconnect serve` does): the refusal
    then starts in uvloop's frames, below asyncpg's."""

    async def refuse() -> OSError:
        try:
            await asyncpg.connect(host="127.0.0.1", port=refusing_port, user="x")
        except OSError as refused:
            return refused
        raise AssertionError("the port accepted a connection")

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        refused = runner.run(refuse())
    assert "uvloop" in "".join(traceback.format_tb(refused.__traceback__))
    assert database_unavailable(refused)


def _raise(error: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        raise error from cause
    except BaseException as caught:
        return caught


async def test_which_errors_are_an_outage(refusing_port: int) -> None:
    # A real refused connection, raised inside asyncpg (a bare OSError from `connect`).
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(host="127.0.0.1", port=refusing_port, user="x")
    assert database_unavailable(refused.value)
    closed = asyncpg.ConnectionDoesNotExistError("connection was closed")
    assert database_unavailable(closed)
    assert database_unavailable(
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        )
    )
    assert database_unavailable(
        DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    )
    assert database_unavailable(
        OperationalError(
            "SELECT 1", {}, sqlite3.OperationalError("unable to open database file")
        )
    )
    # Wrapped in our own error (the vault could not store renewed tokens).
    assert database_unavailable(_raise(TokenStorageError("not stored"), closed))
    assert database_unavailable(BaseExceptionGroup("tasks", [ValueError(), closed]))

    assert not database_unavailable(ValueError("no"))
    # An OSError raised by our code (here: the test), not by the driver connecting.
    assert not database_unavailable(_raise(ConnectionRefusedError()))
    assert not database_unavailable(asyncpg.UndefinedTableError("no such table"))
    assert not database_unavailable(asyncpg.QueryCanceledError("statement timeout"))
    assert not database_unavailable(
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (12) is in progress"
        )
    )
    assert not database_unavailable(
        OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: x"))
    )
    assert not database_unavailable(
        _raise(TokenStorageError("not stored"), ValueError("a bug"))
    )
