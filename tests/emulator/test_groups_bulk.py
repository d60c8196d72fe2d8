"""Groups and bulk create: who may be grouped, and bulk create's all-or-nothing and
per-item price."""

from __future__ import annotations

import json

import httpx2

from .conftest import Tokens


async def _board(http: httpx2.AsyncClient, tokens: Tokens) -> str:
    response = await http.post("/v2/boards", json={"name": "G"}, headers=tokens.headers)
    return f"/v2/boards/{response.json()['id']}"


async def _notes(http: httpx2.AsyncClient, tokens: Tokens, b: str, n: int) -> list[str]:
    made = []
    for i in range(n):
        response = await http.post(
            f"{b}/sticky_notes",
            json={"data": {"content": str(i)}},
            headers=tokens.headers,
        )
        made.append(str(response.json()["id"]))
    return made


async def test_group_rules(http: httpx2.AsyncClient, tokens: Tokens) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    a, c, d = await _notes(http, tokens, b, 3)
    bad_groups: list[dict[str, object]] = [
        {"data": {"items": [a]}}, {"data": {"items": [a, a]}},
        {"data": {"items": [a, "3458764000000000009"]}}, {"data": {}},
    ]  # fmt: skip
    for bad in bad_groups:
        assert (await http.post(f"{b}/groups", json=bad, headers=h)).status_code == 400
    group = (
        await http.post(f"{b}/groups", json={"data": {"items": [a, c]}}, headers=h)
    ).json()
    assert group["type"] == "group" and group["data"]["items"] == [a, c]
    taken = await http.post(f"{b}/groups", json={"data": {"items": [c, d]}}, headers=h)
    assert taken.status_code == 400  # an item is in one group at most
    # An update replaces the group under a new id.
    new = await http.put(
        f"{b}/groups/{group['id']}", json={"data": {"items": [a, c, d]}}, headers=h
    )
    assert new.status_code == 200 and new.json()["id"] != group["id"]
    assert (await http.get(f"{b}/groups/{group['id']}", headers=h)).status_code == 404
    listed = (await http.get(f"{b}/groups", headers=h)).json()
    assert [g["id"] for g in listed["data"]] == [new.json()["id"]]
    # Deleting a member leaves the others grouped; down to one, the group dissolves.
    await http.delete(f"{b}/items/{a}", headers=h)
    await http.delete(f"{b}/items/{c}", headers=h)
    assert (await http.get(f"{b}/groups", headers=h)).json()["data"] == []


async def test_ungroup_keeps_items_and_delete_group_deletes_them(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    a, c, d, e = await _notes(http, tokens, b, 4)
    one = (
        await http.post(f"{b}/groups", json={"data": {"items": [a, c]}}, headers=h)
    ).json()
    two = (
        await http.post(f"{b}/groups", json={"data": {"items": [d, e]}}, headers=h)
    ).json()
    items = await http.get(
        f"{b}/groups/items", params={"group_item_id": one["id"]}, headers=h
    )
    page = items.json()["data"]["data"][0]
    assert [i["id"] for i in page["data"]] == [a, c]
    assert (await http.delete(f"{b}/groups/{one['id']}", headers=h)).status_code == 204
    assert (await http.get(f"{b}/items", headers=h)).json()["total"] == 4
    # The official clients' URL: the spec's path ends in "?", then "?delete_items=true".
    gone = await http.delete(f"{b}/groups/{two['id']}?%3Fdelete_items=true", headers=h)
    assert gone.status_code == 204
    left = (await http.get(f"{b}/items", headers=h)).json()["data"]
    assert [i["id"] for i in left] == [a, c]
    stats = (await http.get("/_emulator/stats")).json()["operations"]
    assert (stats["unGroup"], stats["deleteGroup"]) == (1, 1)


async def test_get_group_costs_level_2_per_item(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    ids = await _notes(http, tokens, b, 3)
    group = (
        await http.post(f"{b}/groups", json={"data": {"items": ids}}, headers=h)
    ).json()
    before = int(
        (await http.get(f"{b}/tags", headers=h)).headers["X-RateLimit-Remaining"]
    )
    got = await http.get(f"{b}/groups/{group['id']}", headers=h)
    assert before - int(got.headers["X-RateLimit-Remaining"]) == 300


async def test_bulk_create_is_all_or_nothing_and_priced_per_item(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    failed = await http.post(
        f"{b}/items/bulk",
        json=[
            {"type": "sticky_note", "data": {"content": "fine"}},
            {"type": "text", "data": {}},
            {"type": "shape", "data": {"shape": "blob"}},
            {"type": "tag"},
        ],
        headers=h,
    )
    assert failed.status_code == 400
    fields = [f["field"] for f in failed.json()["context"]["fields"]]
    assert fields == ["1.data.content", "2.data.shape", "3.type"]
    assert (await http.get(f"{b}/items", headers=h)).json()["total"] == 0
    for bad in ([], [{"type": "shape"}] * 21, {"type": "shape"}):
        assert (
            await http.post(f"{b}/items/bulk", json=bad, headers=h)
        ).status_code == 400
    before = int(
        (await http.get(f"{b}/tags", headers=h)).headers["X-RateLimit-Remaining"]
    )
    made = await http.post(
        f"{b}/items/bulk",
        json=[{"type": "card", "data": {"title": "c"}}, {"type": "shape"},
              {"type": "image", "data": {"url": "https://example.com/i.png"}}],
        headers=h,
    )  # fmt: skip
    assert made.status_code == 201 and made.json()["type"] == "bulk-list"
    assert [i["type"] for i in made.json()["data"]] == ["card", "shape", "image"]
    assert before - int(made.headers["X-RateLimit-Remaining"]) == 300


async def test_bulk_create_from_files(http: httpx2.AsyncClient, tokens: Tokens) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x02rest"
    described = [
        {"type": "image", "title": "pic"},
        {"type": "document", "title": "pdf"},
    ]
    files = [
        ("data", ("items.json", json.dumps(described).encode(), "application/json")),
        ("resources", ("a.png", png, "image/png")),
        ("resources", ("a.pdf", b"%PDF-1.4", "application/pdf")),
    ]
    made = await http.post(f"{b}/items/bulk", files=files, headers=h)
    assert made.status_code == 201, made.text
    assert [i["data"]["title"] for i in made.json()["data"]] == ["pic", "pdf"]
    assert made.json()["data"][0]["geometry"]["height"] == 160.0  # the PNG's 2:1
    short = await http.post(f"{b}/items/bulk", files=files[:2], headers=h)
    assert short.status_code == 400  # one file per entry
