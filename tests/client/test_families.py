"""The item families' wire details against `httpx2.MockTransport`: multipart uploads,
bulk credits, the two revokes, groups' delete and ungroup, doc formats, and the input the
client refuses before sending."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

import httpx2
import pytest

from miroconnect.client import (
    CreditPacer,
    MemoryPacingStore,
    MiroClient,
    RetryPolicy,
    StaticTokenSource,
)
from miroconnect.client.models import (
    BulkFileEntry,
    ConnectorEnd,
    ItemCreate,
    Position,
    RelativeOffset,
    StickyNoteData,
    TokenInfo,
    Upload,
)
from miroconnect.client.pacing import Now, Reservation
from miroconnect.errors import MiroServerError
from miroconnect.oauth.params import revoke_body
from support import FakeTime

Handler = Callable[[httpx2.Request], httpx2.Response]
BOARD = "uXjVOD6LSME="
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


class CountingStore(MemoryPacingStore):
    """Remembers the credits of every call booked."""

    def __init__(self) -> None:
        super().__init__()
        self.booked: list[int] = []

    async def reserve(self, key: str, credits: int, now: Now) -> Reservation:
        answer = await super().reserve(key, credits, now)
        if answer.granted:
            self.booked.append(credits)
        return answer


def client(
    handler: Handler, *, store: MemoryPacingStore | None = None
) -> tuple[MiroClient, httpx2.AsyncClient]:
    time = FakeTime()
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    miro = MiroClient(
        http,
        StaticTokenSource("secret-token", key="k"),
        base_url="https://api.example",
        pacer=CreditPacer(store=store, clock=time.now, sleep=time.sleep),
        retry=RetryPolicy(rng=random.Random(1)),  # noqa: S311 (jitter, not secrets)
        sleep=time.sleep,
    )
    return miro, http


def parts(request: httpx2.Request) -> dict[str, tuple[str, bytes]]:
    """A multipart body's parts: name -> (headers, payload); the last of a repeated name."""
    boundary = request.headers["content-type"].split("boundary=", 1)[1].encode()
    found: dict[str, tuple[str, bytes]] = {}
    for chunk in request.content.split(b"--" + boundary)[1:-1]:
        head, _, payload = chunk.partition(b"\r\n\r\n")
        match = re.search(rb'name="([^"]+)"', head)
        assert match is not None
        found[match.group(1).decode()] = (head.decode(), payload.removesuffix(b"\r\n"))
    return found


def image(item_id: str = "9") -> dict[str, object]:
    return {"id": item_id, "type": "image", "data": {"imageUrl": "https://x/r"}}


async def test_an_upload_is_multipart_with_the_specs_field_names() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(201, json=image())

    miro, http = client(handler)
    async with http:
        made = await miro.images.upload(
            BOARD,
            Upload(PNG, "plan.png", "image/png"),
            title="Plan",
            alt_text="a plan",
            position=Position(x=1, y=2),
            parent_id="77",
        )
    assert made.id == "9"
    request = seen[0]
    assert request.method == "POST"
    assert request.url.raw_path == b"/v2/boards/uXjVOD6LSME=/images"
    assert request.headers["authorization"] == "Bearer secret-token"
    body = parts(request)
    assert set(body) == {"data", "resource"}
    head, payload = body["resource"]
    assert 'filename="plan.png"' in head and "image/png" in head and payload == PNG
    head, payload = body["data"]
    assert "filename" not in head and "application/json" in head
    assert json.loads(payload) == {
        "title": "Plan",
        "altText": "a plan",
        "position": {"x": 1.0, "y": 2.0},
        "parent": {"id": "77"},
    }


async def test_an_upload_without_details_sends_the_file_alone() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(201, json={"id": "5", "type": "document"})

    miro, http = client(handler)
    async with http:
        await miro.documents.upload(BOARD, Upload(b"%PDF-1.4", "r.pdf"))
    assert set(parts(seen[0])) == {"resource"}


async def test_replacing_a_file_is_repeated_after_a_5xx_with_the_same_body() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx2.Response(503)
        return httpx2.Response(200, json=image())

    miro, http = client(handler)
    async with http:
        await miro.images.replace(BOARD, "9", Upload(PNG, "p.png", "image/png"))
    assert [r.method for r in seen] == ["PATCH", "PATCH"]
    assert parts(seen[0]) == parts(seen[1])  # each body has its own boundary
    assert parts(seen[1])["resource"][1] == PNG


async def test_an_upload_that_creates_is_not_repeated() -> None:
    calls: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(503)

    miro, http = client(handler)
    async with http:
        with pytest.raises(MiroServerError):
            await miro.documents.upload(BOARD, Upload(b"%PDF", "r.pdf"))
    assert len(calls) == 1


async def test_bulk_create_books_level_2_per_item() -> None:
    store = CountingStore()

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent = json.loads(request.content) if request.content else []
        data = [{"id": str(i), "type": "sticky_note"} for i in range(len(sent))]
        return httpx2.Response(201, json={"type": "bulk-list", "data": data})

    miro, http = client(handler, store=store)
    async with http:
        made = await miro.items.create_bulk(
            BOARD,
            [
                ItemCreate(type="sticky_note", data=StickyNoteData(content=c))
                for c in "abc"
            ],
        )
    assert [i.id for i in made] == ["0", "1", "2"]
    assert store.booked == [300]


