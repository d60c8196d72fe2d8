"""`miroconnect serve` refuses to start without its settings; `miroconnect demo` stays on
loopback and keeps its generated keys private."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from miroconnect.cli import build_app
from miroconnect.cli.demo import DemoSecrets
from miroconnect.cli.http_head import MAX_HEAD_BYTES
from miroconnect.cli.servers import ports_in_use
from miroconnect.config import Settings
from miroconnect.crypto import generate_key
from miroconnect.storage.migrate import upgrade
from miroconnect.web.checks import settings_problems
from support.processes import free_port

REQUIRED = [
    "MIROCONNECT_DATABASE_URL",
    "MIROCONNECT_MIRO_CLIENT_ID",
    "MIROCONNECT_MIRO_CLIENT_SECRET",
    "MIROCONNECT_MIRO_REDIRECT_URI",
    "MIROCONNECT_ENCRYPTION_KEYS",
    "MIROCONNECT_SECRET_KEY",
    "MIROCONNECT_API_KEYS",
]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MIROCONNECT_")}


def good_env(tmp_path: Path) -> dict[str, str]:
    return {
        "MIROCONNECT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "MIROCONNECT_MIRO_CLIENT_ID": "3458764500000001",
        "MIROCONNECT_MIRO_CLIENT_SECRET": "client-secret",
        "MIROCONNECT_MIRO_REDIRECT_URI": "https://mc.example/connect/callback",
        "MIROCONNECT_ENCRYPTION_KEYS": generate_key("k1"),
        "MIROCONNECT_SECRET_KEY": "k" * 40,
        "MIROCONNECT_API_KEYS": "a-service-api-key-123",
    }


def test_serve_names_every_missing_setting() -> None:
    result = CliRunner().invoke(build_app(), ["serve"], env=clean_env())
    assert result.exit_code == 2
    for name in REQUIRED:
        assert name in result.output
    assert "Traceback" not in result.output


def test_serve_names_only_what_is_missing(tmp_path: Path) -> None:
    env = good_env(tmp_path)
    del env["MIROCONNECT_API_KEYS"]
    env["MIROCONNECT_SECRET_KEY"] = "short"
    result = CliRunner().invoke(build_app(), ["serve"], env=clean_env() | env)
    assert result.exit_code == 2
    assert "MIROCONNECT_API_KEYS is not set" in result.output
    assert "MIROCONNECT_SECRET_KEY is too short" in result.output
    assert "MIROCONNECT_MIRO_CLIENT_ID" not in result.output
    assert "short" not in result.output.replace("too short", "")  # no values shown


@pytest.mark.parametrize(
    ("args", "drop"),
    [
        (["--workers", "2"], "drop --workers\n"),
        (["--host", "192.0.2.7"], "drop --host\n"),
        (["--workers", "2", "--host", "192.0.2.7"], "drop --workers and --host\n"),
    ],
    ids=["workers", "host", "both"],
)
def test_serve_with_emulator_stays_one_loopback_process(
    tmp_path: Path, args: list[str], drop: str
) -> None:
    result = CliRunner().invoke(
        build_app(),
        ["serve", "--with-emulator", *args],
        env=clean_env() | good_env(tmp_path),
    )
    assert result.exit_code == 2
    assert "--with-emulator runs one process on a loopback address" in result.output
    assert drop in result.output  # only the flags actually given


def test_serve_auto_approve_is_only_for_the_emulator(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["serve", "--auto-approve"], env=clean_env() | good_env(tmp_path)
    )
    assert result.exit_code == 2
    assert "--auto-approve is the emulator's: use it with --with-emulator" in (
        result.output
    )


def test_serve_with_emulator_fills_in_only_miros_settings(tmp_path: Path) -> None:
    env = clean_env() | good_env(tmp_path)
    for name in list(env):
        if name.startswith("MIROCONNECT_MIRO_"):
            del env[name]
    del env["MIROCONNECT_API_KEYS"]
    result = CliRunner().invoke(build_app(), ["serve", "--with-emulator"], env=env)
    assert result.exit_code == 2
    assert "MIROCONNECT_API_KEYS is not set" in result.output
    assert "MIROCONNECT_MIRO_" not in result.output


def test_serve_wants_the_database_migrated(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(), ["serve"], env=clean_env() | good_env(tmp_path)
    )
    assert result.exit_code == 2
    assert "run `miroconnect db upgrade`" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encryption_keys": "nonsense"}, "MIROCONNECT_ENCRYPTION_KEYS"),
        ({"miro_redirect_uri": "/relative"}, "absolute http(s) URL"),
        ({"miro_redirect_uri": "https://mc.example/cb"}, "under /connect/"),
        ({"api_keys": "short"}, "at least 16"),
        ({"allowed_return_urls": ["app.example"]}, "origin"),
    ],
)
def test_invalid_settings_are_explained(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {
        k.removeprefix("MIROCONNECT_").lower(): v for k, v in good_env(tmp_path).items()
    }
    assert settings_problems(Settings.model_validate(values)) == []
    problems = settings_problems(Settings.model_validate(values | change))
    assert len(problems) == 1 and message in problems[0]


def test_demo_refuses_a_public_address(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_app(),
        ["demo", "--host", "0.0.0.0", "--data", str(tmp_path)],  # noqa: S104
        env=clean_env(),
    )
    assert result.exit_code == 2
    assert "Refusing to bind 0.0.0.0" in result.output
    assert not (tmp_path / "demo-secrets.json").exists()


def test_demo_secrets_are_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "demo-secrets.json"
    first = DemoSecrets.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(path.read_text())) == set(first.values)
    assert DemoSecrets.load_or_create(path).values == first.values
    assert len(first.values["secret_key"]) >= 32


def test_serve_starts_with_its_settings(tmp_path: Path) -> None:
    import asyncio

    import httpx2

    from miroconnect.storage.migrate import upgrade
    from support.processes import free_port, running

    env = clean_env() | good_env(tmp_path)
    asyncio.run(upgrade(env["MIROCONNECT_DATABASE_URL"]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(
        ["serve", "--port", str(port)],
        env=env,
        log=tmp_path / "serve.log",
        ready=f"{base}/readyz",
    ):
        key = {"authorization": "Bearer a-service-api-key-123"}
        boards = httpx2.get(f"{base}/api/v1/users/u1/boards", headers=key)
        assert boards.json() == {"boards": [], "next_cursor": None}
        assert httpx2.get(f"{base}/api/v1/users/u1/boards").status_code == 401
        # Without the reference app there are no sign-up pages.
        assert httpx2.get(f"{base}/signup").status_code == 404


@contextmanager
def _listening() -> Iterator[int]:
    """A port of 127.0.0.1 that another program (this socket) listens on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield int(held.getsockname()[1])


