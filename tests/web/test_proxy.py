"""The proxy to Miro's REST API, driven as another app's backend would: plain HTTP.

Between the service and the emulator sits `Spy`, a transport that keeps every request
that reaches Miro's REST API and can answer some itself, so a test sees what Miro got
(and that nothing got there at all) and what Miro says that must not come back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2

from miroconnect.client.routes import route_for
from miroconnect.web.proxy_target import proxy_target

from .conftest import API_KEY, APP, MIRO, RETURN_ORIGIN, Harness, open_harness
from .conftest import PROXY_USER as USER
from .miro_spy import Spy, png
from .test_limits import Upload
from .test_service_api import connect

PROXY = f"/api/v1/users/{USER}/miro"


async def stats(harness: Harness) -> dict[str, Any]:
    body: dict[str, Any] = (await harness.browser.get(f"{MIRO}/_emulator/stats")).json()
    return body


async def test_get_and_post_pass_through_with_the_users_token_only(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    async with harness.api() as api:
        made = await api.post(
            f"{PROXY}/v2/boards",
            json={"name": "Via proxy", "description": "sent as is"},
            headers={"cookie": "host_session=1", "x-forwarded-for": "10.0.0.1"},
        )
        assert made.status_code == 201, made.text
        board = made.json()
        assert board["name"] == "Via proxy" and board["description"] == "sent as is"
        assert made.headers["content-type"].startswith("application/json")
        got = await api.get(f"{PROXY}/v2/boards/{board['id']}")
        listed = await api.get(
            f"{PROXY}/v2/boards",
            params={"team_id": board["team"]["id"], "sort": "last_created", "limit": 1},
        )
    assert got.status_code == 200 and got.json()["id"] == board["id"]
    assert [b["id"] for b in listed.json()["data"]] == [board["id"]]
    for answer in (made, got, listed):
        assert {
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        } <= set(answer.headers)
        assert "miro_session" not in answer.headers.get("set-cookie", "")
        assert "keep-alive" not in answer.headers
        assert "x-miro-internal" not in answer.headers
    assert int(listed.headers["x-ratelimit-remaining"]) < int(
        got.headers["x-ratelimit-remaining"]
    )
    # Miro got the query as sent, the user's token, and none of the app's headers.
    assert [r.url.path for r in spy.sent] == [
        "/v2/boards",
        f"/v2/boards/{board['id']}",
        "/v2/boards",
    ]
    assert spy.sent[2].url.params["sort"] == "last_created"
    for request in spy.sent:
        assert request.headers["authorization"].startswith("Bearer ")
        assert API_KEY not in request.headers["authorization"]
        assert "cookie" not in request.headers
        assert "x-forwarded-for" not in request.headers
    assert json.loads(spy.sent[0].content) == {
        "name": "Via proxy",
        "description": "sent as is",
    }
    # One metrics label for every proxied path: no board id becomes a time series.
    metrics = (await harness.browser.get("/metrics")).text
    assert 'route="/api/v1/users/{user_id}/miro/{path}"' in metrics
    assert board["id"] not in metrics


async def test_miros_errors_and_redirects_come_back_as_miro_sent_them(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    async with harness.api() as api:
        missing = await api.get(f"{PROXY}/v2/boards/no-such-board")
        invalid = await api.post(f"{PROXY}/v2/boards", json={"name": "x" * 61})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/json")
    assert missing.json()["code"] and missing.json()["type"] == "error"
    assert invalid.status_code == 400 and invalid.json()["status"] == 400
    assert len(spy.sent) == 2  # a 4xx is Miro's answer: never repeated


async def test_json_nested_too_deep_to_parse_is_miros_to_refuse(
    spied: tuple[Harness, Spy],
) -> None:
    # The proxy reads a small JSON body (credits, the idempotency key's request); one
    # nested past Python's recursion limit is not JSON to it: sent on, and Miro says no.
    harness, spy = spied
    deep = b"[" * 20_000 + b"]" * 20_000
    async with harness.api() as api:
        for headers in ({}, {"idempotency-key": "deep-1"}):
            answer = await api.post(
                f"{PROXY}/v2/boards",
                content=deep,
                headers={"content-type": "application/json", **headers},
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["type"] == "error"
    assert len(spy.sent) == 2


async def test_an_image_upload_streams_through_as_multipart(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    image = png(300 * 1024)  # over the 64 KiB the rest of the API takes
    async with harness.api() as api:
        board = (await api.post(f"{PROXY}/v2/boards", json={"name": "Pics"})).json()
        # Miro rejects the token once: the upload goes again, from the spool's file.
        spy.canned.append(httpx2.Response(401, json={"status": 401}))
        uploaded = await api.post(
            f"{PROXY}/v2/boards/{board['id']}/images",
            files={
                "resource": ("cat.png", image, "image/png"),
                "data": (None, json.dumps({"title": "Cat"}), "application/json"),
            },
        )
        assert uploaded.status_code == 201, uploaded.text
        item = uploaded.json()
        assert item["type"] == "image" and item["data"]["title"] == "Cat"
        resource = await api.get(
            f"{PROXY}/v2/boards/{board['id']}/resources/images/{item['id']}",
            params={"redirect": "true"},
        )
    # Miro got the very bytes, twice; its redirect to the file comes back, not followed.
    rejected, sent = spy.sent[1], spy.sent[2]
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert image in sent.content and int(sent.headers["content-length"]) > len(image)
    assert rejected.content == sent.content
    assert resource.status_code == 307
    assert resource.headers["location"].startswith(MIRO)
    assert len(spy.sent) == 4


async def test_a_large_answer_streams_back_as_it_comes(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    chunk = bytes(range(256)) * 256  # 64 KiB

    async def body() -> AsyncIterator[bytes]:
        for _ in range(16):
            yield chunk

    spy.canned.append(
        httpx2.Response(
            200, headers={"content-type": "application/octet-stream"}, content=body()
        )
    )
    download = Upload(size=0)
    key = [(b"authorization", f"Bearer {API_KEY}".encode())]
    await download.send_to(
        harness.app, f"{PROXY}/v2/boards/b/items", "", key, method="GET"
    )
    assert download.answer_status == 200
    assert download.answer_body == chunk * 16
    assert "content-length" not in download.answer_headers
    assert download.answer_parts >= 16  # passed on as it came, never held whole


async def test_a_401_refreshes_the_token_and_sends_again_once(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    vault = harness.app.state.miroconnect.vault
    before = vault.refresh_count
    spy.canned.append(httpx2.Response(401, json={"status": 401, "type": "error"}))
    async with harness.api() as api:
        answer = await api.post(f"{PROXY}/v2/boards", json={"name": "After 401"})
        assert answer.status_code == 201, answer.text
        # Twice in a row: the refreshed token is rejected too, and Miro's 401 is the
        # answer (no third try, no loop).
        spy.canned += [httpx2.Response(401, json={"status": 401})] * 2
        again = await api.get(f"{PROXY}/v2/boards/{answer.json()['id']}")
    assert vault.refresh_count == before + 2
    first, retried = spy.sent[0], spy.sent[1]
    assert first.headers["authorization"] != retried.headers["authorization"]
    assert json.loads(retried.content) == {"name": "After 401"}  # the body again
    assert again.status_code == 401
    assert len(spy.sent) == 4


async def test_gets_are_retried_after_a_5xx_and_other_methods_are_not(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    async with harness.api() as api:
        board = (await api.post(f"{PROXY}/v2/boards", json={"name": "R"})).json()
        spy.canned.append(httpx2.Response(503, json={"status": 503}))
        got = await api.get(f"{PROXY}/v2/boards/{board['id']}")
        spy.canned.append(httpx2.Response(503, json={"status": 503}))
        patched = await api.patch(
            f"{PROXY}/v2/boards/{board['id']}", json={"description": "d"}
        )
    assert got.status_code == 200
    assert patched.status_code == 503
    assert [r.method for r in spy.sent] == ["POST", "GET", "GET", "PATCH"]


ATTACKS = (
    "/v2/../oauth/revoke",
    "/v2/%2e%2e/%2E%2E/admin",
    "/v2/boards/%2e",
    "//evil.com/v2/boards",
    "/https://evil.com/v2/boards",
    "/http:%2F%2Fevil.com/v2/boards",
    "/v1/oauth-token",
    "/v2-experimental/boards/b/items/i",
    "/v2/boards%2Fx",
    "/v2/boards%5cx",
    "/v2/boards\\x",
    "/v2/oauth/revoke",
    "/v2/%6fauth/revoke",  # an escaped letter is the letter: still oauth
    "/v2/OAuth/revoke",
    "/v2/oauth;x/revoke",  # a server that strips path parameters reads oauth
    "/v2/oauth./revoke",  # a server that trims a suffix reads oauth
    "/v2/oauth%20/revoke",
    "/v2/boards;jsessionid=1",
    "/v2",
    "/",
    "/v2/boards/a b",
    "/v2/boards/%00",
    "/V2/boards",
)


async def test_paths_that_could_leave_miros_v2_api_are_refused_unsent(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    before = (await stats(harness))["requests"]
    key = [(b"authorization", f"Bearer {API_KEY}".encode())]
    for raw in ATTACKS:
        for method in ("GET", "POST"):
            upload = Upload(size=2)
            path = f"/api/v1/users/{USER}/miro{raw}"
            await upload.send_to(
                harness.app, path, "application/json", key, method=method
            )
            problem = json.loads(upload.answer_body)
            forbidden = raw.lower().startswith(
                ("/v2/oauth/", "/v2/%6fauth/", "/v2/oauth./", "/v2/oauth%20/")
            )
            expected = (403, "path_forbidden") if forbidden else None
            assert (upload.answer_status, problem["reason"]) == (
                expected or (400, "path_not_allowed")
            ), raw
            assert upload.taken == 0  # refused before the body was read
    assert spy.sent == []
    assert (await stats(harness))["requests"] == before


async def test_a_path_goes_to_miro_in_its_normal_form(
    spied: tuple[Harness, Spy],
) -> None:
    # RFC 3986 6.2.2.2: an escaped unreserved character is that character; the
    # reserved ones stay escaped (in upper case), so what Miro gets means the same.
    harness, spy = spied
    async with harness.api() as api:
        made = await api.post(f"{PROXY}/v2/boards", json={"name": "Normal"})
        board = made.json()["id"]
        answer = await api.get(f"{PROXY}/v2/%62oards/{board}/%69tems?limit=10")
        escaped = await api.get(f"{PROXY}/v2/boards/a%3db")
    assert answer.status_code == 200 and escaped.status_code == 404
    assert [r.url.raw_path for r in spy.sent[1:]] == [
        f"/v2/boards/{board}/items?limit=10".encode(),
        b"/v2/boards/a%3Db",
    ]


def test_an_escaped_letter_cannot_hide_an_operations_credit_level() -> None:
    # Found by an attacker: `%69tems/bulk` was booked at the default level once, not
    # at level 2 per item; the normal form is what the level is read from.
    raw = b"/api/v1/users/u/miro/v2/boards/b1/%69tems/bulk"
    scope = {"raw_path": raw, "path": raw.decode(), "query_string": b""}
    target = proxy_target(scope, "v2/boards/b1/items/bulk", "https://api.miro.com")
    assert target.path == "/v2/boards/b1/items/bulk"
    route = route_for("POST", target.path)
    assert route is not None and route.per_item


async def test_what_looks_like_a_host_in_a_path_stays_a_path_at_miro(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    async with harness.api() as api:
        answer = await api.get(f"{PROXY}/v2/boards/@evil.com:443")
    assert answer.status_code == 404  # Miro's: no such board
    assert [(r.url.host, r.url.raw_path) for r in spy.sent] == [
        ("miro.test", b"/v2/boards/@evil.com:443")
    ]


async def test_without_a_connection_the_answer_says_how_to_get_one(
    harness: Harness,
) -> None:
    path = "/api/v1/users/nobody/miro/v2/boards"
    async with harness.api() as api:
        plain = await api.get(path)
        linked = await api.get(
            path, headers={"X-Miroconnect-Return-Url": f"{RETURN_ORIGIN}/after"}
        )
        refused = await api.get(
            path, headers={"X-Miroconnect-Return-Url": "https://evil.example/x"}
        )
        no_key = await httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=harness.app), base_url=APP
        ).get(path)
    assert plain.status_code == 409
    assert plain.headers["content-type"] == "application/problem+json"
    assert plain.json()["reason"] == "not_connected"
    assert "authorize_url" not in plain.json()
    assert linked.status_code == 409
    assert linked.json()["authorize_url"].startswith(f"{APP}/connect/launch/")
    assert refused.status_code == 403
    assert refused.json()["reason"] == "return_url_rejected"
    assert no_key.status_code == 401
    # The launch link works: it starts Miro's consent.
    launch = await harness.browser.get(linked.json()["authorize_url"])
    assert launch.headers["location"].startswith(f"{MIRO}/oauth/authorize?")


async def test_a_connection_that_needs_consent_again_says_so(
    spied: tuple[Harness, Spy],
) -> None:
    harness, spy = spied
    vault = harness.app.state.miroconnect.vault
    connection = await vault.connection_for(USER)
    await vault.mark_needs_reauth(connection.id, "test")
    async with harness.api() as api:
        answer = await api.get(
            f"{PROXY}/v2/boards",
            headers={"X-Miroconnect-Return-Url": f"{RETURN_ORIGIN}/again"},
        )
    assert answer.status_code == 409
    assert answer.json()["reason"] == "needs_reauth"
    assert answer.json()["authorize_url"].startswith(f"{APP}/connect/launch/")
    assert spy.sent == []


async def test_a_body_over_the_proxys_cap_is_refused_without_reading_it(
    database_url: str,
) -> None:
    cap = 128 * 1024
    async with open_harness(database_url, proxy_max_body=cap) as harness:
        await connect(harness, USER)
        key = [(b"authorization", f"Bearer {API_KEY}".encode())]
        path = f"{PROXY}/v2/boards/b/images"
        declared = Upload(size=50 * 1024 * 1024)
        await declared.send_to(
            harness.app, path, "multipart/form-data; boundary=x", key
        )
        streamed = Upload(size=50 * 1024 * 1024, content_length=False)
        await streamed.send_to(
            harness.app, path, "multipart/form-data; boundary=x", key
        )
        fits = Upload(size=cap)  # over the API's 64 KiB, within the proxy's cap
        await fits.send_to(harness.app, path, "multipart/form-data; boundary=x", key)
        elsewhere = Upload(size=cap)
        await elsewhere.send_to(
            harness.app, f"/api/v1/users/{USER}/boards", "application/json", key
        )
    assert declared.answer_status == 413 and declared.taken == 0
    assert json.loads(declared.answer_body)["reason"] == "body_too_large"
    assert str(cap) in json.loads(declared.answer_body)["detail"]
    assert streamed.answer_status == 413 and streamed.taken <= cap + 16 * 1024
    assert fits.answer_status == 404  # Miro's answer (no board "b"): it got it all
    assert fits.taken == cap
    assert elsewhere.answer_status == 413  # the rest of the API keeps its 64 KiB
