"""Fuzz the service API (`/api/v1`) with Hypothesis, beyond what schemathesis derives from
`/openapi.json` (tests/web/test_openapi.py): methods and paths the schema does not list,
user ids with odd encodings, any JSON (or not JSON) as the body, wrong and odd headers,
`Authorization` values, and idempotency keys, including repeats of the same key.

For every case: no 5xx; every error under `/api/` is an `application/problem+json` document
with `type` and `title` and no stack trace; a key that made a board gives the same board when
repeated; and at the end no secret handed out during the run appears in any log line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import API_KEY, EXAMPLES, Service, running_service

USER = "fz-api"


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    for service in running_service(database_url):
        flow = service.start_flow(USER)
        assert service.finish_flow(flow).status == 303
        assert service.confirm_flow(flow).status == 201
        yield service


_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4)
    ),
    max_leaves=12,
)
_names = st.one_of(
    st.sampled_from(["Sprint 12", "x", "A" * 60, "A" * 61, "", " ", "\u00e9t\u00e9"]),
    _text,
    st.integers(),
    st.none(),
)
_return_urls = st.one_of(
    st.sampled_from(
        [
            "https://app.example/p/1",
            "https://evil.example/",
            "//evil.example",
            "javascript:alert(1)",
            "https://app.example@evil.example/",
            "/relative",
        ]
    ),
    _text,
)


@st.composite
def _body(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["board", "board", "json", "bytes", "broken", "huge"]))
    if kind == "board":
        board: dict[str, Any] = {"name": draw(_names)}
        if draw(st.booleans()):
            board["description"] = draw(st.one_of(_text, st.integers(), st.none()))
        if draw(st.booleans()):
            board["return_url"] = draw(_return_urls)
        if draw(st.booleans()):
            board[draw(_text)] = draw(_json_values)
        # json.dumps lets NaN and Infinity through: bodies that are not strict JSON.
        return json.dumps(board).encode()
    if kind == "json":
        return json.dumps(draw(_json_values)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "broken":
        return b'{"name": "' + draw(st.binary(max_size=20)) + b'"'
    return b'{"name": "' + b"A" * draw(st.integers(10_000, 2_000_000)) + b'"}'


@st.composite
def _path(draw: st.DrawFn) -> tuple[str, bytes]:
    user = draw(
        st.one_of(
            st.just(USER),
            st.just(USER),
            st.just(USER),
            st.just("someone-else"),
            _text.map(lambda v: quote(v, safe="")),
            st.builds(lambda n: "u" * n, st.integers(250, 5000)),
            st.sampled_from(["%2F", "..", "%00", "a%2Fb", "%FF%FE", "%", "a b", ""]),
        )
    )
    tail = draw(
        st.sampled_from(["boards"] * 6 + ["connection", "boards/1", "", "x", "boards/"])
    )
    method = draw(
        st.sampled_from(["POST", "POST", "GET", "GET", "DELETE", "PUT", "PATCH"])
    )
    raw = f"/api/v1/users/{user}/{tail}".replace(" ", "%20")
    return method, raw.encode("ascii", "replace")


@st.composite
def _headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    header_text = st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300
    )
    auth = draw(
        st.sampled_from(["valid", "valid", "valid", "none", "wrong", "basic", "odd"])
    )
    headers: list[tuple[bytes, bytes]] = []
    value = {
        "valid": f"Bearer {API_KEY}",
        "none": None,
        "wrong": f"Bearer {API_KEY}x",
        "basic": "Basic dXNlcjpwYXNz",
        "odd": draw(header_text),
    }[auth]
    if value is not None:
        headers.append((b"authorization", value.encode("latin-1")))
    content_type = draw(
        st.sampled_from(
            ["application/json", "application/json", "text/plain", None, "odd"]
        )
    )
    if content_type == "odd":
        content_type = draw(header_text)
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("latin-1")))
    key_kind = draw(st.sampled_from(["none", "pool", "pool", "odd", "huge", "twice"]))
    if key_kind == "pool":  # a small pool, so that keys repeat
        headers.append((b"idempotency-key", f"key-{draw(st.integers(0, 15))}".encode()))
    elif key_kind == "odd":
        headers.append((b"idempotency-key", draw(header_text).encode("latin-1")))
    elif key_kind == "huge":
        headers.append((b"idempotency-key", b"k" * draw(st.integers(201, 10_000))))
    elif key_kind == "twice":
        headers += [(b"idempotency-key", b"key-1"), (b"idempotency-key", b"key-2")]
    for _ in range(draw(st.integers(0, 2))):
        name = draw(
            st.sampled_from(
                [b"x-request-id", b"cookie", b"accept", b"x-forwarded-proto"]
            )
        )
        headers.append((name, draw(header_text).encode("latin-1")))
    return headers


_queries = st.one_of(
    st.just(b""),
    st.sampled_from([b"limit=5", b"limit=0", b"limit=101", b"cursor=1", b"cursor=-1"]),
    st.builds(
        lambda a, b: f"limit={quote(a)}&cursor={quote(b)}&limit=2".encode(),
        _text,
        _text,
    ),
    st.builds(lambda n: f"cursor={n}".encode(), st.integers()),
)


def test_service_api_fuzz(service: Service) -> None:
    boards_by_key: dict[str, str] = {}
    statuses: dict[int, int] = {}
    cases = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(path=_path(), headers=_headers(), body=_body(), query=_queries)
    def check(
        path: tuple[str, bytes],
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        query: bytes,
    ) -> None:
        nonlocal cases
        method, raw_path = path
        answer = service.request(
            method,
            raw_path,
            query=query,
            headers=headers,
            body=body if method in ("POST", "PUT", "PATCH") else b"",
        )
        cases += 1
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        assert answer.status < 500, (method, raw_path[:200], answer.body[:500])
        assert b"Traceback" not in answer.body
        if answer.status >= 400:
            assert answer.header("content-type") == "application/problem+json", (
                answer.status,
                answer.body[:300],
            )
            problem = json.loads(answer.body)
            assert isinstance(problem["type"], str) and isinstance(
                problem["title"], str
            )
        if answer.status == 201:
            service.remember_miro_secrets()
            keys = [v for k, v in headers if k == b"idempotency-key"]
            if len(keys) == 1:
                key = f"{raw_path.decode()}:{keys[0].decode('latin-1')}"
                board = json.loads(answer.body)["board"]["id"]
                assert boards_by_key.setdefault(key, board) == board

    check()
    logged = service.logs.getvalue()
    leaked = sorted(
        secret[:6] + "..." for secret in service.secrets if secret in logged
    )
    assert not leaked, f"secrets in the logs: {leaked}"
    print(
        f"\nservice API fuzz: {cases} cases, statuses {sorted(statuses.items())}, "
        f"{len(boards_by_key)} idempotency keys made boards, {len(service.secrets)} "
        f"secrets searched in {logged.count(chr(10))} log lines"
    )
