"""`miro.call`: one event per HTTP request the client sends, retries included, with the
path (never the query), status, attempt and credits left, and never the token."""

from __future__ import annotations

import logging

import httpx2
import pytest

from miroconnect.client import CreditPacer, MiroClient, StaticTokenSource
from miroconnect.emulator import create_emulator, emulator_transport
from support import FakeTime, connect, emulator_app_client

BASE = "http://miro.test"


class Counting(httpx2.AsyncBaseTransport):
    """Counts the requests that reach the emulator."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)


def calls(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        dict(getattr(r, "miroconnect_fields", {}))
        for r in caplog.records
        if getattr(r, "miroconnect_event", None) == "miro.call"
        and r.name == "miroconnect.client.requester"
    ]


async def test_every_request_logs_one_miro_call_without_the_token_or_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = FakeTime()
    emulator = create_emulator(
        auto_approve=True, clients=[emulator_app_client()], seed=3, clock=time.now
    )
    transport = Counting(emulator_transport(emulator))
    async with httpx2.AsyncClient(transport=transport) as http:
        grant = await connect(http, BASE)
        miro = MiroClient(
            http,
            StaticTokenSource(grant.access_token, key=grant.user_id),
            base_url=BASE,
            pacer=CreditPacer(clock=time.now, sleep=time.sleep),
            sleep=time.sleep,
        )
        fault = {"method": "GET", "path": "/v2/boards/", "times": 1}
        caplog.set_level(logging.INFO, logger="miroconnect")
        before = transport.requests
        board = await miro.boards.create(name="Logged")
        await http.post(
            f"{BASE}/_emulator/faults",
            json={**fault, "action": "status", "status": 503},
        )
        assert (await miro.boards.get(board.id)).name == "Logged"
        listed = [b.id async for b in miro.boards.list(team_id=grant.team_id)]
        assert board.id in listed
        sent = transport.requests - before - 1  # the fault rule is not Miro's

    logged = calls(caplog)
    # One event per request: a retry is its own event, nothing counted twice.
    assert len(logged) == sent == 4
    create, failed, retried, listing = logged
    assert (create["method"], create["path"], create["status_code"]) == (
        "POST",
        "/v2/boards",
        201,
    )
    assert (failed["status_code"], failed["attempt"]) == (503, 1)
    assert (retried["status_code"], retried["attempt"]) == (200, 2)
    assert failed["path"] == retried["path"] == f"/v2/boards/{board.id}"
    assert listing["path"] == "/v2/boards"  # the team_id query is not logged
    for call in logged:
        assert isinstance(call["duration_ms"], float)
    remaining: list[int] = []
    for call in (create, retried, listing):
        value = call["rate_limit_remaining"]
        assert isinstance(value, int)
        remaining.append(value)
    assert remaining == sorted(remaining, reverse=True)  # credits only go down
    levels = {
        r.levelname for r in caplog.records if r.name.endswith("client.requester")
    }
    assert levels == {"INFO", "WARNING"}  # the 503 is a warning
    for record in caplog.records:
        raw = repr(vars(record)) + record.getMessage()
        assert grant.access_token not in raw
        assert grant.team_id not in raw


async def test_a_network_failure_is_logged_with_its_error_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    caplog.set_level(logging.INFO, logger="miroconnect")
    time = FakeTime()
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(refuse)) as http:
        miro = MiroClient(
            http,
            StaticTokenSource("a-token", key="k"),
            base_url=BASE,
            pacer=CreditPacer(clock=time.now, sleep=time.sleep),
            sleep=time.sleep,
        )
        with pytest.raises(Exception, match="ConnectError"):
            await miro.boards.get("uXjVOD6LSME=")
    logged = calls(caplog)
    assert len(logged) >= 2  # an idempotent GET is retried
    assert [c["attempt"] for c in logged] == list(range(1, len(logged) + 1))
    assert {c["error_type"] for c in logged} == {"ConnectError"}
    assert {c["status_code"] for c in logged} == {None}
