"""Fault rules: status, delay, drop after commit, reset before commit, in process and
over a real socket."""

from __future__ import annotations

import time

import httpx2
import pytest

from .conftest import LiveServer, Tokens, connect


async def _fault(http: httpx2.AsyncClient, **rule: object) -> str:
    response = await http.post("/_emulator/faults", json=rule)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _board_count(http: httpx2.AsyncClient) -> int:
    return len((await http.get("/_emulator/boards")).json())


async def test_status_fault_answers_once_then_stops(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    await _fault(
        http, method="POST", path="/v2/boards", action="status", status=503, times=1
    )
    failed = await http.post("/v2/boards", json={}, headers=tokens.headers)
    assert failed.status_code == 503 and failed.json()["type"] == "error"
    assert await _board_count(http) == 0
    ok = await http.post("/v2/boards", json={}, headers=tokens.headers)
    assert ok.status_code == 201
    assert (await http.get("/_emulator/stats")).json()["faults_applied"] == 1


async def test_429_fault_looks_like_a_real_429(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    await _fault(http, method="*", path="/v2/", action="status", status=429)
    response = await http.get("/v2/boards", headers=tokens.headers)
    assert response.status_code == 429
    assert response.json()["code"] == "tooManyRequests"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > 0


async def test_status_fault_with_custom_body(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    await _fault(
        http, path="/v1/oauth/token", action="status", status=500, body={"oops": 1}
    )
    response = await http.post("/v1/oauth/token", data={})
    assert response.status_code == 500 and response.json() == {"oops": 1}


async def test_method_and_prefix_must_match(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    await _fault(http, method="DELETE", path="/v2/boards", action="status", status=500)
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 200


async def test_drop_after_commit_does_the_work_and_loses_the_answer(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    await _fault(
        http, method="POST", path="/v2/boards", action="drop_after_commit", times=1
    )
    with pytest.raises(httpx2.RemoteProtocolError):
        await http.post("/v2/boards", json={"name": "Lost"}, headers=tokens.headers)
    boards = (await http.get("/_emulator/boards")).json()
    assert [b["name"] for b in boards] == ["Lost"]


async def test_reset_before_commit_does_nothing(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    await _fault(http, method="POST", path="/v2/boards", action="reset_before_commit")
    with pytest.raises(httpx2.ConnectError):
        await http.post("/v2/boards", json={"name": "Never"}, headers=tokens.headers)
    assert await _board_count(http) == 0


async def test_dropped_refresh_leaves_the_client_with_a_dead_pair(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    # The lost-rotation case: Miro rotated, the answer never arrived.
    await _fault(
        http, method="POST", path="/v1/oauth/token", action="drop_after_commit"
    )
    with pytest.raises(httpx2.RemoteProtocolError):
        await http.post(
            "/v1/oauth/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "3074457363680401096",
                "client_secret": "app-secret",
                "refresh_token": tokens.refresh,
            },
        )
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 401


async def test_delay_fault_delays(http: httpx2.AsyncClient, tokens: Tokens) -> None:
    await _fault(http, path="/v2/boards", action="delay", seconds=0.05, times=1)
    started = time.monotonic()
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 200
    assert time.monotonic() - started >= 0.05


async def test_probability_uses_the_seeded_random_source(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    await _fault(http, path="/v2/boards", action="status", status=500, probability=0.5)
    statuses = [
        (await http.get("/v2/boards", headers=tokens.headers)).status_code
        for _ in range(40)
    ]
    assert 0 < statuses.count(500) < 40


async def test_delete_clears_faults_only(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    await http.post("/v2/boards", json={}, headers=tokens.headers)
    await _fault(http, path="/v2/", action="status", status=500)
    assert len((await http.get("/_emulator/faults")).json()) == 1
    assert (await http.delete("/_emulator/faults")).status_code == 204
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 200
    assert await _board_count(http) == 1


async def test_fault_rules_are_validated(http: httpx2.AsyncClient) -> None:
    for rule in (
        {"action": "explode"},
        {"action": "status"},
        {"action": "delay"},
        {"action": "status", "status": 500, "times": 0},
        {"action": "status", "status": 500, "probability": 2},
    ):
        response = await http.post("/_emulator/faults", json=rule)
        assert response.status_code == 400, rule


async def test_drop_after_commit_over_a_socket_is_a_transport_error(
    live_server: LiveServer,
) -> None:
    async with httpx2.AsyncClient(base_url=live_server.url) as http:
        await http.post("/_emulator/reset", json={})
        tokens = await connect(http)
        await _fault(
            http, method="POST", path="/v2/boards", action="drop_after_commit", times=1
        )
        with pytest.raises(httpx2.TransportError):
            await http.post("/v2/boards", json={"name": "Lost"}, headers=tokens.headers)
        boards = (await http.get("/_emulator/boards")).json()
        assert [b["name"] for b in boards] == ["Lost"]
        await _fault(
            http,
            method="POST",
            path="/v2/boards",
            action="reset_before_commit",
            times=1,
        )
        with pytest.raises(httpx2.TransportError):
            await http.post(
                "/v2/boards", json={"name": "Never"}, headers=tokens.headers
            )
        assert len((await http.get("/_emulator/boards")).json()) == 1
        # the server is still healthy afterwards
        ok = await http.post("/v2/boards", json={}, headers=tokens.headers)
        assert ok.status_code == 201
