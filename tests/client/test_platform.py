"""The client makes every one of Miro's 85 platform operations, and makes them right.

- `test_the_client_has_a_method_for_every_platform_operation`: the operationId -> method
  map (read from the methods' `@operation` marks) covers the spec's 85 (printed at the end
  of the run).
- `test_every_method_against_the_emulator`: each method is called against the in-process
  emulator, and for every call: the emulator counted the operation; the request's query
  and body validate against the spec's request; the credits booked are the spec's level
  (times the items of a bulk create); the call is repeatable exactly where a repeat is
  harmless; the answer validates against the spec's schema, our model parses it and keeps
  every field the spec marks required.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import httpx2
import pytest
from pydantic import BaseModel

from miroconnect.client import CreditPacer, MiroClient
from miroconnect.client import StaticTokenSource as Static
from miroconnect.client import models as m
from miroconnect.client.operations import operation_map
from miroconnect.client.routes import route_for
from miroconnect.emulator import create_emulator, emulator_transport
from support import connect, emulator_app_client

from .platform_walk import (
    Call,
    Recorder,
    Walk,
    answer_schema,
    credits_level,
    operations,
    report,
    required_fields_kept,
    validate_answer,
    validate_request,
)

BASE = "http://miro.test"
# A 2x1 PNG: enough for the emulator to take it for an image.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x01"
    b"\x08\x02\x00\x00\x00\x90wS\xde"
)
PDF = b"%PDF-1.4\n% client test\n"

# The model each operation's answer is parsed with (None: no body).
_KINDS: dict[str, type[BaseModel]] = {
    "sticky-note": m.StickyNoteItem, "text": m.TextItem, "shape": m.ShapeItem,
    "frame": m.FrameItem, "card": m.CardItem, "app-card": m.AppCardItem,
    "image": m.ImageItem, "document": m.DocumentItem, "embed": m.EmbedItem,
    "doc-format": m.DocFormatItem,
}  # fmt: skip
ANSWERS: dict[str, type[BaseModel] | None] = {
    "token-info": m.TokenInfo, "revoke-token": None, "revoke-token-v2": None,
    "create-board": m.Board, "get-boards": m.OffsetPage[m.Board],
    "copy-board": m.Board, "get-specific-board": m.Board, "update-board": m.Board,
    "delete-board": None,
    "share-board": m.InvitationResult, "get-board-members": m.OffsetPage[m.BoardMember],
    "get-specific-board-member": m.BoardMember, "update-board-member": m.BoardMember,
    "remove-board-member": None,
    "get-items": m.CursorPage[m.GenericItem],
    "get-items-within-frame": m.CursorPage[m.GenericItem],
    "get-specific-item": m.GenericItem, "update-item-position-or-parent": m.GenericItem,
    "delete-item": None, "delete-item-experimental": None,
    "create-items": m.BulkItems, "create-items-in-bulk-using-file-from-device": m.BulkItems,
    "create-connector": m.Connector, "get-connectors": m.CursorPage[m.Connector],
    "get-connector": m.Connector, "update-connector": m.Connector,
    "delete-connector": None,
    "create-tag": m.Tag, "get-tags-from-board": m.OffsetPage[m.Tag], "get-tag": m.Tag,
    "update-tag": m.Tag, "delete-tag": None, "get-tags-from-item": m.ItemTags,
    "get-items-by-tag": m.OffsetPage[m.GenericItem], "attach-tag-to-item": None,
    "remove-tag-from-item": None,
    "createGroup": m.Group, "get-all-groups": m.GroupsPage,
    "getItemsByGroupId": m.GroupItemsPage, "getGroupById": m.Group,
    "updateGroup": m.Group, "unGroup": None, "deleteGroup": None,
    **{f"get-{kind}-item": model for kind, model in _KINDS.items()},
    **{f"delete-{kind}-item": None for kind in _KINDS},
    **{f"{verb}-{kind}-item": _KINDS[kind]
       for kind in ("sticky-note", "text", "shape", "frame", "card", "app-card", "embed")
       for verb in ("create", "update")},
    "create-doc-format-item": m.DocFormatItem,
    **{f"{verb}-{kind}-item-using-url": _KINDS[kind]
       for kind in ("image", "document") for verb in ("create", "update")},
    "create-image-item-using-local-file": m.ImageItem,
    "update-image-item-using-file-from-device": m.ImageItem,
    "create-document-item-using-file-from-device": m.DocumentItem,
    "update-document-item-using-file-from-device": m.DocumentItem,
}  # fmt: skip

# POSTs a repeat leaves as they were (the rest create something: never repeated), and
# PUTs it does not.
REPEATABLE_POSTS = {
    "share-board": "inviting the same people again changes nothing",
    "attach-tag-to-item": "the tag is on the item either way",
    "revoke-token": "a revoked token stays revoked",
    "revoke-token-v2": "a revoked token stays revoked",
}
UNREPEATABLE_PUTS = {
    "copy-board": "every copy is a new board",
    "updateGroup": "the update makes a new group; a repeat finds the old id gone",
}


def _client(http: httpx2.AsyncClient, token: str, key: str) -> MiroClient:
    return MiroClient(http, Static(token, key=key), base_url=BASE, pacer=CreditPacer())


def test_the_client_has_a_method_for_every_platform_operation(
    pytestconfig: pytest.Config,
) -> None:
    found = operation_map(_client(httpx2.AsyncClient(), "t", "k"))
    platform = {op for op, spec in operations().items() if spec.tag != "OAuth"}
    assert len(platform) == 85
    assert sorted(platform - set(found)) == []
    assert sorted(set(found) - set(operations())) == []  # no operation the spec lacks
    assert set(ANSWERS) == set(operations())
    covered = len(platform & set(found))
    report(
        pytestconfig,
        "methods",
        f"{covered}/{len(platform)} platform operations have a MiroClient method "
        "(miroconnect.client.operations.operation_map)",
    )


def _path_pattern(template: str) -> re.Pattern[str]:
    # The spec's literal "?" (deleteGroup) is no part of the URL's path.
    path = template.removesuffix("?")
    return re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")


def _units(operation_id: str, request: httpx2.Request) -> int:
    """How many times the call's level Miro charges: bulk creates are "Level 2 per
    item". So is getting a group ("per item ID"), but its size is unknown before the
    answer: one unit is booked, and the answer's headers correct the balance."""
    if operation_id == "create-items":
        return len(json.loads(request.content))
    if operation_id == "create-items-in-bulk-using-file-from-device":
        return request.content.count(b'name="resources"')
    return 1


