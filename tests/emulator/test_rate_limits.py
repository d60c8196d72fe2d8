"""Rate limits: credits per level, headers everywhere, 429, window reset (what it must show: 4)."""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette

from miroconnect.emulator import create_emulator, emulator_transport
from support import FakeClock

from .conftest import BASE_URL, CLIENT, START, Tokens, connect

WINDOW_END = str(int(START.timestamp()) // 60 * 60 + 60)


def _remaining(response: httpx2.Response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


async def test_credits_are_charged_per_level(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    created = await http.post("/v2/boards", json={"name": "A"}, headers=h)  # level 3
    assert created.headers["X-RateLimit-Limit"] == "100000"
    assert _remaining(created) == 100_000 - 500
    board = created.json()["id"]
    got = await http.get(f"/v2/boards/{board}", headers=h)  # level 1
    assert _remaining(got) == 100_000 - 550
    note = await http.post(f"/v2/boards/{board}/sticky_notes", json={}, headers=h)
    assert _remaining(note) == 100_000 - 650  # level 2
    copied = await http.put("/v2/boards", params={"copy_from": board}, headers=h)
    assert copied.status_code == 201
    assert _remaining(copied) == 100_000 - 2650  # level 4
    items = await http.get(f"/v2/boards/{board}/items", headers=h)
    assert _remaining(items) == 100_000 - 2750  # listing items is level 2


async def test_headers_on_every_api_response(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    responses = [
        await http.get("/v2/boards", headers=tokens.headers),
        await http.get("/v2/boards/uXjVnotthere=", headers=tokens.headers),
        await http.get("/v2/boards"),  # no token
        await http.get("/v2/boards", headers={"Authorization": "Bearer bad"}),
        await http.post("/v2/boards", json={"name": ""}, headers=tokens.headers),
        await http.get("/v2/no-such-endpoint"),
        await http.get("/v1/oauth-token", headers=tokens.headers),
        await http.post("/v1/oauth/token", data={"grant_type": "x"}),
    ]
    assert [r.status_code for r in responses] == [
        200,
        404,
        401,
        401,
        400,
        404,
        200,
        400,
    ]
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "100000"
        assert response.headers["X-RateLimit-Reset"] == WINDOW_END
        assert "X-RateLimit-Remaining" in response.headers


async def test_429_past_the_budget_then_reset_in_the_next_window(
    clock: FakeClock,
) -> None:
    app = create_emulator(clock=clock, clients=[CLIENT], credits=1000)
    async with httpx2.AsyncClient(
        transport=emulator_transport(app), base_url=BASE_URL
    ) as http:
        tokens = await connect(http)
        for expected in (950, 900):
            r = await http.get("/v2/boards", headers=tokens.headers)
            assert _remaining(r) == expected
        # a level-3 call costs 500: 900 -> 400; the next one does not fit
        assert (
            await http.post("/v2/boards", json={}, headers=tokens.headers)
        ).status_code == 201
        refused = await http.post("/v2/boards", json={}, headers=tokens.headers)
        assert refused.status_code == 429
        assert refused.json() == {
            "status": 429,
            "code": "tooManyRequests",
            "message": "Request rate limit exceeded.",
            "type": "error",
        }
        assert _remaining(refused) == 400
        assert refused.headers["X-RateLimit-Reset"] == WINDOW_END
        # the refused call was not charged: a cheap call still fits
        assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 200
        stats = (await http.get("/_emulator/stats")).json()
        assert stats["rate_limited"] == 1 and stats["boards_created"] == 1
        clock.advance(60)
        fresh = await http.post("/v2/boards", json={}, headers=tokens.headers)
        assert fresh.status_code == 201 and _remaining(fresh) == 500


async def test_budget_is_per_user_and_app(clock: FakeClock) -> None:
    app = create_emulator(clock=clock, clients=[CLIENT], credits=500)
    async with httpx2.AsyncClient(
        transport=emulator_transport(app), base_url=BASE_URL
    ) as http:
        alice = await connect(http, user="alice")
        bob = await connect(http, user="bob")
        assert (await http.post("/v2/boards", headers=alice.headers)).status_code == 201
        assert (await http.get("/v2/boards", headers=alice.headers)).status_code == 429
        assert (await http.get("/v2/boards", headers=bob.headers)).status_code == 200


async def test_custom_window(clock: FakeClock, emulator: Starlette) -> None:
    app = create_emulator(clock=clock, clients=[CLIENT], credits=50, window_seconds=10)
    async with httpx2.AsyncClient(
        transport=emulator_transport(app), base_url=BASE_URL
    ) as http:
        tokens = await connect(http)
        assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 200
        assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 429
        clock.advance(10)
        assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 200