async def test_bulk_from_files_sends_a_json_file_and_one_resource_per_entry() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(201, json={"type": "bulk-list", "data": [image("1")]})

    miro, http = client(handler)
    async with http:
        await miro.items.create_bulk_from_files(
            BOARD,
            [BulkFileEntry(type="image", title="one"), BulkFileEntry(type="document")],
            [Upload(PNG, "a.png", "image/png"), Upload(b"%PDF", "b.pdf")],
        )
        with pytest.raises(ValueError, match="one file per entry"):
            await miro.items.create_bulk_from_files(
                BOARD, [BulkFileEntry(type="image")], []
            )
    content = seen[0].content
    assert content.count(b'name="resources"') == 2
    head, payload = parts(seen[0])["data"]
    assert 'filename="data.json"' in head
    assert json.loads(payload) == [
        {"type": "image", "title": "one"},
        {"type": "document"},
    ]


async def test_the_v1_revoke_warns_and_puts_the_token_only_in_the_query() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(204)

    miro, http = client(handler)
    async with http:
        with pytest.warns(DeprecationWarning, match="client.tokens.revoke"):
            await miro.tokens.revoke_v1()
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/v1/oauth/revoke")
    assert request.url.params["access_token"] == "secret-token"
    assert "authorization" not in request.headers and not request.content


def test_the_v2_revoke_body_is_defined_once() -> None:
    assert revoke_body(access_token="a", client_id="c", client_secret="s") == {
        "accessToken": "a",
        "clientId": "c",
        "clientSecret": "s",
    }


def test_token_info_identity_is_the_oauth_flows_reading() -> None:
    info = TokenInfo.model_validate(
        {
            "type": "oAuthToken",
            "team": {"type": "team", "name": "T", "id": 3074457362577833142},
            "user": {"type": "user", "name": "U", "id": "3074457353169356300"},
            "scopes": ["boards:read", "boards:write"],
        }
    )
    identity = info.identity
    assert (identity.user_id, identity.team_id) == (
        "3074457353169356300",
        "3074457362577833142",
    )
    assert (identity.user_name, identity.team_name) == ("U", "T")
    assert identity.scopes == ("boards:read", "boards:write")


async def test_ungroup_keeps_the_items_and_delete_takes_them() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(204)

    miro, http = client(handler)
    async with http:
        await miro.groups.ungroup(BOARD, "g1")
        await miro.groups.delete(BOARD, "g2")
    assert [(r.method, r.url.path, dict(r.url.params)) for r in seen] == [
        ("DELETE", "/v2/boards/uXjVOD6LSME=/groups/g1", {"delete_items": "false"}),
        ("DELETE", "/v2/boards/uXjVOD6LSME=/groups/g2", {"delete_items": "true"}),
    ]


async def test_a_doc_format_is_read_as_markdown_or_html() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        kind = request.url.params.get("textContentType", "markdown")
        return httpx2.Response(
            200,
            json={
                "id": "d",
                "type": "doc_format",
                "data": {"contentType": kind, "content": "x"},
            },
        )

    miro, http = client(handler)
    async with http:
        html = await miro.doc_formats.get(BOARD, "d", text_content_type="html")
        plain = await miro.doc_formats.get(BOARD, "d")
    assert html.data is not None and html.data.content_type == "html"
    assert plain.data is not None and plain.data.content_type == "markdown"
    assert [dict(r.url.params) for r in seen] == [{"textContentType": "html"}, {}]


async def test_bad_input_is_refused_before_sending() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("nothing should be sent")

    miro, http = client(handler)
    async with http:
        with pytest.raises(ValueError, match="1 to 20 items"):
            await miro.items.create_bulk(BOARD, [])
        with pytest.raises(ValueError, match="1 to 20 items"):
            await miro.items.create_bulk(BOARD, [ItemCreate(type="text")] * 21)
        with pytest.raises(ValueError, match="at least two"):
            await miro.groups.create(BOARD, ["only"])
        with pytest.raises(ValueError, match="each item once"):
            await miro.groups.update(BOARD, "g", ["a", "a"])
        with pytest.raises(ValueError, match="1 to 120"):
            await miro.tags.create(BOARD, "")
        with pytest.raises(ValueError, match="fill_color"):
            await miro.tags.update(BOARD, "t", fill_color="purple")
        with pytest.raises(ValueError, match="not both"):
            await miro.connectors.create(
                BOARD,
                ConnectorEnd(id="1", snap_to="top", position=RelativeOffset(x="0%")),
                ConnectorEnd(id="2"),
            )
        with pytest.raises(ValueError, match="shape"):
            await miro.connectors.update(BOARD, "c", shape="wiggly")
        with pytest.raises(ValueError, match="url"):
            await miro.embeds.create(BOARD, "")
        with pytest.raises(ValueError, match="between 10 and 50"):
            async for _ in miro.connectors.list(BOARD, page_size=5):
                pass
        with pytest.raises(ValueError, match="between 10 and 50"):
            async for _ in miro.groups.list(BOARD, page_size=60):
                pass
        with pytest.raises(ValueError, match="empty"):
            await miro.sticky_notes.get(BOARD, "")
