"""The board page `viewLink` and the live embed point at: the board drawn, so the reference
app's embed shows what was created."""

from __future__ import annotations

import re

import httpx2

from .conftest import Tokens


async def test_the_page_draws_items_and_connectors(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    board = (await http.post("/v2/boards", json={"name": "Drawn"}, headers=h)).json()
    b = f"/v2/boards/{board['id']}"
    frame = (
        await http.post(
            f"{b}/frames",
            json={"data": {"title": "Sprint"}, "position": {"x": 0, "y": 0}},
            headers=h,
        )
    ).json()["id"]
    made = {}
    for kind, body in (
        ("sticky_notes", {"data": {"content": "<b>Ship</b> it"}, "parent": {"id": frame}}),
        ("shapes", {"data": {"shape": "circle", "content": "Go"}, "position": {"x": 600}}),
        ("texts", {"data": {"content": "Plain words"}, "position": {"y": 400}}),
        ("cards", {"data": {"title": "Task card"}, "position": {"x": -600}}),
        ("images", {"data": {"url": "https://example.com/pic.png"}, "position": {"y": -500}}),
    ):  # fmt: skip
        response = await http.post(f"{b}/{kind}", json=body, headers=h)
        made[kind] = response.json()["id"]
    await http.post(
        f"{b}/connectors",
        json={"startItem": {"id": made["cards"]}, "endItem": {"id": made["shapes"]},
              "captions": [{"content": "then"}]},
        headers=h,
    )  # fmt: skip
    page = await http.get(board["viewLink"])
    assert page.status_code == 200
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    types = re.findall(r'class="item" data-type="([a-z_]+)"', svg)
    assert sorted(types) == ["card", "frame", "image", "shape", "sticky_note", "text"]
    assert types[0] == "frame"  # drawn first, under what it holds
    assert svg.count('class="connector"') == 1 and 'marker-end="url(#arrow)"' in svg
    assert "then" in svg and "Sprint" in svg and "Task card" in svg
    # Content is shown as text: its HTML is neither run nor shown as markup.
    assert "<b>" not in svg and "Ship it" in svg
    assert 'href="https://example.com/pic.png"' in svg
    embed = await http.get(f"/app/live-embed/{board['id']}/")
    assert embed.text == page.text


async def test_uploaded_images_are_drawn_from_the_emulator(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    board = (await http.post("/v2/boards", json={"name": "P"}, headers=h)).json()
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
    image = await http.post(
        f"/v2/boards/{board['id']}/images",
        files={"resource": ("p.png", png, "image/png")},
        headers=h,
    )
    href = f"/app/board/{board['id']}/files/{image.json()['id']}"
    page = await http.get(board["viewLink"])
    assert href in page.text
    served = await http.get(href)
    assert served.content == png and served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert (await http.get(f"/app/board/{board['id']}/files/1")).status_code == 404


async def test_an_uploaded_document_never_runs_as_a_page(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    # Anyone connected can upload; the file is served beside the app's origin.
    h = tokens.headers
    board = (await http.post("/v2/boards", json={"name": "D"}, headers=h)).json()
    page = b"<html><script>document.cookie='x=1'</script></html>"
    document = await http.post(
        f"/v2/boards/{board['id']}/documents",
        files={
            "resource": ("x.html", page, "text/html"),
            "data": (None, '{"title": "x"}', "application/json"),
        },
        headers=h,
    )
    assert document.status_code == 201, document.text
    served = await http.get(f"/app/board/{board['id']}/files/{document.json()['id']}")
    assert served.content == page
    assert served.headers["content-disposition"] == "attachment"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"


async def test_an_empty_board_still_draws(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    board = (
        await http.post("/v2/boards", json={"name": "E"}, headers=tokens.headers)
    ).json()
    page = await http.get(board["viewLink"])
    assert "<svg" in page.text and "No items yet" in page.text
