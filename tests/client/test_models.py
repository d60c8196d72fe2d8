"""Every field of every client model exists in Miro's OpenAPI spec with a compatible type.

Nested models are checked against the schema the spec puts at that place, and a field the
model requires must be required by the spec too (else a valid answer would be refused).
Request parts (what `create` and `update` send) are checked against the request schemas.
The spec is read with the deviations the emulator's tests list (`patched_spec()`: board
groups as the docs show them, `oneOf`s of field-less schemas as `anyOf`).

Where a model knowingly differs from the spec, `KNOWN` says where and why.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel

from emulator.spec_support import patched_spec
from miroconnect.client import models

SPEC = patched_spec()
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]

# (model, field) -> why our model differs from the spec's schema where it is used. Such a
# field may be missing from that schema, or be required by us only; its type is still
# checked wherever the spec has it.
KNOWN: dict[tuple[str, str], str] = {
    ("Board", "links"): "list entries are Board (no links); a single board has them",
    (
        "Tag",
        "links",
    ): "an item's and a list's tags are Tag (no links); one tag has them",
    (
        "GroupsPage",
        "cursor",
    ): "the operation takes a cursor; the spec's answer omits it",
    ("GroupsPage", "total"): "Miro's answer has it; the spec's answer omits it",
    ("GroupItemsPage", "cursor"): "the operation takes a cursor; the answer omits it",
    (
        "Group",
        "id",
    ): "GroupResponseShort requires nothing; a group without id is useless",
    ("AppCardData", "owned"): "answer-only: Miro says whether this app owns the card",
    ("Position", "origin"): "answer-only; PositionChange (what we send) is x and y",
    ("Position", "relativeTo"): "answer-only; PositionChange (what we send) is x and y",
}
# ItemTypeChange lets a bulk create make a frame, but ItemDataCreate has no frame data.
UNION_EXTRAS = {"FrameChanges"}


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref`s, merge `allOf` parts into one object schema, and read a
    `oneOf`/`anyOf` of objects as one object with every alternative's properties, each
    required only if every alternative requires it."""
    if "$ref" in node:
        return resolve(SCHEMAS[node["$ref"].rsplit("/", 1)[-1]])
    if "allOf" in node:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in node["allOf"]:
            resolved = resolve(part)
            merged["properties"].update(resolved.get("properties", {}))
            merged["required"] += resolved.get("required", [])
        return merged
    alternatives = node.get("oneOf") or node.get("anyOf")
    if alternatives and all(resolve(a).get("type") == "object" for a in alternatives):
        parts = [resolve(a) for a in alternatives]
        union: dict[str, Any] = {"type": "object", "properties": {}}
        for part in parts:
            union["properties"].update(part.get("properties", {}))
        union["required"] = sorted(
            set.intersection(*(set(p.get("required", [])) for p in parts))
        )
        return union
    return node


def token_info_schema() -> dict[str, Any]:
    response = SPEC["paths"]["/v1/oauth-token"]["get"]["responses"]["200"]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def answer_schema(path: str, method: str, status: str = "200") -> dict[str, Any]:
    response = SPEC["paths"][path][method]["responses"][status]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def strip_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is (
        typing.Union
    ):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return typing.Union[tuple(args)]  # noqa: UP007 (rebuilt from a runtime tuple)
    return annotation


def check(model: type[BaseModel], schema: dict[str, Any], where: str) -> None:
    schema = resolve(schema)
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    for name, field in model.model_fields.items():
        alias = field.alias or name
        place = f"{where}.{alias}"
        known = (model.__name__, alias) in KNOWN
        if alias not in properties and known:
            continue
        assert alias in properties, f"{place} is not in the spec"
        if field.is_required() and not known:
            assert alias in required, f"{place} is required by us, optional in the spec"
        check_type(strip_optional(field.annotation), properties[alias], place)