def test_demo_says_which_port_is_taken_before_it_starts(tmp_path: Path) -> None:
    with _listening() as taken:
        result = CliRunner().invoke(
            build_app(),
            ["demo", "--port", str(taken), "--data", str(tmp_path)],
            env=clean_env(),
        )
    assert result.exit_code == 2
    assert f"port {taken} on 127.0.0.1 is in use by another program" in result.output
    assert "--port" in result.output
    assert "Press Ctrl+C" not in result.output  # no banner for a demo that cannot run
    assert "Traceback" not in result.output
    assert not (tmp_path / "demo-secrets.json").exists()


def test_serve_says_which_port_is_taken_before_it_starts(tmp_path: Path) -> None:
    env = clean_env() | good_env(tmp_path)
    for name in list(env):
        if name.startswith("MIROCONNECT_MIRO_"):
            del env[name]
    asyncio.run(upgrade(env["MIROCONNECT_DATABASE_URL"]))
    port = free_port()
    with _listening() as taken:
        result = CliRunner().invoke(
            build_app(),
            ["serve", "--with-emulator", "--port", str(port)]
            + ["--emulator-port", str(taken)],
            env=env,
        )
    assert result.exit_code == 2
    assert f"port {taken} on 127.0.0.1 is in use by another program" in result.output
    assert "--emulator-port" in result.output
    assert str(port) not in result.output.replace(str(taken), "")  # only the taken one
    assert "Traceback" not in result.output


def test_a_port_whose_last_connection_is_closing_is_free() -> None:
    # A server stopped a moment ago (uvicorn listens with SO_REUSEADDR, as does the
    # probe) leaves its closed connections in TIME_WAIT: its port is free again.
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = int(server.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: its end waits in TIME_WAIT
        client.close()
    assert ports_in_use("127.0.0.1", [port]) == []


def _raw_status(port: int, head: bytes, body: bytes = b"") -> bytes:
    """The status line the server answers to `head` (and `body`) sent in one piece."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_serve_refuses_a_request_head_without_end(tmp_path: Path) -> None:
    from support.processes import running

    env = clean_env() | good_env(tmp_path)
    asyncio.run(upgrade(env["MIROCONNECT_DATABASE_URL"]))
    port = free_port()
    with running(
        ["serve", "--port", str(port)],
        env=env,
        log=tmp_path / "serve.log",
        ready=f"http://127.0.0.1:{port}/readyz",
    ):
        start = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        # A header that does not end: refused once the head passes the limit.
        endless = start + b"X-Big: " + b"a" * (4 * MAX_HEAD_BYTES)
        assert _raw_status(port, endless) == (
            b"HTTP/1.1 431 Request Header Fields Too Large"
        )
        # A large head under the limit, and a body read with its head, are not refused.
        large = start + b"X-Big: " + b"a" * 40_000 + b"\r\nConnection: close\r\n\r\n"
        assert _raw_status(port, large) == b"HTTP/1.1 200 OK"
        body = b'{"name": "' + b"b" * 60_000 + b'"}'
        post = (
            b"POST /api/v1/users/u1/boards HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        assert _raw_status(port, post, body).startswith(b"HTTP/1.1 401 ")
    assert (
        "Request head over 65536 bytes: refused with 431"
        in (tmp_path / "serve.log").read_text()
    )
