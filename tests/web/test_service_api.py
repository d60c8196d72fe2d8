"""The service API driven as an app in another language would: plain HTTP and JSON."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import APP, MIRO, RETURN_ORIGIN, Harness

USER = "user-42"
BOARDS = f"/api/v1/users/{USER}/boards"
CONFIRM = f"/api/v1/users/{USER}/connection/confirm"


async def test_first_call_needs_consent_then_calls_create_at_once(
    harness: Harness,
) -> None:
    async with harness.api() as api:
        first = await api.post(
            BOARDS, json={"name": "Roadmap", "return_url": f"{RETURN_ORIGIN}/p/7?x=1"}
        )
        assert first.status_code == 202
        body = first.json()
        assert body["status"] == "authorization_required"
        authorize_url = body["authorize_url"]
        # A one-time link to the service itself, not Miro: it binds the browser first.
        assert authorize_url.startswith(f"{APP}/connect/launch/")

        # The app sends the user's browser there; the browser never saw the service.
        launch = await harness.browser.get(authorize_url)
        assert launch.status_code == 303
        assert launch.headers["location"].startswith(f"{MIRO}/oauth/authorize?")
        assert "mc_flow" in harness.browser.cookies
        callback = await harness.consent(launch.headers["location"])
        back = await harness.browser.get(callback)
        assert back.status_code == 303
        landed = urlsplit(back.headers["location"])
        assert f"{landed.scheme}://{landed.netloc}" == RETURN_ORIGIN
        assert landed.path == "/p/7"
        query = parse_qs(landed.query)
        assert query["x"] == ["1"]
        assert "miro_board_id" not in query
        result = query["miro_result"][0]
        # Held, not connected: nothing is usable until the app's backend confirms.
        status = (await api.get(f"/api/v1/users/{USER}/connection")).json()
        assert status["status"] == "not_connected"
        assert (await api.get(BOARDS)).json()["boards"] == []

        confirmed = await api.post(CONFIRM, json={"result": result})
        assert confirmed.status_code == 201, confirmed.text
        board = confirmed.json()["board"]
        assert board["name"] == "Roadmap"
        listed = await api.get(BOARDS)
        assert listed.status_code == 200
        assert [b["id"] for b in listed.json()["boards"]] == [board["id"]]

        second = await api.post(BOARDS, json={"name": "Retro"})
        assert second.status_code == 201
        made = second.json()["board"]
        assert made["name"] == "Retro"
        assert made["id"] != board["id"]
        assert made["view_link"].startswith(f"{MIRO}/app/board/")

        connection = (await api.get(f"/api/v1/users/{USER}/connection")).json()
        assert connection["status"] == "connected"
        assert connection["miro_user_id"] and connection["miro_team_id"]
        assert "boards:write" in connection["scopes"]


async def connect(harness: Harness, user: str = USER) -> None:
    async with harness.api() as api:
        first = await api.post(
            f"/api/v1/users/{user}/boards",
            json={"name": "First", "return_url": f"{RETURN_ORIGIN}/back"},
        )
        launch = await harness.browser.get(first.json()["authorize_url"])
        callback = await harness.consent(launch.headers["location"])
        back = await harness.browser.get(callback)
        assert back.status_code == 303
        result = parse_qs(urlsplit(back.headers["location"]).query)["miro_result"][0]
        confirmed = await api.post(
            f"/api/v1/users/{user}/connection/confirm", json={"result": result}
        )
        assert confirmed.status_code == 201, confirmed.text


async def test_idempotency_key_returns_the_same_board(harness: Harness) -> None:
    await connect(harness)
    headers = {"Idempotency-Key": "order-1001"}
    async with harness.api() as api:
        one = await api.post(BOARDS, json={"name": "Same"}, headers=headers)
        two = await api.post(BOARDS, json={"name": "Same"}, headers=headers)
        other = await api.post(
            BOARDS, json={"name": "Same"}, headers={"Idempotency-Key": "order-1002"}
        )
        assert one.status_code == two.status_code == other.status_code == 201
        assert one.json()["board"]["id"] == two.json()["board"]["id"]
        assert other.json()["board"]["id"] != one.json()["board"]["id"]
        names = [b["name"] for b in (await api.get(BOARDS)).json()["boards"]]
    assert names.count("Same") == 2


async def test_boards_are_listed_newest_first_in_pages(harness: Harness) -> None:
    await connect(harness)
    async with harness.api() as api:
        for name in ("B1", "B2", "B3"):
            assert (await api.post(BOARDS, json={"name": name})).status_code == 201
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
            page = (await api.get(BOARDS, params=params)).json()
            seen += [b["name"] for b in page["boards"]]
            pages += 1
            cursor = page.get("next_cursor")
            if not cursor:
                break
        bad = await api.get(BOARDS, params={"cursor": "x1"})
    assert seen == ["B3", "B2", "B1", "First"]
    assert pages == 2
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


async def test_delete_connection_revokes_and_the_next_call_needs_consent(
    harness: Harness,
) -> None:
    await connect(harness)
    async with harness.api() as api:
        gone = await api.delete(f"/api/v1/users/{USER}/connection")
        assert gone.status_code == 204
        again = await api.delete(f"/api/v1/users/{USER}/connection")
        assert again.status_code == 204
        status = (await api.get(f"/api/v1/users/{USER}/connection")).json()
        assert status == {
            "status": "not_connected",
            "miro_user_id": None,
            "miro_user_name": None,
            "miro_team_id": None,
            "miro_team_name": None,
            "scopes": [],
            "connected_since": None,
            "reason": None,
        }
        after = await api.post(
            BOARDS, json={"name": "After", "return_url": f"{RETURN_ORIGIN}/back"}
        )
        assert after.status_code == 202
        # Not connected and nowhere to come back to: nothing starts.
        nowhere = await api.post(BOARDS, json={"name": "After"})
        assert nowhere.status_code == 409
        assert nowhere.json()["reason"] == "return_url_required"
    metrics = (await harness.browser.get("/metrics")).text
    assert re.search(
        r'miroconnect_miro_requests_total\{endpoint="/v2/oauth/revoke",status="2\d\d"\} 1\.0',
        metrics,
    ), metrics


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example/steal",
        "//evil.example/x",
        "javascript:alert(1)",
        "https://app.example@evil.example/",
        "https://app.example.evil.example/",
        "http://app.example/",  # the allowed origin is https only
        "/\\evil.example",
    ],
)
async def test_open_redirect_return_urls_are_refused(
    harness: Harness, return_url: str
) -> None:
    async with harness.api() as api:
        answer = await api.post(BOARDS, json={"name": "X", "return_url": return_url})
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["reason"] == "return_url_rejected"
    # It says why, and what would pass.
    assert "https://app.example" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_api_key"),
        ("Bearer wrong-key-0123456789", "invalid_api_key"),
        ("Basic dGVzdC1hcGkta2V5LTAxMjM0NTY3ODk=", "missing_api_key"),
        ("Bearer ", "missing_api_key"),
    ],
)
async def test_calls_without_or_with_a_wrong_key_are_401(
    harness: Harness, header: str | None, reason: str
) -> None:
    async with harness.api(key=None) as api:
        headers = {"authorization": header} if header else {}
        for method, path in [
            ("POST", BOARDS),
            ("GET", BOARDS),
            ("GET", f"/api/v1/users/{USER}/connection"),
            ("DELETE", f"/api/v1/users/{USER}/connection"),
        ]:
            answer = await api.request(
                method, path, headers=headers, json={"name": "x"}
            )
            assert answer.status_code == 401, (method, path)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["www-authenticate"].startswith("Bearer")
            problem = answer.json()
            assert problem["status"] == 401 and problem["reason"] == reason


async def test_every_route_of_the_api_checks_the_key_before_reading_the_body(
    harness: Harness,
) -> None:
    # Every path of the service API in its OpenAPI document, with every method: a call
    # without a key gets 401, even with a body that is not JSON at all (the key is
    # checked before the body is read or parsed: no 422 that parsed it for a stranger).
    async with harness.api(key=None) as api:
        document = (await api.get("/openapi.json")).json()
        calls = [
            (
                method.upper(),
                path.replace("{user_id}", USER).replace("{path}", "v2/boards"),
            )
            for path, operations in document["paths"].items()
            if path.startswith("/api/")
            for method in operations
        ]
        assert len(calls) >= 10  # the boards, connection, token and proxy routes
        for method, path in calls:
            answer = await api.request(
                method,
                path,
                content=b"{not json",
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["reason"] == "missing_api_key"


async def test_every_configured_key_works(harness: Harness) -> None:
    async with harness.api(key="other-key-abcdefghijkl") as api:
        answer = await api.get(BOARDS)
    assert answer.status_code == 200


async def test_a_launch_link_works_once(harness: Harness) -> None:
    async with harness.api() as api:
        first = await api.post(
            BOARDS, json={"name": "Once", "return_url": f"{RETURN_ORIGIN}/back"}
        )
    url = first.json()["authorize_url"]
    assert (await harness.browser.get(url)).status_code == 303
    again = await harness.browser.get(url)
    assert again.status_code == 400
    assert 'data-reason="launch_replayed"' in again.text
    forged = await harness.browser.get(f"{APP}/connect/launch/not-a-token")
    assert 'data-reason="launch_unknown"' in forged.text


async def test_invalid_bodies_are_problem_documents(harness: Harness) -> None:
    async with harness.api() as api:
        for body in ({}, {"name": ""}, {"name": "x" * 61}, {"name": "a\nb"}):
            answer = await api.post(BOARDS, json=body)
            assert answer.status_code == 422
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["errors"]
        bad_user = await api.get("/api/v1/users/a%20b/boards")
        assert bad_user.status_code == 422


async def test_cancel_at_miro_returns_to_the_app_with_miro_error(
    harness: Harness,
) -> None:
    async with harness.api() as api:
        first = await api.post(
            BOARDS, json={"name": "No", "return_url": f"{RETURN_ORIGIN}/back"}
        )
    launch = await harness.browser.get(first.json()["authorize_url"])
    callback = await harness.consent(launch.headers["location"], decision="cancel")
    back = await harness.browser.get(callback)
    assert back.status_code == 303
    landed = urlsplit(back.headers["location"])
    assert (landed.netloc, landed.path) == ("app.example", "/back")
    assert parse_qs(landed.query) == {"miro_error": ["access_denied"]}
    # A forged callback has no verified flow: our own page, never a redirect.
    forged = await harness.browser.get(callback)
    assert forged.status_code == 400
    assert "location" not in forged.headers
