"""The JSON log format: one object per line, request ids, and redaction as a last net."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import miroconnect.logs as logs_module
from miroconnect.config import Settings
from miroconnect.logs import (
    REDACTED,
    JSONFormatter,
    configure_logging,
    configure_logging_from_settings,
    context_fields,
    current_request_id,
    log_event,
    new_request_id,
    redact,
    request_context,
)

MIRO_TOKEN = "eyJtaXJvLm9yaWdpbiI6ImV1MDEifQ_Zx9aQk2mB7rT1sV4wY6uP0cE3hJ5lN8"


@pytest.fixture
def capture() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("miroconnect.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_event_is_one_json_object_with_the_envelope(capture: io.StringIO) -> None:
    logger = logging.getLogger("miroconnect.test")
    with request_context("req-42") as rid:
        log_event(logger, "flow.completed", connection_id="c1", count=3, ok=True)
    log_event(logger, "flow.failed", level=logging.WARNING, reason="state_replayed")
    first, second = lines(capture)
    assert rid == "req-42"
    assert first["event"] == "flow.completed" and first["level"] == "info"
    assert first["logger"] == "miroconnect.test" and first["request_id"] == "req-42"
    assert (first["connection_id"], first["count"], first["ok"]) == ("c1", 3, True)
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert second["request_id"] is None and second["level"] == "warning"
    assert second["reason"] == "state_replayed"
    assert "message" not in first


def test_fields_cannot_overwrite_the_envelope(capture: io.StringIO) -> None:
    log_event(logging.getLogger("miroconnect.test"), "x", event="y", level_="z")
    (line,) = lines(capture)
    assert line["event"] == "x" and line["field_event"] == "y"


def test_plain_records_get_event_log_and_a_redacted_message(
    capture: io.StringIO,
) -> None:
    logger = logging.getLogger("miroconnect.test")
    logger.info("GET /callback?code=%s&state=abc123 HTTP/1.1", MIRO_TOKEN)
    try:
        raise RuntimeError(f"Authorization: Bearer {MIRO_TOKEN}")
    except RuntimeError:
        logger.exception("boom")
    plain, failed = lines(capture)
    assert plain["event"] == "log"
    assert (
        plain["message"] == f"GET /callback?code={REDACTED}&state={REDACTED} HTTP/1.1"
    )
    assert failed["error_type"] == "RuntimeError"
    assert "Bearer [REDACTED]" in failed["traceback"]
    assert MIRO_TOKEN not in capture.getvalue()
    assert "abc123" not in capture.getvalue()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token {MIRO_TOKEN} expired", MIRO_TOKEN),
        ("Authorization: Bearer s3cr3t-value", "s3cr3t-value"),
        ("grant_type=refresh_token&refresh_token=rt-9f8e7d", "rt-9f8e7d"),
        ("access_token=at-1a2b3c; Path=/", "at-1a2b3c"),
        ("client_id=1&client_secret=cs-ffee99", "cs-ffee99"),
        ("/connect/callback?state=St4t3Val&code=c0de99", "St4t3Val"),
        ("/connect/callback?state=St4t3Val&code=c0de99", "c0de99"),
        ('{"accessToken": "at-json-1", "clientSecret": "cs-json"}', "at-json-1"),
        ('{"accessToken": "at-json-1", "clientSecret": "cs-json"}', "cs-json"),
        ('{"refresh_token":"rt-json-2"}', "rt-json-2"),
    ],
)
def test_redact_catches_secret_shapes(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert REDACTED in redact(text)


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "status_code=401 error_code=invalid_grant connection c1 needs_reauth"
    assert redact(text) == text


def test_secret_named_fields_and_nested_values_are_redacted(
    capture: io.StringIO,
) -> None:
    log_event(
        logging.getLogger("miroconnect.test"),
        "oops",
        access_token="at-plain-1",
        client_secret="cs-plain-2",
        code="code-plain-3",
        state="state-plain-4",
        headers={"Authorization": "Bearer at-plain-5", "accept": "json"},
        urls=[f"https://x/cb?code={MIRO_TOKEN}"],
        reason="refresh_rejected (401)",
        token_version=3,
    )
    (line,) = lines(capture)
    raw = capture.getvalue()
    for secret in ("at-plain-1", "cs-plain-2", "code-plain-3", "state-plain-4"):
        assert secret not in raw
    assert "at-plain-5" not in raw and MIRO_TOKEN not in raw
    assert line["headers"]["accept"] == "json"
    assert line["reason"] == "refresh_rejected (401)" and line["token_version"] == 3


async def test_request_ids_follow_tasks_and_bad_ids_are_replaced() -> None:
    seen: list[str | None] = []

    async def child() -> None:
        await asyncio.sleep(0)
        seen.append(current_request_id())

    with request_context("outer-1"):
        task = asyncio.create_task(child())
        with request_context("inner-2"):
            seen.append(current_request_id())
        await task
    assert seen == ["inner-2", "outer-1"]
    assert current_request_id() is None
    with request_context("bad id\n{injected}") as rid:
        assert rid != "bad id\n{injected}" and len(rid) == 32
    assert len(new_request_id()) == 32


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for extra in [h for h in root.handlers if h not in before]:
            root.removeHandler(extra)
        root.setLevel(level)
        logging.getLogger("miroconnect").setLevel(logging.NOTSET)


@pytest.mark.usefixtures("restore_logging")
async def test_context_fields_mark_what_is_logged_in_their_tasks(
    capture: io.StringIO,
) -> None:
    logger = logging.getLogger("miroconnect.test.context")

    async def serve(label: str | None) -> None:
        if label is None:
            logger.info("plain")
            return
        with context_fields(server=label):
            await asyncio.sleep(0)
            logger.info("labelled")
            log_event(logger, "own.field", server="mine")

    await asyncio.gather(serve("emulator"), serve(None))
    lines = [json.loads(line) for line in capture.getvalue().splitlines()]
    by_message = {line.get("message", line["event"]): line for line in lines}
    assert by_message["labelled"]["server"] == "emulator"
    assert "server" not in by_message["plain"]
    assert by_message["own.field"]["server"] == "mine"  # the record's own field wins


def test_configure_logging_installs_one_handler_and_checks_the_level() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    stream = io.StringIO()
    configure_logging(json=False, level="debug", stream=io.StringIO())
    handler = configure_logging(level="INFO", stream=stream)
    assert [h for h in root.handlers if h not in before] == [handler]
    with request_context("r-1"):
        log_event(logging.getLogger("miroconnect.x"), "a.b", n=1)
    logging.getLogger("miroconnect.x").debug("hidden")
    logging.getLogger("alembic.runtime").info("library chatter")
    logging.getLogger("alembic.runtime").warning("library warning")
    first, second = lines(stream)
    assert (first["event"], first["n"], first["request_id"]) == ("a.b", 1, "r-1")
    assert second["message"] == "library warning"
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="LOUD")


@pytest.mark.usefixtures("restore_logging")
def test_text_format_is_redacted_too() -> None:
    stream = io.StringIO()
    configure_logging(json=False, stream=stream)
    log_event(logging.getLogger("miroconnect.x"), "vault.x", refresh_token="rt-77", n=2)
    assert "vault.x" in stream.getvalue() and "n=2" in stream.getvalue()
    assert "rt-77" not in stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_text_format_escapes_control_characters() -> None:
    # A request path can carry a NUL, an escape sequence or a line break: on a terminal
    # they would act, and a line break would start a forged line.
    stream = io.StringIO()
    configure_logging(json=False, stream=stream)
    logger = logging.getLogger("miroconnect.x")
    logger.info("invalid request on %s", "/users/a\x00b\x1b[2Jc\nfake.line")
    log_event(logger, "x.y", path="/p\rq\x7f\x9b2J")  # C1's one-byte CSI too
    text = stream.getvalue()
    assert text.count("\n") == 2  # one line each
    assert "a\\x00b\\x1b[2Jc\\x0afake.line" in text
    assert "path=/p\\x0dq\\x7f\\x9b2J" in text
    assert not any(ch in text.replace("\n", "") for ch in "\x00\x1b\r\x7f\x9b")


@pytest.mark.usefixtures("restore_logging")
def test_configuring_from_settings_falls_back_on_a_bad_level() -> None:
    stream = io.StringIO()
    configure_logging_from_settings(
        Settings(log_level="chatty", log_format="json"), stream=stream
    )
    (line,) = lines(stream)
    assert line["event"] == "logging.misconfigured" and line["level"] == "warning"
    text = io.StringIO()
    configure_logging_from_settings(
        Settings(log_level="debug", log_format="text"), stream=text
    )
    logging.getLogger("miroconnect.x").debug("shown")
    assert "shown" in text.getvalue() and not text.getvalue().startswith("{")


def _redact_without_prefilter(text: str) -> str:
    for pattern, replacement in logs_module._SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_SECRET_WORDS = st.sampled_from(
    [
        "eyJhbGciOiJIUzI1NiJ9abc",
        "Bearer abc.def",
        "BASIC dXNlcjpwYXNz",
        "access_token=s3cr3t",
        "Code=123",
        '"refreshToken": "r1"',
        '"client_secret":"x"',
        "EYJlowercaseprefix12345",
        "state=",
        "launch_token=q",
    ]
)


@given(st.lists(st.one_of(st.text(max_size=20), _SECRET_WORDS), max_size=6))
def test_the_one_pass_check_never_lets_a_secret_through(parts: list[str]) -> None:
    text = " ".join(parts)
    assert redact(text) == _redact_without_prefilter(text)


def test_a_plain_id_is_returned_as_it_is() -> None:
    ident = "09c1c294b4e04acebefa0ec60805ef8f"
    assert redact(ident) is ident