def _check_call(call: Call) -> list[str]:
    """Every problem with one call, as text (an empty list: none)."""
    op = operations()[call.operation_id]
    problems: list[str] = []
    assert call.exchanges, f"{call.operation_id}: nothing was sent"
    assert len(call.sent) == len(call.exchanges), call.operation_id
    for sent, exchange in zip(call.sent, call.exchanges, strict=True):
        request, response = exchange.request, exchange.response
        if request.method != op.method or not _path_pattern(op.path).match(
            request.url.path
        ):
            problems.append(f"{op.operation_id}: {request.method} {request.url.path}")
        validate_request(op, request)
        level = credits_level(op)
        if sent.level != level:
            problems.append(f"{op.operation_id}: level {sent.level}, spec {level}")
        if sent.units != _units(op.operation_id, request):
            problems.append(f"{op.operation_id}: {sent.units} units")
        # The proxy's table of `/v2/` operations books what the client's call booked.
        route = route_for(request.method, request.url.path, set(request.url.params))
        if request.url.path.startswith("/v2/") and (
            (route.level if route else None) != sent.level
        ):
            problems.append(f"{op.operation_id}: routes say {route}")
        repeatable = (
            op.operation_id in REPEATABLE_POSTS
            if op.method == "POST"
            else op.operation_id not in UNREPEATABLE_PUTS
        )
        if sent.idempotent != repeatable:
            problems.append(f"{op.operation_id}: idempotent={sent.idempotent}")
        validate_answer(op, response)
        model = ANSWERS[op.operation_id]
        found = answer_schema(op, response.status_code)
        if model is None or found is None:
            if not (model is None and found is None) and response.content:
                problems.append(f"{op.operation_id}: model {model}, body {found}")
            continue
        parsed = model.model_validate_json(response.content)
        missing = required_fields_kept(parsed, response.json(), found[1])
        problems += [f"{op.operation_id}: {where}" for where in missing]
    return problems


