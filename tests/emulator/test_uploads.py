"""Images and documents: by URL and by upload (kept in memory, 6 MB a file), and the
files behind their `imageUrl`/`documentUrl`."""

from __future__ import annotations

import json

import httpx2

from .conftest import Tokens

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x03\x00\x00\x00\x01pixels"


async def _board(http: httpx2.AsyncClient, tokens: Tokens) -> str:
    response = await http.post("/v2/boards", json={"name": "U"}, headers=tokens.headers)
    return f"/v2/boards/{response.json()['id']}"


async def test_image_upload_is_served_back(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    data = {"title": "Logo", "position": {"x": 10, "y": 20}, "geometry": {"width": 600}}
    made = await http.post(
        f"{b}/images",
        files={"resource": ("logo.png", PNG, "image/png")},
        data={"data": json.dumps(data)},
        headers=h,
    )
    assert made.status_code == 201, made.text
    image = made.json()
    assert image["data"]["title"] == "Logo" and image["position"]["x"] == 10
    assert image["geometry"]["height"] == 200.0  # 600 wide, the PNG is 3:1
    url = image["data"]["imageUrl"]
    assert "/resources/images/" in url and "redirect=false" in url
    assert (await http.get(url)).status_code == 401  # the token is needed
    pointer = (await http.get(url, headers=h)).json()
    assert pointer["type"] == "image/png"
    assert (await http.get(pointer["url"])).content == PNG
    moved = await http.get(url.replace("redirect=false", "redirect=true"), headers=h)
    assert moved.status_code == 307 and moved.headers["location"] == pointer["url"]
    # A new file replaces the old one.
    bigger = PNG.replace(b"\x00\x00\x00\x03", b"\x00\x00\x00\x09")
    updated = await http.patch(
        f"{b}/images/{image['id']}",
        files={"resource": ("logo.png", bigger, "image/png")},
        headers=h,
    )
    assert updated.status_code == 200
    assert (await http.get(pointer["url"])).content == bigger


async def test_upload_limits_and_checks(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    too_big = PNG + b"\x00" * (6 * 1024 * 1024)
    big = await http.post(
        f"{b}/images", files={"resource": ("big.png", too_big, "image/png")}, headers=h
    )
    assert big.status_code == 413 and big.json()["type"] == "error"
    text = await http.post(
        f"{b}/images",
        files={"resource": ("a.png", b"not a picture", "image/png")},
        headers=h,
    )
    assert text.status_code == 400
    no_file = await http.post(f"{b}/documents", files={"data": ("d", b"{}")}, headers=h)
    assert no_file.status_code == 400
    broken = await http.post(
        f"{b}/images",
        content=b"--x\r\nnonsense",
        headers={**h, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code == 400
    assert (await http.get(f"{b}/items", headers=h)).json()["total"] == 0


async def test_documents_by_url_and_upload(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h, b = tokens.headers, await _board(http, tokens)
    by_url = await http.post(
        f"{b}/documents",
        json={"data": {"url": "https://example.com/plan.pdf", "title": "Plan"}},
        headers=h,
    )
    assert by_url.status_code == 201
    pointer = (await http.get(by_url.json()["data"]["documentUrl"], headers=h)).json()
    assert pointer["url"] == "https://example.com/plan.pdf"
    bad_bodies: list[dict[str, object]] = [
        {"data": {"url": "ftp://example.com/a.pdf"}}, {"data": {}}, {},
    ]  # fmt: skip
    for bad in bad_bodies:
        response = await http.post(f"{b}/documents", json=bad, headers=h)
        assert response.status_code == 400, bad
    uploaded = await http.post(
        f"{b}/documents",
        files={"resource": ("plan.pdf", b"%PDF-1.4 plan", "application/pdf")},
        data={"data": json.dumps({"title": "Uploaded"})},
        headers=h,
    )
    assert uploaded.status_code == 201
    assert uploaded.json()["data"]["title"] == "Uploaded"
    stats = (await http.get("/_emulator/stats")).json()["operations"]
    assert stats["create-document-item-using-file-from-device"] == 1
