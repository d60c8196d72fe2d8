"""Popup mode (`"display": "popup"`): the flow ends on a service page that posts the result
to the window that opened it, at the return URL's exact origin only. The browser half is
`tests/e2e/test_popup_browser.py`; here, the API, the page and its headers."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.responses import RedirectResponse

from miroconnect.web.popup import POPUP_SCRIPT, back_to_app, origin_of

from .conftest import MIRO, RETURN_ORIGIN, Harness

USER = "user-42"
BOARDS = f"/api/v1/users/{USER}/boards"
CONNECTION = f"/api/v1/users/{USER}/connection"
CONFIRM = f"/api/v1/users/{USER}/connection/confirm"
RETURN_URL = f"{RETURN_ORIGIN}/spa/boards?tab=2"


class PopupPage(HTMLParser):
    """The `#miroconnect-popup` element's attributes, the scripts, and the links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self.scripts: list[str] = []
        self.links: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if values.get("id") == "miroconnect-popup":
            self.data = {k: v for k, v in values.items() if k.startswith("data-")}
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        if tag == "a":
            self.links.append(values.get("href", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


async def start(harness: Harness, path: str = BOARDS, **body: str) -> str:
    """Start a popup flow through the API; its `authorize_url`."""
    async with harness.api() as api:
        answer = await api.post(
            path, json={"return_url": RETURN_URL, "display": "popup", **body}
        )
    assert answer.status_code == 202, answer.text
    authorize_url: str = answer.json()["authorize_url"]
    return authorize_url


async def popup_ends(
    harness: Harness, authorize_url: str, decision: str = "approve"
) -> httpx2.Response:
    """The popup's way: launch link, Miro's consent, the callback; its last answer."""
    launch = await harness.browser.get(authorize_url)
    assert launch.status_code == 303
    # A redirect makes no page: it lets the popup keep its opener.
    assert launch.headers["cross-origin-opener-policy"] == "unsafe-none"
    assert launch.headers["location"].startswith(f"{MIRO}/oauth/authorize?")
    callback = await harness.consent(launch.headers["location"], decision)
    return await harness.browser.get(callback)


def assert_strict_page(answer: httpx2.Response, page: PopupPage) -> None:
    """One inline script, allowed by its hash and nothing else; opener kept; no cache."""
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert page.scripts == [POPUP_SCRIPT]
    digest = base64.b64encode(hashlib.sha256(page.scripts[0].encode()).digest())
    policy = dict(
        (directive.split(" ", 1) + [""])[:2]
        for directive in answer.headers["content-security-policy"].split("; ")
    )
    assert policy["script-src"] == f"'sha256-{digest.decode()}'"
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in answer.headers["content-security-policy"]
    assert answer.headers["cross-origin-opener-policy"] == "unsafe-none"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-frame-options"] == "DENY"
    # The script posts to the page's own origin attribute, never to any origin.
    assert 'postMessage(message, page.getAttribute("data-origin"))' in POPUP_SCRIPT
    assert '"*"' not in POPUP_SCRIPT and "'*'" not in POPUP_SCRIPT


async def test_a_popup_flow_posts_the_result_to_the_return_origin_only(
    harness: Harness,
) -> None:
    answer = await popup_ends(harness, await start(harness, name="Popup board"))
    page = PopupPage(answer.text)
    assert_strict_page(answer, page)
    # The exact origin of the return URL: no path, no query, no wildcard.
    assert page.data["data-origin"] == RETURN_ORIGIN
    assert "data-miro-error" not in page.data
    result = page.data["data-miro-result"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", result)
    # Without an opener (opened in a tab), the page links on as the redirect would.
    landed = urlsplit(page.links[0])
    assert (landed.netloc, landed.path) == ("app.example", "/spa/boards")
    assert parse_qs(landed.query) == {"tab": ["2"], "miro_result": [result]}
    # No other secret on the page: the callback's code and state stay out of it.
    callback_query = parse_qs(urlsplit(str(answer.request.url)).query)
    for secret in (callback_query["code"][0], callback_query["state"][0]):
        assert secret not in answer.text
    assert "mc_flow" not in harness.browser.cookies  # the binding cookie is spent

    async with harness.api() as api:
        # Held, as after a redirect: nothing is usable until the backend confirms.
        assert (await api.get(CONNECTION)).json()["status"] == "not_connected"
        confirmed = await api.post(CONFIRM, json={"result": result})
        assert confirmed.status_code == 201, confirmed.text
        board = confirmed.json()["board"]
        assert board["name"] == "Popup board"
        again = await api.post(CONFIRM, json={"result": result})
        assert again.status_code == 201
        assert again.json()["board"]["id"] == board["id"]
        listed = (await api.get(BOARDS)).json()["boards"]
    assert [b["id"] for b in listed] == [board["id"]]


async def test_a_popup_result_is_worth_no_more_than_the_redirect_one(
    harness: Harness,
) -> None:
    answer = await popup_ends(harness, await start(harness, name="Not yours"))
    result = PopupPage(answer.text).data["data-miro-result"]
    async with harness.api() as api:
        # Confirmed for someone else: refused, the grant revoked, the result spent.
        stolen = await api.post(
            "/api/v1/users/mallory/connection/confirm", json={"result": result}
        )
        assert stolen.status_code == 403
        assert stolen.json()["reason"] == "flow_user_mismatch"
        own = await api.post(CONFIRM, json={"result": result})
        assert own.status_code == 409
        assert own.json()["reason"] == "result_used"
        for user in (USER, "mallory"):
            connection = await api.get(f"/api/v1/users/{user}/connection")
            assert connection.json()["status"] == "not_connected"


async def test_a_refused_consent_posts_miro_error(harness: Harness) -> None:
    answer = await popup_ends(harness, await start(harness, name="No"), "cancel")
    page = PopupPage(answer.text)
    assert_strict_page(answer, page)
    assert page.data == {
        "data-origin": RETURN_ORIGIN,
        "data-miro-error": "access_denied",
    }


async def test_connecting_alone_can_end_in_a_popup(harness: Harness) -> None:
    answer = await popup_ends(harness, await start(harness, CONNECTION))
    result = PopupPage(answer.text).data["data-miro-result"]
    async with harness.api() as api:
        confirmed = await api.post(CONFIRM, json={"result": result})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["connection"]["status"] == "connected"


async def test_a_redirect_flow_still_redirects(harness: Harness) -> None:
    async with harness.api() as api:
        answer = await api.post(
            BOARDS,
            json={"name": "Tab", "return_url": RETURN_URL, "display": "redirect"},
        )
    launch = await harness.browser.get(answer.json()["authorize_url"])
    back = await harness.browser.get(await harness.consent(launch.headers["location"]))
    assert back.status_code == 303
    assert back.headers["location"].startswith(f"{RETURN_ORIGIN}/spa/boards?")
    assert back.headers["cross-origin-opener-policy"] == "same-origin"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"display": "popup", "return_url": "/relative/path"}, 403),
        ({"display": "window", "return_url": RETURN_URL}, 422),
        ({"display": "popup", "return_url": "https://evil.example/x"}, 403),
        ({"display": "popup", "return_url": "javascript:alert(1)"}, 403),
    ],
)
async def test_popup_bodies_are_checked(
    harness: Harness, body: dict[str, str], status: int
) -> None:
    async with harness.api() as api:
        for path, extra in ((BOARDS, {"name": "X"}), (CONNECTION, {})):
            answer = await api.post(path, json=body | extra)
            assert answer.status_code == status, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            if status == 403:
                assert answer.json()["reason"] == "return_url_rejected"


async def test_the_host_pages_script_is_served(harness: Harness) -> None:
    answer = await harness.browser.get("/static/miroconnect.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["x-content-type-options"] == "nosniff"
    script = answer.text
    assert "global.miroconnect = { connect: connect }" in script
    assert "event.origin !== serviceOrigin" in script
    assert "event.source !== popup" in script


def test_a_popup_flow_whose_return_url_is_a_path_is_redirected() -> None:
    # A path has no origin of the host page's (e.g. a connected user's request that
    # needed consent again, without a return URL): the redirect it always had.
    answer = back_to_app(None, None, "/connect/done", "popup", miro_result="r")  # type: ignore[arg-type]
    assert isinstance(answer, RedirectResponse)
    assert answer.headers["location"] == "/connect/done?miro_result=r"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://app.example/p?q=1#f", "https://app.example"),
        ("https://APP.example:443/p", "https://app.example"),
        ("https://app.example:8443/p", "https://app.example:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:3000/x", "http://[::1]:3000"),
        ("/relative", None),
        ("javascript:alert(1)", None),
        ("https://app.example:99999/", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin
