"""REST v2 behaviour: auth and scopes, validation, ids, boards, members, items, pages."""

from __future__ import annotations

import re

import httpx2
import pytest

from miroconnect.emulator import EmulatorClient

from .conftest import REDIRECT_URI, Tokens, connect


async def _board(http: httpx2.AsyncClient, tokens: Tokens, **body: object) -> str:
    response = await http.post("/v2/boards", json=body, headers=tokens.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_missing_token_is_401_token_not_provided(
    http: httpx2.AsyncClient,
) -> None:
    response = await http.get("/v2/boards")
    assert response.status_code == 401
    assert response.json() == {
        "status": 401,
        "code": "tokenNotProvided",
        "message": "No access token provided.",
        "type": "error",
    }


async def test_invalid_token_is_401_in_the_envelope(http: httpx2.AsyncClient) -> None:
    response = await http.get("/v2/boards", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert set(response.json()) == {"status", "code", "message", "type"}


async def test_token_in_the_query_string_is_accepted(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    response = await http.get("/v2/boards", params={"access_token": tokens.access})
    assert response.status_code == 200
    # and it does not leak into the pagination links
    assert tokens.access not in response.text


async def test_missing_scope_is_403_forbidden_access(http: httpx2.AsyncClient) -> None:
    await http.post(
        "/_emulator/clients",
        json={
            "client_id": "5",
            "client_secret": "s5",
            "redirect_uris": [REDIRECT_URI],
            "scopes": ["boards:read"],
        },
    )
    reader = await connect(
        http,
        client=EmulatorClient("5", "s5", (REDIRECT_URI,), scopes=("boards:read",)),
    )
    assert (await http.get("/v2/boards", headers=reader.headers)).status_code == 200
    response = await http.post("/v2/boards", json={}, headers=reader.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbiddenAccess"
    assert (await http.get("/_emulator/stats")).json()["boards_created"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 61},
        {"description": "x" * 301},
        {"policy": {"sharingPolicy": {"access": "public"}}},
        {"policy": {"permissionsPolicy": {"copyAccess": "everyone"}}},
        {"name": 5},
        {"teamId": "123"},
    ],
)
async def test_board_validation(
    http: httpx2.AsyncClient, tokens: Tokens, body: dict[str, object]
) -> None:
    response = await http.post("/v2/boards", json=body, headers=tokens.headers)
    assert response.status_code in (400, 403)
    assert response.json()["type"] == "error"
    assert (await http.get("/_emulator/stats")).json()["boards_created"] == 0


async def test_malformed_json_is_400(http: httpx2.AsyncClient, tokens: Tokens) -> None:
    response = await http.post(
        "/v2/boards",
        content=b"{nope",
        headers={**tokens.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalidParameters"


async def test_board_shape_ids_and_links(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    response = await http.post(
        "/v2/boards", json={"name": "Plan"}, headers=tokens.headers
    )
    board = response.json()
    assert re.fullmatch(r"uXjV[A-Za-z0-9_-]{7}=", board["id"])
    assert board["viewLink"] == f"http://miro.test/app/board/{board['id']}/"
    assert board["links"]["self"] == f"http://miro.test/v2/boards/{board['id']}"
    assert board["owner"]["id"] == tokens.body["user_id"]
    assert board["team"]["id"] == tokens.body["team_id"]
    assert board["currentUserMembership"]["role"] == "owner"
    assert board["createdAt"].endswith("Z")
    page = await http.get(f"/app/board/{board['id']}/")
    assert page.status_code == 200 and "Plan" in page.text
    assert "x-frame-options" not in page.headers
    assert "content-security-policy" not in page.headers
    embed = await http.get(f"/app/live-embed/{board['id']}/")
    assert embed.status_code == 200


async def test_list_boards_filters_sorts_and_pages(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    for name in ("Gamma", "alpha", "Beta plan"):
        await _board(http, tokens, name=name, description="roadmap")
    h = tokens.headers
    alpha = await http.get("/v2/boards", params={"sort": "alphabetically"}, headers=h)
    assert [b["name"] for b in alpha.json()["data"]] == ["alpha", "Beta plan", "Gamma"]
    found = await http.get("/v2/boards", params={"query": "PLAN"}, headers=h)
    assert [b["name"] for b in found.json()["data"]] == ["Beta plan"]
    by_desc = await http.get("/v2/boards", params={"query": "roadmap"}, headers=h)
    assert by_desc.json()["total"] == 3
    page = await http.get("/v2/boards", params={"limit": 2, "offset": 2}, headers=h)
    body = page.json()
    assert (body["total"], body["size"], body["offset"], body["limit"]) == (3, 1, 2, 2)
    assert "next" not in body["links"] and "offset=0" in body["links"]["prev"]
    team = await http.get(
        "/v2/boards",
        params={"team_id": tokens.body["team_id"], "query": "nothing"},
        headers=h,
    )
    assert team.json()["total"] == 3  # with team_id, query is ignored
    owner = await http.get("/v2/boards", params={"owner": "123"}, headers=h)
    assert owner.json()["total"] == 0
    for bad in ({"limit": 51}, {"limit": 0}, {"offset": -1}, {"sort": "random"}):
        response = await http.get("/v2/boards", params=bad, headers=h)
        assert response.status_code == 400, bad


async def test_other_users_do_not_see_private_boards(http: httpx2.AsyncClient) -> None:
    alice = await connect(http, user="alice")
    bob = await connect(http, user="bob")
    board = await _board(http, alice, name="Alice's")
    assert (
        await http.get(f"/v2/boards/{board}", headers=bob.headers)
    ).status_code == 404
    assert (await http.get("/v2/boards", headers=bob.headers)).json()["total"] == 0
    shared = await http.post(
        f"/v2/boards/{board}/members",
        json={"emails": ["bob@example.com"], "role": "viewer"},
        headers=alice.headers,
    )
    assert shared.json()["successful"] == [int(bob.body["user_id"])]
    seen = await http.get(f"/v2/boards/{board}", headers=bob.headers)
    assert seen.json()["currentUserMembership"]["role"] == "viewer"
    # a viewer cannot write
    note = await http.post(
        f"/v2/boards/{board}/sticky_notes", json={}, headers=bob.headers
    )
    assert note.status_code == 403


async def test_update_copy_delete(http: httpx2.AsyncClient, tokens: Tokens) -> None:
    h = tokens.headers
    board = await _board(http, tokens, name="Orig", description="d")
    await http.post(
        f"/v2/boards/{board}/sticky_notes", json={"data": {"content": "n"}}, headers=h
    )
    updated = await http.patch(
        f"/v2/boards/{board}", json={"name": "New", "description": "e"}, headers=h
    )
    assert updated.status_code == 200 and updated.json()["name"] == "New"
    copied = await http.put("/v2/boards", params={"copy_from": board}, headers=h)
    copy = copied.json()
    assert copied.status_code == 201 and copy["name"] == "New" and "project" not in copy
    items = await http.get(f"/v2/boards/{copy['id']}/items", headers=h)
    assert items.json()["total"] == 1
    missing = await http.put("/v2/boards", headers=h)
    assert missing.status_code == 400
    assert (await http.delete(f"/v2/boards/{board}", headers=h)).status_code == 204
    assert (await http.get(f"/v2/boards/{board}", headers=h)).status_code == 404
    assert (await http.get("/_emulator/stats")).json()["boards"] == 1


async def test_moving_a_board_to_another_team_answers_202(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    board = await _board(http, tokens)
    page = await http.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": "3074457363680401096",
            "redirect_uri": REDIRECT_URI,
        },
    )
    teams = re.findall(r'<option value="(\d+)"', page.text)
    other = next(t for t in teams if t != tokens.body["team_id"])
    moved = await http.patch(f"/v2/boards/{board}", json={"teamId": other}, headers=h)
    assert moved.status_code == 202 and moved.content == b""
    listed = (await http.get("/_emulator/boards")).json()
    assert listed[0]["teamId"] == other


async def test_members_roles(http: httpx2.AsyncClient, tokens: Tokens) -> None:
    h = tokens.headers
    board = await _board(http, tokens)
    invite = await http.post(
        f"/v2/boards/{board}/members",
        json={"emails": ["ann@example.com", "not-an-email"], "role": "owner"},
        headers=h,
    )
    assert invite.status_code == 201
    assert invite.json()["failed"] == [
        {"email": "not-an-email", "reason": "INVITATION_FAILED"}
    ]
    ann = str(invite.json()["successful"][0])
    member = await http.get(f"/v2/boards/{board}/members/{ann}", headers=h)
    assert member.json()["role"] == "coowner"  # "owner" behaves like "coowner"
    changed = await http.patch(
        f"/v2/boards/{board}/members/{ann}", json={"role": "viewer"}, headers=h
    )
    assert changed.json()["role"] == "viewer"
    bad = await http.patch(
        f"/v2/boards/{board}/members/{ann}", json={"role": "god"}, headers=h
    )
    assert bad.status_code == 400
    owner = tokens.body["user_id"]
    assert (
        await http.delete(f"/v2/boards/{board}/members/{owner}", headers=h)
    ).status_code == 400
    assert (
        await http.delete(f"/v2/boards/{board}/members/{ann}", headers=h)
    ).status_code == 204
    assert (
        await http.get(f"/v2/boards/{board}/members/{ann}", headers=h)
    ).status_code == 404
    too_many = await http.post(
        f"/v2/boards/{board}/members",
        json={"emails": [f"u{i}@example.com" for i in range(21)]},
        headers=h,
    )
    assert too_many.status_code == 400


async def test_items_validation_and_type_routes(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    board = await _board(http, tokens)
    base = f"/v2/boards/{board}"
    for kind, body in (
        ("sticky_notes", {"style": {"fillColor": "purple"}}),
        ("sticky_notes", {"geometry": {"width": 100, "height": 100}}),
        ("texts", {}),
        ("texts", {"data": {"content": "x"}, "style": {"fontFamily": "comic"}}),
        ("shapes", {"data": {"shape": "blob"}}),
        ("shapes", {"style": {"borderWidth": "30"}}),
        ("frames", {"data": {"format": "a4"}}),
        ("sticky_notes", {"parent": {"id": "3458764000000000000"}}),
    ):
        response = await http.post(f"{base}/{kind}", json=body, headers=h)
        assert response.status_code == 400, (kind, body)
        assert response.json()["code"] == "invalidParameters"
    note = (
        await http.post(
            f"{base}/sticky_notes", json={"geometry": {"width": 398}}, headers=h
        )
    ).json()
    assert re.fullmatch(r"\d{19}", note["id"])
    assert note["geometry"] == {"width": 398.0, "height": 456.0}
    # an item is only found under its own type
    assert (await http.get(f"{base}/texts/{note['id']}", headers=h)).status_code == 404
    assert (await http.get(f"{base}/items/{note['id']}", headers=h)).status_code == 200


async def test_items_cursor_pagination_type_filter_and_frames(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    board = await _board(http, tokens)
    base = f"/v2/boards/{board}"
    frame = (await http.post(f"{base}/frames", json={"data": {}}, headers=h)).json()
    inside = await http.post(
        f"{base}/shapes", json={"parent": {"id": frame["id"]}}, headers=h
    )
    assert inside.json()["position"]["relativeTo"] == "parent_top_left"
    assert inside.json()["parent"]["id"] == frame["id"]
    for i in range(23):
        await http.post(
            f"{base}/sticky_notes", json={"data": {"content": str(i)}}, headers=h
        )
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 10, "type": "sticky_note"}
        if cursor:
            params["cursor"] = cursor
        page = (await http.get(f"{base}/items", params=params, headers=h)).json()
        assert page["total"] == 23
        seen += [item["data"]["content"] for item in page["data"]]
        cursor = page.get("cursor")
        if not cursor:
            break
        assert page["links"]["next"].endswith(f"cursor={cursor}")
    assert seen == [str(i) for i in range(23)]
    in_frame = await http.get(
        f"{base}/items", params={"parent_item_id": frame["id"]}, headers=h
    )
    assert [i["type"] for i in in_frame.json()["data"]] == ["shape"]
    bad = await http.get(f"{base}/items", params={"cursor": "garbage"}, headers=h)
    assert bad.status_code == 400
    # deleting the frame leaves its children on the canvas
    await http.delete(f"{base}/frames/{frame['id']}", headers=h)
    child = await http.get(f"{base}/items/{inside.json()['id']}", headers=h)
    assert "parent" not in child.json()


async def test_unknown_api_path_and_method(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    response = await http.delete("/v2/boards", headers=tokens.headers)
    assert response.status_code == 405 and response.json()["type"] == "error"


async def test_ids_never_repeat_across_a_reset_of_a_seeded_emulator(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    before = {await _board(http, tokens, name=f"b{i}") for i in range(5)}
    assert (await http.post("/_emulator/reset", json={})).status_code == 204
    # The old token stays dead: a new one is never the old one again.
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 401
    fresh = await connect(http)
    assert fresh.access != tokens.access and fresh.refresh != tokens.refresh
    after = {await _board(http, fresh, name=f"b{i}") for i in range(5)}
    assert len(before) == len(after) == 5
    assert not before & after


async def test_a_seed_still_repeats_ids_from_run_to_run() -> None:
    from miroconnect.emulator.ids import IdFactory

    one, two = IdFactory(7), IdFactory(7)
    assert [one.board_id() for _ in range(3)] == [two.board_id() for _ in range(3)]
    assert one.secret() == two.secret()


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/_emulator/reset", "text/plain", b""),
        ("/_emulator/reset", "application/x-www-form-urlencoded", b"a=1"),
        ("/_emulator/faults", "text/plain", b'{"status": 503}'),
        ("/_emulator/clock", "multipart/form-data; boundary=x", b"--x--"),
        ("/_emulator/clients", None, b"{}"),
    ],
)
async def test_control_posts_a_web_page_could_send_are_refused(
    http: httpx2.AsyncClient, path: str, content_type: str | None, body: bytes
) -> None:
    # What any page a developer visits could POST cross-site without a CORS preflight.
    headers = {"content-type": content_type} if content_type else {}
    before = (await http.get("/_emulator/stats")).json()
    answer = await http.post(path, content=body, headers=headers)
    assert answer.status_code == 415
    assert (await http.get("/_emulator/stats")).json() == before
