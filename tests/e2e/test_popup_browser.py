"""Popup mode in Chromium: a single-page app on one origin, the service on another.

The host app (a tiny Starlette app on `localhost`) serves a page that loads
`/static/miroconnect.js` from the service (on `127.0.0.1`), and a backend that talks to
the service API with its key. A click opens the popup, which consents at the emulator
(auto-approve) and ends on the service's page; the result reaches the host page by
`postMessage`, the host's backend confirms it, the board exists. A page on a foreign
origin that opens the same kind of popup receives nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from miroconnect.emulator import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page as PlaywrightPage

from .stack import Stack, chromium_marks, launch_chromium, service_stack

pytestmark = chromium_marks()

USER = "spa-user-7"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host SPA</title>
<script src="%(service)s/static/miroconnect.js"></script></head>
<body>
<button id="create">Create board on Miro</button>
<p id="status">idle</p>
<script>
window.received = [];
window.addEventListener("message", function (event) {
  window.received.push({ origin: event.origin, data: event.data });
});
var line = document.getElementById("status");
document.getElementById("create").addEventListener("click", function () {
  var given = %(authorize_url)s;
  // The popup opens inside the click; it goes to the link when the backend gives it.
  var link = given || fetch("/start", { method: "POST" })
    .then(function (answer) { return answer.json(); })
    .then(function (body) { return body.authorize_url; });
  miroconnect.connect(link)
    .then(function (answer) {
      return fetch("/confirm", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(answer),
      });
    })
    .then(function (answer) { return answer.json(); })
    .then(function (body) {
      line.textContent = "board:" + body.board.name + ":" + body.board.id;
    })
    .catch(function (error) { line.textContent = "error:" + error.reason; });
});
</script>
</body></html>
"""


@dataclass
class HostApp:
    """A host app's page and backend; `stack` is set once the service runs."""

    stack: Stack | None = None
    origin: str = ""
    confirms: list[int] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.page),
                Route("/start", self.start, methods=["POST"]),
                Route("/confirm", self.confirm, methods=["POST"]),
            ]
        )

    async def page(self, request: Request) -> Response:
        assert self.stack is not None
        given = request.query_params.get("authorize_url")
        values = {
            "service": self.stack.service,
            "authorize_url": json.dumps(given),  # null: ask the backend
        }
        return HTMLResponse(PAGE % values)

    async def _call(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        assert self.stack is not None
        async with httpx2.AsyncClient(timeout=15) as client:
            return await client.post(
                f"{self.stack.service}/api/v1/users/{USER}{path}",
                json=body,
                headers=self.stack.api_headers(),
            )

    async def start(self, request: Request) -> Response:
        answer = await self._call(
            "/boards",
            {
                "name": "Popup board",
                "return_url": f"{self.origin}/",
                "display": "popup",
            },
        )
        assert answer.status_code == 202, answer.text
        return JSONResponse(answer.json())

    async def confirm(self, request: Request) -> Response:
        # The signed-in user is the host's to know: here, always USER.
        result = (await request.json())["miro_result"]
        answer = await self._call("/connection/confirm", {"result": result})
        self.confirms.append(answer.status_code)
        return JSONResponse(answer.json(), status_code=answer.status_code)


def closed(popup: PlaywrightPage) -> bool:
    """Whether the popup closed (itself), waiting for it if it has not yet."""
    if not popup.is_closed():  # the sync API handles no event between the two calls
        popup.wait_for_event("close")
    return popup.is_closed()


@dataclass(frozen=True)
class Sites:
    stack: Stack
    host: HostApp
    foreign: str


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Sites]:
    """The host app and a foreign site (each on `localhost`, its own port), then the
    service, which allows only the host's origin as a return URL."""
    host, foreign = HostApp(), HostApp()
    with (
        serve_in_thread(host.app()) as host_url,
        serve_in_thread(foreign.app()) as foreign_url,
    ):
        host.origin = host_url.replace("127.0.0.1", "localhost")
        foreign.origin = foreign_url.replace("127.0.0.1", "localhost")
        with service_stack(tmp_path, [host.origin]) as stack:
            host.stack = foreign.stack = stack
            yield Sites(stack, host, foreign.origin)


