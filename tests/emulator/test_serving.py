"""`serve_in_thread`: a real uvicorn server on loopback for the duration of a block."""

from __future__ import annotations

import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from miroconnect.emulator import create_emulator, serve_in_thread


def _refused(host: str, port: int) -> bool:
    """Whether a TCP connection to host:port is refused."""
    with socket.socket() as sock:
        sock.settimeout(5)
        try:
            sock.connect((host, port))
        except ConnectionRefusedError:
            return True
        return False


def _server_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t is not threading.current_thread()}


def test_serves_on_loopback_and_stops_cleanly() -> None:
    threads_before = _server_threads()
    with serve_in_thread(create_emulator(auto_approve=True)) as base_url:
        parts = urlsplit(base_url)
        assert parts.scheme == "http"
        assert parts.hostname == "127.0.0.1"
        assert parts.port is not None
        port = parts.port
        # The emulator answers at the base URL, on a connection of its own.
        answer = httpx2.get(f"{base_url}/_emulator/stats", timeout=5)
        assert answer.status_code == 200
        assert "requests" in answer.json()
        # Bound to 127.0.0.1 only, not to every address: another loopback address
        # (all of 127/8 reaches this host on Linux) is refused on the same port.
        assert _refused("127.0.0.2", port)
        assert len(_server_threads() - threads_before) == 1  # uvicorn's thread
    # Stopped: the port no longer accepts, and the server's thread has ended.
    assert _refused("127.0.0.1", port)
    assert not _server_threads() - threads_before  # no thread left behind


def test_each_server_gets_its_own_port() -> None:
    with (
        serve_in_thread(create_emulator()) as first,
        serve_in_thread(create_emulator()) as second,
    ):
        assert first != second
        assert httpx2.get(f"{first}/_emulator/stats", timeout=5).status_code == 200
        assert httpx2.get(f"{second}/_emulator/stats", timeout=5).status_code == 200


def test_a_server_that_fails_to_start_is_reported() -> None:
    # uvicorn also takes an import string; one that does not import makes uvicorn exit
    # (SystemExit in its thread) before it serves: a startup failure like any other.
    threads_before = _server_threads()
    app: Any = "miroconnect.no_such_module:app"
    with (
        pytest.raises(RuntimeError, match="stopped before it started serving") as info,
        serve_in_thread(app),
    ):
        raise AssertionError("the block must not run")
    # What stopped it is the cause (caught in uvicorn's thread, not an unhandled
    # exception there), and the thread is gone.
    assert isinstance(info.value.__cause__, SystemExit)
    assert not _server_threads() - threads_before  # no thread left behind


def test_a_server_that_does_not_start_in_time_is_reported() -> None:
    """uvicorn probes an app by calling it with no arguments (an app factory?); this one
    holds that call until released, so the server cannot start within the timeout."""
    release = threading.Event()
    threads_before = _server_threads()

    def slow_app(*args: Any) -> Any:
        if not args:  # uvicorn's factory probe, at startup
            release.wait(30)
            raise TypeError("not a factory")  # uvicorn: then it is the app itself
        raise AssertionError("never serves a request")

    try:
        with (
            pytest.raises(RuntimeError, match=r"did not start within 0\.2 s"),
            serve_in_thread(slow_app, startup_timeout=0.2),
        ):
            raise AssertionError("the block must not run")
    finally:
        release.set()
    # Once released, the server sees it was told to stop, and its thread ends.
    for thread in _server_threads() - threads_before:
        thread.join(10)
        assert not thread.is_alive()