async def _walk(walk: Walk, miro: MiroClient) -> None:
    """One call of every method, in an order where each finds what it needs."""
    w, c = walk, miro
    info = await w.call(c.tokens.info)
    assert info.identity.user_id == info.user.id

    # Boards and members.
    board = await w.call(c.boards.create, name="Everything", description="all 85")
    b = board.id
    assert (await w.call(c.boards.get, b)).name == "Everything"
    await w.call(c.boards.update, b, description="updated")
    copy = await w.call(c.boards.copy, b, name="Copy")
    team = board.team.id if board.team else None
    listed = await w.each(c.boards.list, team_id=team, page_size=1)
    assert {x.id for x in listed} == {b, copy.id}
    invited = await w.call(c.members.share, b, ["ann@example.com"], role="viewer")
    ann = str(invited.successful[0])
    assert len(await w.each(c.members.list, b, page_size=1)) == 2
    assert (await w.call(c.members.get, b, ann)).role == "viewer"
    assert (await w.call(c.members.update, b, ann, role="editor")).role == "editor"
    await w.call(c.members.remove, b, ann)

    # One item of each type, read and changed.
    frame = await w.call(
        c.frames.create, b, data=m.FrameChanges(title="F", show_content=True),
        style=m.FrameStyle(fill_color="#ffffff"), geometry=m.Geometry(width=800, height=600),
    )  # fmt: skip
    await w.call(c.frames.get, b, frame.id)
    await w.call(c.frames.update, b, frame.id, data=m.FrameData(title="G"))
    note = await w.call(
        c.sticky_notes.create, b, data=m.StickyNoteData(content="in the frame"),
        style=m.StickyNoteStyle(fill_color="yellow"), parent_id=frame.id,
    )  # fmt: skip
    assert note.parent is not None and note.parent.id == frame.id
    await w.call(c.sticky_notes.get, b, note.id)
    await w.call(
        c.sticky_notes.update, b, note.id, data=m.StickyNoteData(content="edited")
    )
    text = await w.call(
        c.texts.create, b, data=m.TextData(content="hi"),
        style=m.TextStyle(font_size="24"), position=m.Position(x=-300, y=0),
    )  # fmt: skip
    await w.call(c.texts.get, b, text.id)
    await w.call(c.texts.update, b, text.id, data=m.TextData(content="ho"))
    shape = await w.call(
        c.shapes.create, b, data=m.ShapeData(shape="circle", content="o"),
        style=m.ShapeStyle(fill_color="#ff0000"), position=m.Position(x=600, y=0),
    )  # fmt: skip
    await w.call(c.shapes.get, b, shape.id)
    await w.call(c.shapes.update, b, shape.id, style=m.ShapeStyle(border_width="4"))
    due = datetime(2026, 12, 1, tzinfo=UTC)
    card = await w.call(
        c.cards.create, b, data=m.CardData(title="Task", due_date=due),
        style=m.CardStyle(card_theme="#2d9bf0"), position=m.Position(x=0, y=600),
    )  # fmt: skip
    assert card.data is not None and card.data.due_date == due
    await w.call(c.cards.get, b, card.id)
    await w.call(c.cards.update, b, card.id, data=m.CardData(title="Done"))
    app_card = await w.call(
        c.app_cards.create, b,
        data=m.AppCardData(title="App", fields=[m.CustomField(value="v")]),
    )  # fmt: skip
    assert app_card.data is not None and app_card.data.owned is True
    await w.call(c.app_cards.get, b, app_card.id)
    await w.call(
        c.app_cards.update, b, app_card.id, data=m.AppCardData(status="connected")
    )
    image = await w.call(c.images.create, b, "https://example.com/a.png", title="A")
    await w.call(c.images.get, b, image.id)
    await w.call(c.images.update, b, image.id, title="Pic")
    picture = m.Upload(PNG, "picture.png", "image/png")
    uploaded = await w.call(
        c.images.upload, b, picture, title="Up", alt_text="two pixels",
        position=m.Position(x=900, y=900), geometry=m.Geometry(width=200),
    )  # fmt: skip
    assert uploaded.data is not None and uploaded.data.image_url
    await w.call(c.images.replace, b, uploaded.id, picture, title="Again")
    document = await w.call(c.documents.create, b, "https://example.com/a.pdf")
    await w.call(c.documents.get, b, document.id)
    await w.call(c.documents.update, b, document.id, title="D")
    report_pdf = m.Upload(PDF, "report.pdf", "application/pdf")
    file_doc = await w.call(c.documents.upload, b, report_pdf, title="Report")
    await w.call(c.documents.replace, b, file_doc.id, report_pdf)
    embed = await w.call(c.embeds.create, b, "https://example.com/video", mode="inline")
    await w.call(c.embeds.get, b, embed.id)
    await w.call(c.embeds.update, b, embed.id, mode="modal")
    doc = await w.call(c.doc_formats.create, b, "# Plan\n- one")
    html = await w.call(c.doc_formats.get, b, doc.id, text_content_type="html")
    assert html.data is not None and html.data.content_type == "html"
    await w.call(c.doc_formats.delete, b, doc.id)

    # The generic item views.
    assert len(await w.each(c.items.list, b, page_size=10)) == 11
    inside = await w.each(c.items.list_in_frame, b, frame.id)
    assert [i.id for i in inside] == [note.id]
    assert (await w.call(c.items.get, b, text.id)).type == "text"
    moved = await w.call(c.items.update, b, text.id, position=m.Position(x=400, y=20))
    assert moved.position is not None and moved.position.x == 400

    # Connectors.
    line = await w.call(
        c.connectors.create, b, m.ConnectorEnd(id=card.id),
        m.ConnectorEnd(id=shape.id, position=m.RelativeOffset(x="0%", y="50%")),
        shape="elbowed", captions=[m.Caption(content="then")],
        style=m.ConnectorStyle(stroke_color="#000000"),
    )  # fmt: skip
    assert [x.id for x in await w.each(c.connectors.list, b, page_size=10)] == [line.id]
    await w.call(c.connectors.get, b, line.id)
    await w.call(c.connectors.update, b, line.id, shape="straight")
    spare = await w.call(
        c.connectors.create, b, m.ConnectorEnd(id=note.id), m.ConnectorEnd(id=text.id)
    )
    await w.call(c.connectors.delete, b, spare.id)

    # Tags: removing one from an item leaves the item.
    tag = await w.call(c.tags.create, b, "urgent", fill_color="red")
    assert [t.id for t in await w.each(c.tags.list, b)] == [tag.id]
    await w.call(c.tags.get, b, tag.id)
    await w.call(c.tags.update, b, tag.id, fill_color="blue")
    await w.call(c.tags.attach, b, card.id, tag.id)
    assert [i.id for i in await w.each(c.tags.items, b, tag.id)] == [card.id]
    assert [t.id for t in await w.call(c.tags.of_item, b, card.id)] == [tag.id]
    await w.call(c.tags.remove, b, card.id, tag.id)
    assert await w.call(c.tags.of_item, b, card.id) == []
    await w.call(c.tags.delete, b, tag.id)

    # Groups.
    group = await w.call(c.groups.create, b, [card.id, app_card.id])
    assert [g.id for g in await w.each(c.groups.list, b)] == [group.id]
    grouped = await w.each(c.groups.items, b, group.id, page_size=10)
    assert {i.id for i in grouped} == {card.id, app_card.id}
    assert (await w.call(c.groups.get, b, group.id)).id == group.id
    regrouped = await w.call(
        c.groups.update, b, group.id, [card.id, app_card.id, embed.id]
    )
    assert regrouped.id != group.id
    await w.call(c.groups.ungroup, b, regrouped.id)
    extra = await w.call(c.sticky_notes.create, b)
    doomed = await w.call(c.groups.create, b, [image.id, extra.id])
    await w.call(c.groups.delete, b, doomed.id)  # and its items

    # Bulk create: JSON, and files.
    made = await w.call(
        c.items.create_bulk, b,
        [
            m.ItemCreate(type="sticky_note", data=m.StickyNoteData(content="bulk")),
            m.ItemCreate(type="shape", data=m.ShapeData(shape="star")),
            m.ItemCreate(type="image", data=m.ImageUrlData(url="https://example.com/b.png")),
        ],
    )  # fmt: skip
    assert [i.type for i in made] == ["sticky_note", "shape", "image"]
    from_files = await w.call(
        c.items.create_bulk_from_files, b,
        [m.BulkFileEntry(type="image", title="one"), m.BulkFileEntry(type="document")],
        [picture, report_pdf],
    )  # fmt: skip
    assert [i.type for i in from_files] == ["image", "document"]

    # Deleting: every type, the experimental route, the board.
    await w.call(c.items.delete_experimental, b, uploaded.id)
    await w.call(c.frames.delete, b, frame.id)
    await w.call(c.sticky_notes.delete, b, note.id)
    await w.call(c.texts.delete, b, text.id)
    await w.call(c.shapes.delete, b, shape.id)
    await w.call(c.cards.delete, b, card.id)
    await w.call(c.app_cards.delete, b, app_card.id)
    await w.call(c.documents.delete, b, document.id)
    await w.call(c.embeds.delete, b, embed.id)
    await w.call(c.images.delete, b, from_files[0].id)
    await w.call(c.items.delete, b, file_doc.id)
    assert await w.each(c.connectors.list, b) == []  # they went with their items
    await w.call(c.boards.delete, copy.id)

    # Last: the deprecated v1 revoke, which ends this token.
    with pytest.warns(DeprecationWarning, match="deprecated"):
        await w.call(c.tokens.revoke_v1)