def test_the_popup_hands_the_result_to_the_host_page(sites: Sites) -> None:
    from playwright.sync_api import expect

    stack = sites.stack
    with launch_chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{sites.host.origin}/")
        with page.expect_popup() as opened:
            page.get_by_role("button", name="Create board on Miro").click()
        popup = opened.value
        expect(page.locator("#status")).to_have_text(
            re.compile(r"^board:Popup board:\S+$"), timeout=20_000
        )
        assert closed(popup)
        board_id = page.locator("#status").inner_text().rsplit(":", 1)[1]
        received = page.evaluate("window.received")
    # Exactly one message, from the service, with the result alone.
    assert len(received) == 1
    assert received[0]["origin"] == stack.service
    assert set(received[0]["data"]) == {"miro_result"}
    assert sites.host.confirms == [201]
    boards = httpx2.get(
        f"{stack.service}/api/v1/users/{USER}/boards", headers=stack.api_headers()
    ).json()["boards"]
    assert [b["id"] for b in boards] == [board_id]
    at_miro = httpx2.get(f"{stack.miro}/_emulator/boards").json()
    assert [b["id"] for b in at_miro] == [board_id]


def test_a_failed_flow_rejects_with_miro_error(sites: Sites) -> None:
    from playwright.sync_api import expect

    stack = sites.stack
    # Miro refuses the code once: the flow fails after the browser was verified, so the
    # popup page posts `miro_error` to the host page instead of a result.
    fault = {"action": "status", "method": "POST", "path": "/v1/oauth/token"}
    added = httpx2.post(
        f"{stack.miro}/_emulator/faults",
        json=fault | {"status": 400, "times": 1, "body": {"error": "invalid_grant"}},
    )
    assert added.status_code == 201, added.text
    with launch_chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{sites.host.origin}/")
        with page.expect_popup() as opened:
            page.get_by_role("button", name="Create board on Miro").click()
        expect(page.locator("#status")).to_have_text(
            "error:code_rejected", timeout=20_000
        )
        assert closed(opened.value)
        received = page.evaluate("window.received")
    assert [message["data"] for message in received] == [
        {"miro_error": "code_rejected"}
    ]
    assert sites.host.confirms == []


def test_a_page_on_a_foreign_origin_receives_nothing(sites: Sites) -> None:
    from playwright.sync_api import expect

    stack = sites.stack
    # A flow for the host's origin, its link opened by a page of another origin.
    started = httpx2.post(
        f"{stack.service}/api/v1/users/{USER}/boards",
        json={
            "name": "Not for you",
            "return_url": f"{sites.host.origin}/",
            "display": "popup",
        },
        headers=stack.api_headers(),
    )
    assert started.status_code == 202, started.text
    authorize_url = started.json()["authorize_url"]
    callbacks: list[int] = []
    with launch_chromium() as browser:
        context = browser.new_context()
        context.on(
            "response",
            lambda answer: (
                callbacks.append(answer.status)
                if answer.url.startswith(f"{stack.service}/connect/callback")
                else None
            ),
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{sites.foreign}/?{urlencode({'authorize_url': authorize_url})}")
        with page.expect_popup() as opened:
            page.get_by_role("button", name="Create board on Miro").click()
        # The popup reached the service's last page (consent held), posted to the
        # host's origin only, and closed: this page got no message at all.
        expect(page.locator("#status")).to_have_text(
            "error:popup_closed", timeout=20_000
        )
        assert closed(opened.value)
        received = page.evaluate("window.received")
    assert callbacks == [200]
    assert received == []
    stats = httpx2.get(f"{stack.miro}/_emulator/stats").json()
    assert stats["token_grants"]["authorization_code"] == 1
    assert httpx2.get(f"{stack.miro}/_emulator/boards").json() == []
