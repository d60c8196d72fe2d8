"""Each request runs under one request id (the client's, if sane) and logs one
`http.request` event by route template: the callback's code and state never reach a log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from miroconnect.logs import JSONFormatter, current_request_id

from .conftest import RETURN_ORIGIN, Harness

USER = "user-7"
BOARDS = f"/api/v1/users/{USER}/boards"


@dataclass(frozen=True)
class Seen:
    event: str
    fields: dict[str, object]
    request_id: str | None
    raw: str  # everything on the record, unredacted
    line: str  # the JSON line as written


class Recorder(logging.Handler):
    """Keeps each record with the request id current when it was logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[Seen] = []
        self._json = JSONFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(
            Seen(
                event=str(getattr(record, "miroconnect_event", "log")),
                fields=dict(getattr(record, "miroconnect_fields", {}) or {}),
                request_id=current_request_id(),
                raw=repr(vars(record)) + record.getMessage(),
                line=self._json.format(record),
            )
        )

    def of(self, event: str) -> list[Seen]:
        return [s for s in self.seen if s.event == event]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    handler = Recorder()
    package = logging.getLogger("miroconnect")
    package.addHandler(handler)
    package.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        package.removeHandler(handler)
        package.setLevel(logging.NOTSET)


async def test_the_callback_is_logged_by_route_and_its_request_id_reaches_the_flow(
    harness: Harness, recorder: Recorder
) -> None:
    async with harness.api() as api:
        first = await api.post(
            BOARDS, json={"name": "Plan", "return_url": f"{RETURN_ORIGIN}/p/1"}
        )
    launch_url = first.json()["authorize_url"]
    launch_token = launch_url.rsplit("/", 1)[1]
    launch = await harness.browser.get(launch_url)
    callback_url = await harness.consent(launch.headers["location"])
    query = parse_qs(urlsplit(callback_url).query)
    code, state = query["code"][0], query["state"][0]

    back = await harness.browser.get(callback_url, headers={"X-Request-ID": "cb-1"})
    assert back.status_code == 303
    assert back.headers["x-request-id"] == "cb-1"
    result = parse_qs(urlsplit(back.headers["location"]).query)["miro_result"][0]
    async with harness.api() as api:
        confirmed = await api.post(
            f"/api/v1/users/{USER}/connection/confirm",
            json={"result": result},
            headers={"X-Request-ID": "confirm-1"},
        )
    assert confirmed.status_code == 201

    [logged] = [
        s
        for s in recorder.of("http.request")
        if s.fields["route"] == "/connect/callback"
    ]
    assert logged.request_id == "cb-1"
    assert logged.fields["method"] == "GET"
    assert logged.fields["status_code"] == 303
    duration = logged.fields["duration_ms"]
    assert isinstance(duration, float) and duration >= 0
    # The flow's steps inside that request carry the same id, and the confirm's its own.
    for event in ("flow.callback_consumed", "flow.code_exchanged", "flow.consent_held"):
        assert [s.request_id for s in recorder.of(event)] == ["cb-1"], event
    for event in ("flow.consent_confirmed", "flow.action_run"):
        assert [s.request_id for s in recorder.of(event)] == ["confirm-1"], event
    launched = [s for s in recorder.of("http.request") if "launch" in str(s.fields)]
    assert [s.fields["route"] for s in launched] == ["/connect/launch/{token}"]
    # Not redacted away: never there. The records themselves hold no secret.
    for seen in recorder.seen:
        for secret in (code, state, launch_token, result):
            assert secret not in seen.raw, seen.event
            assert secret not in seen.line, seen.event


async def test_requests_without_a_sane_id_get_a_fresh_one(
    harness: Harness, recorder: Recorder
) -> None:
    fresh = re.compile(r"[0-9a-f]{32}")
    sent_ids: list[bytes | None] = [
        None,
        b"",
        b"has space",
        b"x" * 101,
        b"new\nline",
        "ok-but-\u00e9".encode(),
    ]
    for sent in sent_ids:
        headers = {b"x-request-id": sent} if sent is not None else {}
        answer = await harness.browser.get("/healthz", headers=headers)
        assert answer.status_code == 200
        assert fresh.fullmatch(answer.headers["x-request-id"]), sent
    ids = [s.request_id for s in recorder.of("http.request")]
    assert len(set(ids)) == 6
    kept = await harness.browser.get("/healthz", headers={"X-Request-ID": "lb:a.b_c-1"})
    assert kept.headers["x-request-id"] == "lb:a.b_c-1"
    missing = await harness.browser.get("/no/such/page?code=abc")
    assert missing.status_code == 404
    assert recorder.of("http.request")[-1].fields["route"] == "unmatched"
    assert recorder.of("http.request")[-1].fields["status_code"] == 404
