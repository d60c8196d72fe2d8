"""Tags on items and connectors between them: the documented rules, and the data-loss bug
(removing a tag from an item used to delete the item)."""

from __future__ import annotations

import httpx2

from .conftest import Tokens


async def _board(http: httpx2.AsyncClient, tokens: Tokens) -> str:
    response = await http.post("/v2/boards", json={"name": "T"}, headers=tokens.headers)
    return f"/v2/boards/{response.json()['id']}"


async def _make(
    http: httpx2.AsyncClient, tokens: Tokens, path: str, body: dict[str, object]
) -> str:
    response = await http.post(path, json=body, headers=tokens.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_removing_a_tag_from_an_item_keeps_the_item(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    note = await _make(http, tokens, f"{b}/sticky_notes", {"data": {"content": "x"}})
    other = await _make(http, tokens, f"{b}/sticky_notes", {})
    tag = await _make(http, tokens, f"{b}/tags", {"title": "urgent"})
    attached = await http.post(f"{b}/items/{note}", params={"tag_id": tag}, headers=h)
    assert attached.status_code == 204
    tagged = await http.get(f"{b}/items", params={"tag_id": tag}, headers=h)
    assert [i["id"] for i in tagged.json()["data"]] == [note]  # the filter applies
    removed = await http.delete(f"{b}/items/{note}", params={"tag_id": tag}, headers=h)
    assert removed.status_code == 204
    assert (await http.get(f"{b}/items/{note}", headers=h)).status_code == 200
    assert (await http.get(f"{b}/items/{note}/tags", headers=h)).json() == {"tags": []}
    assert (await http.get(f"{b}/tags/{tag}", headers=h)).status_code == 200
    assert (await http.get(f"{b}/items/{other}", headers=h)).status_code == 200
    stats = (await http.get("/_emulator/stats")).json()["operations"]
    assert stats["remove-tag-from-item"] == 1 and "delete-item" not in stats


async def test_tag_rules(http: httpx2.AsyncClient, tokens: Tokens) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    card = await _make(http, tokens, f"{b}/cards", {"data": {"title": "c"}})
    shape = await _make(http, tokens, f"{b}/shapes", {})
    first = await _make(http, tokens, f"{b}/tags", {"title": "t0"})
    bad_tags: tuple[dict[str, object], ...] = (
        {"title": "t0"},
        {"title": "x" * 121},
        {},
        {"title": "a", "fillColor": "pink"},
    )
    for bad in bad_tags:
        response = await http.post(f"{b}/tags", json=bad, headers=h)
        assert response.status_code == 400, bad
    assert (
        await http.post(f"{b}/tags", json={"title": "T0"}, headers=h)
    ).status_code == 201
    # Only cards and sticky notes carry tags.
    on_shape = await http.post(
        f"{b}/items/{shape}", params={"tag_id": first}, headers=h
    )
    assert on_shape.status_code == 400
    ids = [first] + [
        await _make(http, tokens, f"{b}/tags", {"title": f"t{i}"}) for i in range(1, 9)
    ]
    for tag in ids[:8]:
        ok = await http.post(f"{b}/items/{card}", params={"tag_id": tag}, headers=h)
        assert ok.status_code == 204
    ninth = await http.post(f"{b}/items/{card}", params={"tag_id": ids[8]}, headers=h)
    assert ninth.status_code == 400  # up to 8 tags an item
    again = await http.post(f"{b}/items/{card}", params={"tag_id": ids[0]}, headers=h)
    assert again.status_code == 204  # attaching twice is harmless
    # Deleting a tag takes it off every item.
    assert (await http.delete(f"{b}/tags/{ids[0]}", headers=h)).status_code == 204
    left = (await http.get(f"{b}/items/{card}/tags", headers=h)).json()["tags"]
    assert ids[0] not in {t["id"] for t in left} and len(left) == 7
    missing = await http.post(f"{b}/items/{card}", headers=h)
    assert missing.status_code == 400  # tag_id is required


async def test_a_board_holds_at_most_100_tags(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    for i in range(100):
        await _make(http, tokens, f"{b}/tags", {"title": f"tag {i}"})
    over = await http.post(f"{b}/tags", json={"title": "one more"}, headers=h)
    assert over.status_code == 400
    page = (
        await http.get(f"{b}/tags", params={"limit": 50, "offset": 50}, headers=h)
    ).json()
    assert (page["total"], page["size"]) == (100, 50)


async def test_connectors_need_two_items_and_follow_them(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    one = await _make(http, tokens, f"{b}/shapes", {"position": {"x": 0, "y": 0}})
    two = await _make(http, tokens, f"{b}/cards", {"position": {"x": 500, "y": 0}})
    frame = await _make(http, tokens, f"{b}/frames", {"data": {}})
    for bad in (
        {"startItem": {"id": one}},
        {"startItem": {"id": one}, "endItem": {"id": one}},
        {"startItem": {"id": one}, "endItem": {"id": "3458764000000000001"}},
        {"startItem": {"id": one}, "endItem": {"id": frame}},
        {"startItem": {"id": one}, "endItem": {"id": two, "snapTo": "top",
                                               "position": {"x": "1%", "y": "2%"}}},
        {"startItem": {"id": one, "position": {"x": "120%", "y": "0%"}},
         "endItem": {"id": two}},
        {"startItem": {"id": one}, "endItem": {"id": two}, "captions": [{}]},
    ):  # fmt: skip
        response = await http.post(f"{b}/connectors", json=bad, headers=h)
        assert response.status_code == 400, bad
    made = await http.post(
        f"{b}/connectors",
        json={"startItem": {"id": one}, "endItem": {"id": two, "snapTo": "top"},
              "captions": [{"content": "flows to"}], "style": {"strokeWidth": "3"}},
        headers=h,
    )  # fmt: skip
    assert made.status_code == 200  # the spec's status for this operation
    body = made.json()
    assert body["startItem"]["position"] == {"x": "100%", "y": "50%"}  # auto: faces two
    assert body["endItem"]["position"] == {"x": "50%", "y": "0%"}
    assert (body["shape"], body["style"]["endStrokeCap"]) == ("curved", "stealth")
    changed = await http.patch(
        f"{b}/connectors/{body['id']}", json={"shape": "elbowed"}, headers=h
    )
    assert changed.json()["shape"] == "elbowed"
    for _ in range(11):
        await http.post(
            f"{b}/connectors",
            json={"startItem": {"id": two}, "endItem": {"id": one}},
            headers=h,
        )
    page = (await http.get(f"{b}/connectors", headers=h)).json()
    assert (page["total"], page["size"]) == (12, 10) and page["cursor"]
    # Deleting an item deletes every connector attached to it.
    assert (await http.delete(f"{b}/cards/{two}", headers=h)).status_code == 204
    assert (await http.get(f"{b}/connectors", headers=h)).json()["total"] == 0
    gone = await http.get(f"{b}/connectors/{body['id']}", headers=h)
    assert gone.status_code == 404