def deref(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMAS[node["$ref"].rsplit("/", 1)[-1]]
    return node


def check_type(annotation: Any, prop: dict[str, Any], place: str) -> None:
    raw = deref(prop)
    prop = resolve(prop)
    kind = prop.get("type")
    members = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        assert kind == "string", f"{place}: literal vs {kind}"
        if "enum" in prop:
            assert set(members) <= set(prop["enum"]), f"{place}: {members}"
    elif typing.get_origin(annotation) is typing.Union:
        # A union of models (bulk create's data and style): each model must be one of
        # the spec's alternatives.
        alternatives = [resolve(a) for a in raw.get("oneOf") or raw.get("anyOf") or []]
        for member in members:
            if member.__name__ in UNION_EXTRAS:
                continue
            fits = [a for a in alternatives if _fits(member, a)]
            assert fits, f"{place}: {member.__name__} matches no alternative"
    elif typing.get_origin(annotation) is list:
        assert kind == "array", f"{place}: list vs {kind}"
        check_type(typing.get_args(annotation)[0], prop["items"], place + "[]")
    elif typing.get_origin(annotation) is dict:
        assert kind == "object" or "oneOf" in raw or "anyOf" in raw, f"{place}: {raw}"
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        assert kind in (None, "object"), f"{place}: model vs {kind}"
        check(annotation, prop, place)
    elif annotation is datetime:
        assert (kind, prop.get("format")) == ("string", "date-time"), place
    elif annotation is str:
        assert kind == "string", f"{place}: str vs {kind}"
    elif annotation is bool:
        assert kind == "boolean", f"{place}: bool vs {kind}"
    elif annotation is int:
        assert kind in ("integer", "number"), f"{place}: int vs {kind}"
        assert prop.get("format") in (None, "int32", "int64"), place
    elif annotation is float:
        assert kind == "number", f"{place}: float vs {kind}"
    else:
        raise AssertionError(f"{place}: unchecked annotation {annotation!r}")


def _fits(model: type[BaseModel], schema: dict[str, Any]) -> bool:
    try:
        check(model, schema, model.__name__)
    except AssertionError:
        return False
    return True


def request_part(schema: str, part: str) -> dict[str, Any]:
    found: dict[str, Any] = resolve(SCHEMAS[schema])["properties"][part]
    return found


ANSWERS: list[tuple[type[BaseModel], str]] = [
    (models.Board, "BoardWithLinksAndLastOpened"),
    (models.BoardMember, "BoardMember"),
    (models.InvitationResult, "InvitationResult"),
    (models.StickyNoteItem, "StickyNoteItem"),
    (models.TextItem, "TextItem"),
    (models.ShapeItem, "ShapeItem"),
    (models.FrameItem, "FrameItem"),
    (models.GenericItem, "GenericItem"),
    (models.CardItem, "CardItem"),
    (models.AppCardItem, "AppCardItem"),
    (models.ImageItem, "ImageItem"),
    (models.DocumentItem, "DocumentItem"),
    (models.EmbedItem, "EmbedItem"),
    (models.DocFormatItem, "DocFormatItem"),
    (models.Connector, "ConnectorWithLinks"),
    (models.Tag, "TagWithLinks"),
    (models.ItemTags, "GetTagsResponse"),
    (models.Group, "GroupResponseShort"),
    (models.BulkItems, "Items"),
]

PAGES: list[tuple[type[BaseModel], str, str]] = [
    (models.OffsetPage[models.Board], "BoardsPage", "BoardsPagedResponse"),
    (models.OffsetPage[models.BoardMember], "MembersPage", "BoardMembersPagedResponse"),
    (models.OffsetPage[models.Tag], "TagsPage", "TagsPagedResponse"),
    (models.OffsetPage[models.GenericItem], "TaggedPage", "ItemPagedResponse"),
    (models.CursorPage[models.GenericItem], "ItemsPage", "GenericItemCursorPaged"),
    (models.CursorPage[models.Connector], "ConnectorsPage", "ConnectorsCursorPaged"),
]

# (model, request schema, part of it)
REQUEST_PARTS: list[tuple[type[BaseModel], str, str]] = [
    (models.StickyNoteData, "StickyNoteCreateRequest", "data"),
    (models.StickyNoteStyle, "StickyNoteCreateRequest", "style"),
    (models.TextData, "TextCreateRequest", "data"),
    (models.TextStyle, "TextCreateRequest", "style"),
    (models.ShapeData, "ShapeCreateRequest", "data"),
    (models.ShapeStyle, "ShapeCreateRequest", "style"),
    (models.ShapeData, "ShapeUpdateRequest", "data"),
    (models.ShapeStyle, "ShapeUpdateRequest", "style"),
    (models.FrameChanges, "FrameCreateRequest", "data"),
    (models.FrameStyle, "FrameCreateRequest", "style"),
    (models.CardData, "CardCreateRequest", "data"),
    (models.CardStyle, "CardCreateRequest", "style"),
    (models.CardStyle, "CardUpdateRequest", "style"),
    (models.AppCardData, "AppCardCreateRequest", "data"),
    (models.AppCardStyle, "AppCardCreateRequest", "style"),
    (models.Position, "CardCreateRequest", "position"),
    (models.Geometry, "CardCreateRequest", "geometry"),
    (models.ItemParent, "CardCreateRequest", "parent"),
    (models.ImageUrlData, "ImageCreateRequest", "data"),
    (models.ImageUrlData, "ImageUpdateRequest", "data"),
    (models.DocumentUrlData, "DocumentCreateRequest", "data"),
    (models.DocumentUrlData, "DocumentUpdateRequest", "data"),
    (models.EmbedUrlData, "EmbedCreateRequest", "data"),
    (models.EmbedUrlData, "EmbedUpdateRequest", "data"),
    (models.ConnectorEnd, "ConnectorCreationData", "startItem"),
    (models.ConnectorEnd, "ConnectorChangesData", "endItem"),
    (models.ConnectorStyle, "ConnectorCreationData", "style"),
    (models.ConnectorStyle, "ConnectorChangesData", "style"),
]


@pytest.mark.parametrize(("model", "schema"), ANSWERS, ids=[c[1] for c in ANSWERS])
def test_model_matches_the_spec(model: type[BaseModel], schema: str) -> None:
    check(model, SCHEMAS[schema], schema)


@pytest.mark.parametrize(("model", "name", "schema"), PAGES, ids=[c[2] for c in PAGES])
def test_page_matches_the_spec(model: type[BaseModel], name: str, schema: str) -> None:
    check(model, SCHEMAS[schema], name)


def test_group_pages_match_the_inline_schemas() -> None:
    groups = "/v2/boards/{board_id}/groups"
    check(models.GroupsPage, answer_schema(groups, "get"), "GroupsPage")
    check(
        models.GroupItemsPage, answer_schema(f"{groups}/items", "get"), "GroupItemsPage"
    )


@pytest.mark.parametrize(
    ("model", "schema", "part"),
    REQUEST_PARTS,
    ids=[f"{c[1]}.{c[2]}" for c in REQUEST_PARTS],
)
def test_request_part_matches_the_spec(
    model: type[BaseModel], schema: str, part: str
) -> None:
    check(model, request_part(schema, part), f"{schema}.{part}")


def test_bulk_item_create_matches_the_spec() -> None:
    check(models.ItemCreate, SCHEMAS["ItemCreate"], "ItemCreate")
    check(models.Caption, SCHEMAS["Caption"], "Caption")


def test_board_fields_of_list_answers_exist_in_board_schema_too() -> None:
    # The list returns `Board` (no links); everything else we read is in it.
    board = SCHEMAS["Board"]["properties"]
    fields = {f.alias or n for n, f in models.Board.model_fields.items()}
    assert fields - set(board) == {"links"}


def test_token_info_matches_the_inline_schema() -> None:
    check(models.TokenInfo, token_info_schema(), "TokenInfo")


def test_the_checker_catches_a_wrong_field() -> None:
    class Wrong(models.MiroModel):
        id: int  # a string in the spec

    with pytest.raises(AssertionError, match="int vs string"):
        check(Wrong, SCHEMAS["BoardMember"], "BoardMember")

    class Unknown(models.MiroModel):
        colour: str | None = None

    with pytest.raises(AssertionError, match="not in the spec"):
        check(Unknown, SCHEMAS["BoardMember"], "BoardMember")

    class Union(models.MiroModel):
        data: models.StickyNoteData | models.Board | None = None

    with pytest.raises(AssertionError, match="Board matches no alternative"):
        check(Union, SCHEMAS["ItemCreate"], "Union")
