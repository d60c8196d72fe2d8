"""MiroClient against `httpx2.MockTransport` handlers: wire shapes, auth, errors, retries."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import httpx2
import pytest

from miroconnect.client import CreditPacer, MiroClient, RetryPolicy, StaticTokenSource
from miroconnect.client.models import Position, StickyNoteData, StickyNoteStyle
from miroconnect.errors import (
    BadRequestError,
    MiroServerError,
    MiroTransportError,
    NotFoundError,
    RateLimitedError,
    ReauthorizationRequiredError,
    UnauthorizedError,
)
from support import FakeTime, RotatingTokenSource

Handler = Callable[[httpx2.Request], httpx2.Response]
BOARD_ID = "uXjVOD6LSME="


def board(board_id: str = BOARD_ID, name: str = "Sprint 12") -> dict[str, object]:
    return {
        "id": board_id,
        "type": "board",
        "name": name,
        "description": "",
        "viewLink": f"https://miro.com/app/board/{board_id}",
        "createdAt": "2026-01-01T00:00:00Z",
        "createdBy": {"id": "3074457353169356300", "name": "Ann", "type": "user"},
        "somethingNew": {"tolerated": True},
    }


def client(
    http: httpx2.AsyncClient,
    *,
    tokens: RotatingTokenSource | StaticTokenSource | None = None,
    time: FakeTime | None = None,
    attempts: int = 4,
) -> MiroClient:
    time = time or FakeTime()
    return MiroClient(
        http,
        tokens or StaticTokenSource("secret-token", key="k"),
        base_url="https://api.example",
        pacer=CreditPacer(clock=time.now, sleep=time.sleep),
        retry=RetryPolicy(attempts=attempts, rng=random.Random(1)),  # noqa: S311 (jitter, not secrets)
        sleep=time.sleep,
    )


def mock(handler: Handler) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler))


async def test_create_board_sends_bearer_and_json_and_parses_the_board() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(201, json=board())

    async with mock(handler) as http:
        created = await client(http).boards.create(name="Sprint 12", team_id="42")

    assert seen[0].headers["authorization"] == "Bearer secret-token"
    assert seen[0].url.path == "/v2/boards"
    assert json.loads(seen[0].content) == {"name": "Sprint 12", "teamId": "42"}
    assert created.id == BOARD_ID
    assert created.view_link == f"https://miro.com/app/board/{BOARD_ID}"
    assert created.created_by is not None and created.created_by.name == "Ann"
    assert created.model_extra == {"somethingNew": {"tolerated": True}}


async def test_board_id_is_verbatim_in_paths_and_encoded_in_copy_from() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(201 if request.method == "PUT" else 200, json=board())

    async with mock(handler) as http:
        miro = client(http)
        await miro.boards.get(BOARD_ID)
        await miro.boards.copy(BOARD_ID, name="Copy")

    assert seen[0].url.raw_path == b"/v2/boards/uXjVOD6LSME="
    assert seen[1].method == "PUT"
    assert seen[1].url.raw_path == b"/v2/boards?copy_from=uXjVOD6LSME%3D"


async def test_update_accepted_with_202_and_no_body_returns_none() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(202)

    async with mock(handler) as http:
        assert await client(http).boards.update(BOARD_ID, name="Renamed") is None


async def test_a_401_gets_one_new_token_and_one_retry() -> None:
    tokens = RotatingTokenSource()
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer token-1":
            return httpx2.Response(401, json={"status": 401, "code": "tokenExpired"})
        return httpx2.Response(200, json=board())

    async with mock(handler) as http:
        got = await client(http, tokens=tokens).boards.get(BOARD_ID)

    assert got.id == BOARD_ID
    assert seen == ["Bearer token-1", "Bearer token-2"]
    assert tokens.rejections == ["token-1"]


async def test_a_second_401_is_an_error_that_does_not_show_the_token() -> None:
    class OneRefresh(RotatingTokenSource):
        async def after_rejection(self, rejected: str) -> str:
            self.rejections.append(rejected)
            return "token-2"

    tokens = OneRefresh()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            401, json={"status": 401, "code": "tokenNotProvided", "message": "bad"}
        )

    async with mock(handler) as http:
        with pytest.raises(UnauthorizedError) as caught:
            await client(http, tokens=tokens).boards.get(BOARD_ID)
    assert caught.value.status_code == 401
    assert "token-" not in str(caught.value)
    assert tokens.rejections == ["token-1"]


async def test_static_token_rejected_asks_for_reauthorization() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(401, json={"status": 401, "code": "tokenNotProvided"})

    async with mock(handler) as http:
        with pytest.raises(ReauthorizationRequiredError) as caught:
            await client(http).boards.get(BOARD_ID)
    assert "secret-token" not in str(caught.value)


async def test_api_errors_carry_status_code_message_context_and_request_id() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            404,
            headers={"X-Request-Id": "req-7"},
            json={
                "status": 404,
                "code": "notFound",
                "message": "Board not found",
                "context": {"id": BOARD_ID},
                "type": "error",
            },
        )

    async with mock(handler) as http:
        with pytest.raises(NotFoundError) as caught:
            await client(http).boards.get(BOARD_ID)
    error = caught.value
    assert (error.status_code, error.code, error.message) == (
        404,
        "notFound",
        "Board not found",
    )
    assert error.context == {"id": BOARD_ID}
    assert error.request_id == "req-7"
    assert "secret-token" not in str(error)


async def test_idempotent_calls_retry_5xx_with_backoff_but_creates_do_not() -> None:
    calls: dict[str, int] = {"GET": 0, "POST": 0}

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls[request.method] += 1
        if request.method == "GET" and calls["GET"] < 3:
            return httpx2.Response(503, json={"status": 503, "message": "down"})
        if request.method == "POST":
            return httpx2.Response(503, json={"status": 503, "message": "down"})
        return httpx2.Response(200, json=board())

    time = FakeTime()
    async with mock(handler) as http:
        miro = client(http, time=time)
        assert (await miro.boards.get(BOARD_ID)).id == BOARD_ID
        with pytest.raises(MiroServerError):
            await miro.boards.create(name="x")
    assert calls == {"GET": 3, "POST": 1}
    backoffs = [s for s in time.sleeps if s > 0]
    assert len(backoffs) == 2 and all(0 < s <= 0.4 for s in backoffs)


async def test_retries_stop_after_the_policy_attempts() -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return httpx2.Response(500)

    async with mock(handler) as http:
        with pytest.raises(MiroServerError) as caught:
            await client(http, attempts=3).boards.get(BOARD_ID)
    assert calls == 3
    assert caught.value.status_code == 500


async def test_network_errors_say_whether_the_request_may_have_run() -> None:
    def dropped(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.RemoteProtocolError("peer closed", request=request)

    def refused(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    async with mock(dropped) as http:
        with pytest.raises(MiroTransportError) as caught:
            await client(http).boards.create(name="x")
    assert caught.value.maybe_processed is True
    async with mock(refused) as http:
        with pytest.raises(MiroTransportError) as caught:
            await client(http, attempts=2).boards.get(BOARD_ID)
    assert caught.value.maybe_processed is False


async def test_a_429_waits_for_the_reset_then_sends_again_even_a_post() -> None:
    time = FakeTime()
    reset = int(time.epoch()) + 30
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        headers = {
            "X-RateLimit-Limit": "100000",
            "X-RateLimit-Remaining": "0" if calls == 1 else "99500",
            "X-RateLimit-Reset": str(reset if calls == 1 else reset + 60),
        }
        if calls == 1:
            return httpx2.Response(
                429, headers=headers, json={"status": 429, "code": "tooManyRequests"}
            )
        return httpx2.Response(201, headers=headers, json=board())

    async with mock(handler) as http:
        created = await client(http, time=time).boards.create(name="x")
    assert created.id == BOARD_ID
    assert calls == 2
    assert time.epoch() >= reset


async def test_429s_that_never_end_are_raised_with_the_reset() -> None:
    time = FakeTime()

    def handler(request: httpx2.Request) -> httpx2.Response:
        reset = int(time.epoch()) + 1
        return httpx2.Response(
            429,
            headers={
                "X-RateLimit-Limit": "1000",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
            json={"status": 429, "code": "tooManyRequests", "message": "slow down"},
        )

    async with mock(handler) as http:
        with pytest.raises(RateLimitedError) as caught:
            await client(http, time=time).boards.get(BOARD_ID)
    assert caught.value.code == "tooManyRequests"
    assert caught.value.reset_at is not None


async def test_list_boards_follows_offset_pages() -> None:
    boards = [board(f"b{i}=", f"n{i}") for i in range(7)]
    offsets: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        offsets.append(request.url.params["offset"])
        assert request.url.params["team_id"] == "t1"
        assert request.url.params["sort"] == "last_created"
        data = boards[offset : offset + limit]
        return httpx2.Response(
            200,
            json={
                "data": data,
                "total": len(boards),
                "size": len(data),
                "offset": offset,
                "limit": limit,
                "type": "list",
            },
        )

    async with mock(handler) as http:
        got = [
            b.id
            async for b in client(http).boards.list(
                team_id="t1", sort="last_created", page_size=3
            )
        ]
    assert got == [f"b{i}=" for i in range(7)]
    assert offsets == ["0", "3", "6"]


async def test_list_items_follows_cursor_pages_and_refuses_limits_under_10() -> None:
    cursors: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        cursor = request.url.params.get("cursor")
        cursors.append(cursor)
        assert request.url.params["limit"] == "10"
        if cursor is None:
            return httpx2.Response(
                200,
                json={
                    "data": [{"id": "1", "type": "sticky_note"}],
                    "cursor": "c2",
                    "total": 2,
                    "size": 1,
                    "limit": 10,
                },
            )
        return httpx2.Response(
            200,
            json={"data": [{"id": "2", "type": "text", "data": {"content": "t"}}]},
        )

    async with mock(handler) as http:
        miro = client(http)
        items = [i async for i in miro.items.list(BOARD_ID, page_size=10)]
        with pytest.raises(ValueError, match="between 10 and 50"):
            async for _ in miro.items.list(BOARD_ID, page_size=5):
                pass
    assert [(i.id, i.type) for i in items] == [("1", "sticky_note"), ("2", "text")]
    assert cursors == [None, "c2"]


async def test_sticky_note_create_sends_camel_case_parts() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(
            201,
            json={"id": "9", "type": "sticky_note", "data": {"content": "Hi"}},
        )

    async with mock(handler) as http:
        note = await client(http).sticky_notes.create(
            BOARD_ID,
            data=StickyNoteData(content="Hi"),
            style=StickyNoteStyle(fill_color="yellow"),
            position=Position(x=1, y=2),
            parent_id="77",
        )
    assert seen[0].url.raw_path == b"/v2/boards/uXjVOD6LSME=/sticky_notes"
    assert json.loads(seen[0].content) == {
        "data": {"content": "Hi"},
        "style": {"fillColor": "yellow"},
        "position": {"x": 1.0, "y": 2.0},
        "parent": {"id": "77"},
    }
    assert note.data is not None and note.data.content == "Hi"


async def test_bad_input_is_refused_before_sending() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("nothing should be sent")

    async with mock(handler) as http:
        miro = client(http)
        with pytest.raises(ValueError, match="1 to 60"):
            await miro.boards.create(name="x" * 61)
        with pytest.raises(ValueError, match="role"):
            await miro.members.share(BOARD_ID, ["a@example.com"], role="king")
        with pytest.raises(ValueError, match="1 to 20"):
            await miro.members.share(BOARD_ID, [])
        with pytest.raises(ValueError, match="empty"):
            await miro.boards.get("")


async def test_400_is_a_bad_request_error() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            400, json={"status": 400, "code": "invalidParameters", "message": "no"}
        )

    async with mock(handler) as http:
        with pytest.raises(BadRequestError) as caught:
            await client(http).boards.create(name="x")
    assert caught.value.code == "invalidParameters"


async def test_token_info_and_revoke_keep_the_token_out_of_urls() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if request.url.path == "/v1/oauth-token":
            return httpx2.Response(
                200,
                json={
                    "type": "oAuthToken",
                    "team": {"type": "team", "name": "T", "id": "1"},
                    "user": {"type": "user", "name": "U", "id": "2"},
                    "createdBy": {"type": "user", "name": "U", "id": "2"},
                    "scopes": ["boards:read"],
                },
            )
        return httpx2.Response(204)

    async with mock(handler) as http:
        miro = client(http)
        info = await miro.token_info()
        await miro.revoke(client_id="cid", client_secret="csecret")
    assert (info.user.id, info.team.id, info.organization) == ("2", "1", None)
    revoke = seen[1]
    assert revoke.url.path == "/v2/oauth/revoke"
    assert b"secret-token" not in revoke.url.raw_path
    assert json.loads(revoke.content) == {
        "accessToken": "secret-token",
        "clientId": "cid",
        "clientSecret": "csecret",
    }