async def test_every_method_against_the_emulator(pytestconfig: pytest.Config) -> None:
    app = create_emulator(
        auto_approve=True, clients=[emulator_app_client()], seed=3, search_delay=0
    )
    recorder = Recorder(emulator_transport(app))
    async with (
        httpx2.AsyncClient(transport=emulator_transport(app)) as plain,
        httpx2.AsyncClient(transport=recorder) as http,
    ):
        grant = await connect(plain, BASE)
        miro = _client(http, grant.access_token, grant.user_id)
        walk = Walk(miro, recorder)
        await _walk(walk, miro)
        stats = (await plain.get(f"{BASE}/_emulator/stats")).json()

    problems = [problem for call in walk.calls for problem in _check_call(call)]
    assert problems == []

    platform = {op for op, spec in operations().items() if spec.tag != "OAuth"}
    called = {call.operation_id for call in walk.calls}
    assert sorted(platform - called) == []
    # The emulator routed each request to the operation the method says it makes.
    ours: dict[str, int] = {}
    for call in walk.calls:
        ours[call.operation_id] = ours.get(call.operation_id, 0) + len(call.exchanges)
    theirs = {op: n for op, n in stats["operations"].items() if op in platform}
    assert theirs == {op: n for op, n in ours.items() if op in platform}
    report(
        pytestconfig,
        "emulator",
        f"{len(platform & called)}/{len(platform)} platform operations called against "
        "the emulator: requests and answers valid against the spec, answers parsed by "
        "our models with every required field kept, levels and repeats as the spec says",
    )
