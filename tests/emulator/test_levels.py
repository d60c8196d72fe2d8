"""Each operation's scope and rate-limit level are the spec's ("Required scope" and "Rate
limiting" in every operation's description), read from the spec, not copied by hand."""

from __future__ import annotations

import re

from starlette.applications import Starlette

from miroconnect.emulator.api import OPERATIONS

from .spec_support import platform_operations, raw_spec

# Served outside `endpoint` (OAuth plumbing): the spec gives them no scope or level.
_OAUTH = {"token-info", "revoke-token"}


def _documented(path: str, method: str) -> tuple[str | None, int | None]:
    text = raw_spec()["paths"][path][method.lower()]["description"]
    scope = re.search(r"scopes>([\w:]+)</a>", text)
    level = re.search(r"Level (\d)", text)
    return (
        scope.group(1) if scope else None,
        int(level.group(1)) if level else None,
    )


def test_scopes_and_levels_are_the_specs(emulator: Starlette) -> None:
    assert emulator is not None  # building the app registers every operation
    wrong = []
    for op in platform_operations():
        if op.operation_id in _OAUTH:
            assert _documented(op.path, op.method) == (None, None)
            continue
        served = OPERATIONS.get(op.operation_id)
        if served != _documented(op.path, op.method):
            wrong.append(
                f"{op.operation_id}: {served} != {_documented(op.path, op.method)}"
            )
    assert wrong == []
