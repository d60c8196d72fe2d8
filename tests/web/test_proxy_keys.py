"""A POST through the proxy with an `Idempotency-Key`: one Miro write per key, the first
answer to every repeat, and never a second write after an answer got lost."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .conftest import MIRO, Harness
from .conftest import PROXY_USER as USER
from .miro_spy import Spy, png
from .test_proxy import PROXY, stats


async def fault(harness: Harness, **rule: Any) -> None:
    answer = await harness.browser.post(f"{MIRO}/_emulator/faults", json=rule)
    assert answer.status_code in (200, 201), answer.text


def posts(spy: Spy, path: str) -> int:
    return sum(1 for r in spy.sent if r.method == "POST" and r.url.path == path)


async def boards_named(harness: Harness, name: str) -> list[dict[str, Any]]:
    boards = (await harness.browser.get(f"{MIRO}/_emulator/boards")).json()
    return [board for board in boards if board["name"] == name]


async def test_a_key_sent_twice_makes_one_board_and_gets_the_first_answer(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    key = {"Idempotency-Key": "order-1"}
    async with harness.api() as api:
        first = await api.post(f"{PROXY}/v2/boards", json={"name": "Once"}, headers=key)
        again = await api.post(f"{PROXY}/v2/boards", json={"name": "Once"}, headers=key)
        other = await api.post(
            f"{PROXY}/v2/boards",
            json={"name": "Once"},
            headers={"Idempotency-Key": "2"},
        )
    assert first.status_code == again.status_code == other.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["x-ratelimit-limit"] == first.headers["x-ratelimit-limit"]
    assert other.json()["id"] != first.json()["id"]
    assert posts(spy, "/v2/boards") == 2
    assert len(await boards_named(harness, "Once")) == 2


async def test_the_key_with_another_request_is_refused_and_nothing_is_sent(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    key = {"Idempotency-Key": "order-9"}
    async with harness.api() as api:
        first = await api.post(f"{PROXY}/v2/boards", json={"name": "A"}, headers=key)
        board = first.json()["id"]
        reused = [
            await api.post(f"{PROXY}/v2/boards", json={"name": "B"}, headers=key),
            await api.post(
                f"{PROXY}/v2/boards",
                params={"copy": "1"},
                json={"name": "A"},
                headers=key,
            ),
            await api.post(
                f"{PROXY}/v2/boards/{board}/tags", json={"title": "A"}, headers=key
            ),
            # The same key in the service's own board creation is another request too.
            await api.post(
                f"/api/v1/users/{USER}/boards", json={"name": "A"}, headers=key
            ),
        ]
    assert first.status_code == 201
    for answer in reused:
        assert answer.status_code == 422, answer.text
        assert answer.json()["reason"] == "idempotency_key_reused"
    assert posts(spy, "/v2/boards") == 1
    assert posts(spy, f"/v2/boards/{board}/tags") == 0


async def test_the_same_upload_with_a_new_multipart_boundary_is_the_same_request(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    image = png(100 * 1024)
    async with harness.api() as api:
        board = (await api.post(f"{PROXY}/v2/boards", json={"name": "Up"})).json()["id"]
        path = f"{PROXY}/v2/boards/{board}/images"
        answers = [
            await api.post(
                path,
                files={"resource": ("a.png", image, "image/png")},
                headers={"Idempotency-Key": "upload-1"},
            )
            for _ in range(2)  # httpx draws a new boundary for each request
        ]
    assert answers[0].status_code == answers[1].status_code == 201
    assert answers[1].json()["id"] == answers[0].json()["id"]
    boundaries = {
        r.headers["content-type"] for r in spy.sent if r.url.path.endswith("/images")
    }
    assert len(boundaries) == 1  # the second request never reached Miro
    assert posts(spy, f"/v2/boards/{board}/images") == 1


async def test_a_board_whose_answer_was_lost_is_found_not_made_again(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    await fault(
        harness, method="POST", path="/v2/boards", times=1, action="drop_after_commit"
    )
    key = {"Idempotency-Key": "lost-1"}
    async with harness.api() as api:
        first = await api.post(f"{PROXY}/v2/boards", json={"name": "Lost"}, headers=key)
        again = await api.post(f"{PROXY}/v2/boards", json={"name": "Lost"}, headers=key)
    assert first.status_code == 201, first.text
    made = await boards_named(harness, "Lost")
    assert [b["id"] for b in made] == [first.json()["id"]]  # adopted, not made twice
    assert first.json()["name"] == "Lost"
    assert again.json()["id"] == first.json()["id"]
    assert posts(spy, "/v2/boards") == 1
    assert (await stats(harness))["faults_applied"] == 1


async def test_a_5xx_after_sending_is_settled_before_the_board_is_sent_again(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    await fault(
        harness, method="POST", path="/v2/boards", times=2, action="status", status=503
    )
    async with harness.api() as api:
        answer = await api.post(
            f"{PROXY}/v2/boards",
            json={"name": "Flaky"},
            headers={"Idempotency-Key": "flaky-1"},
        )
    assert answer.status_code == 201, answer.text
    assert len(await boards_named(harness, "Flaky")) == 1
    assert posts(spy, "/v2/boards") == 3
    # Between the sends, the team's boards were listed: nothing of ours was there.
    listed = [r for r in spy.sent if r.method == "GET" and r.url.path == "/v2/boards"]
    assert len(listed) >= 2


async def test_any_other_lost_answer_is_outcome_unknown_and_never_sent_again(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    async with harness.api() as api:
        board = (await api.post(f"{PROXY}/v2/boards", json={"name": "N"})).json()["id"]
        notes = f"/v2/boards/{board}/sticky_notes"
        await fault(
            harness, method="POST", path=notes, times=1, action="drop_after_commit"
        )
        body = {"data": {"content": "once"}}
        key = {"Idempotency-Key": "note-1"}
        first = await api.post(f"{PROXY}{notes}", json=body, headers=key)
        again = await api.post(f"{PROXY}{notes}", json=body, headers=key)
        items = await api.get(f"{PROXY}/v2/boards/{board}/items")
    for answer in (first, again):
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["reason"] == "outcome_unknown"
    assert posts(spy, notes) == 1
    contents = [i["data"]["content"] for i in items.json()["data"]]
    assert contents == ["once"]  # Miro did it, once


async def test_a_repeat_while_the_first_is_running_waits_for_its_answer(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    await fault(
        harness, method="POST", path="/v2/boards", times=1, action="delay", seconds=0.5
    )
    key = {"Idempotency-Key": "double-click"}
    async with harness.api() as api:
        one, two = await asyncio.gather(
            api.post(f"{PROXY}/v2/boards", json={"name": "Double"}, headers=key),
            api.post(f"{PROXY}/v2/boards", json={"name": "Double"}, headers=key),
        )
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] == two.json()["id"]
    assert {
        one.headers.get("idempotent-replayed"),
        two.headers.get("idempotent-replayed"),
    } == {None, "true"}
    assert posts(spy, "/v2/boards") == 1
    assert len(await boards_named(harness, "Double")) == 1


async def test_a_key_on_a_miro_refusal_replays_the_refusal(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    key = {"Idempotency-Key": "bad-1"}
    async with harness.api() as api:
        answers = [
            await api.post(f"{PROXY}/v2/boards", json={"name": "x" * 61}, headers=key)
            for _ in range(2)
        ]
    assert [a.status_code for a in answers] == [400, 400]
    assert json.loads(answers[1].content) == json.loads(answers[0].content)
    assert posts(spy, "/v2/boards") == 1
