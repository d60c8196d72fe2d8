"""Every field of every client model exists in Miro's OpenAPI spec with a compatible type.

Nested models are checked against the schema the spec puts at that place, and a field the
model requires must be required by the spec too (else a valid answer would be refused).
"""

from __future__ import annotations

import json
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from miroconnect.client import models

SPEC = json.loads(
    (Path(__file__).parents[1] / "miro-openapi" / "spec.json").read_text()
)
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref`s and merge `allOf` parts into one object schema."""
    if "$ref" in node:
        return resolve(SCHEMAS[node["$ref"].rsplit("/", 1)[-1]])
    if "allOf" in node:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in node["allOf"]:
            resolved = resolve(part)
            merged["properties"].update(resolved.get("properties", {}))
            merged["required"] += resolved.get("required", [])
        return merged
    return node


def token_info_schema() -> dict[str, Any]:
    response = SPEC["paths"]["/v1/oauth-token"]["get"]["responses"]["200"]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def strip_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is (
        typing.Union
    ):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        assert len(args) == 1, annotation
        return args[0]
    return annotation


def check(model: type[BaseModel], schema: dict[str, Any], where: str) -> None:
    schema = resolve(schema)
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    for name, field in model.model_fields.items():
        alias = field.alias or name
        place = f"{where}.{alias}"
        assert alias in properties, f"{place} is not in the spec"
        if field.is_required():
            assert alias in required, f"{place} is required by us, optional in the spec"
        check_type(strip_optional(field.annotation), properties[alias], place)


def check_type(annotation: Any, prop: dict[str, Any], place: str) -> None:
    prop = resolve(prop)
    kind = prop.get("type")
    if typing.get_origin(annotation) is list:
        assert kind == "array", f"{place}: list vs {kind}"
        check_type(typing.get_args(annotation)[0], prop["items"], place + "[]")
    elif typing.get_origin(annotation) is dict:
        assert kind == "object" or "oneOf" in prop, f"{place}: dict vs {prop}"
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


CASES: list[tuple[type[BaseModel], str]] = [
    (models.Board, "BoardWithLinksAndLastOpened"),
    (models.BoardMember, "BoardMember"),
    (models.InvitationResult, "InvitationResult"),
    (models.StickyNoteItem, "StickyNoteItem"),
    (models.TextItem, "TextItem"),
    (models.ShapeItem, "ShapeItem"),
    (models.FrameItem, "FrameItem"),
    (models.GenericItem, "GenericItem"),
]


@pytest.mark.parametrize(("model", "schema"), CASES, ids=[c[1] for c in CASES])
def test_model_matches_the_spec(model: type[BaseModel], schema: str) -> None:
    check(model, SCHEMAS[schema], schema)


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
