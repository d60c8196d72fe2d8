"""The service API as an app in another language uses it: standard-library HTTP only
(`urllib`, a cookie jar for the user's browser), against `miroconnect demo` over sockets."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .conftest import Demo


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # hand 3xx answers back to the caller


def call(
    opener: urllib.request.OpenerDirector,
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(  # noqa: S310 - http on loopback, by design
        url, data=body, method=method, headers=headers or {}
    )
    try:
        with opener.open(request, timeout=15) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as answer:
        return answer.code, dict(answer.headers), answer.read().decode()


def test_202_consent_return_url_confirm_then_201(demo: Demo) -> None:
    key = json.loads((demo.data / "demo-secrets.json").read_text())["api_key"]
    backend = urllib.request.build_opener(NoRedirect)
    api = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    boards = f"{demo.app_url}/api/v1/users/customer-17/boards"
    body = json.dumps(
        {"name": "Kickoff", "return_url": f"{demo.app_url}/?from=crm"}
    ).encode()

    status, _, text = call(backend, "POST", boards, body=body, headers=api)
    assert status == 202, text
    authorize_url = json.loads(text)["authorize_url"]

    # The user's browser: follows the link, approves on (emulated) Miro, comes back.
    browser = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    status, headers, _ = call(browser, "GET", authorize_url)
    assert status == 303
    consent_url = headers["location"]
    assert consent_url.startswith(f"{demo.miro_url}/oauth/authorize?")
    status, _, page = call(browser, "GET", consent_url)
    assert status == 200 and "Install &amp; authorize" in page
    form = dict(re.findall(r'name=(\w+) value="([^"]*)"', page))
    form["team_id"] = re.findall(r'<option value="([^"]+)" selected', page)[0]
    form["decision"] = "approve"
    status, headers, _ = call(
        browser,
        "POST",
        f"{demo.miro_url}/oauth/authorize",
        body=urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status in (302, 303)
    status, headers, _ = call(browser, "GET", headers["location"])
    assert status == 303
    landed = urlsplit(headers["location"])
    assert f"{landed.scheme}://{landed.netloc}" == demo.app_url
    query = parse_qs(landed.query)
    assert query["from"] == ["crm"]
    result = query["miro_result"][0]

    # The app's backend, which knows its signed-in user, confirms: the board is made.
    confirm = f"{demo.app_url}/api/v1/users/customer-17/connection/confirm"
    body = json.dumps({"result": result}).encode()
    status, _, text = call(backend, "POST", confirm, body=body, headers=api)
    assert status == 201, text
    board_id = json.loads(text)["board"]["id"]

    status, _, text = call(backend, "GET", boards, headers=api)
    assert status == 200
    assert [b["id"] for b in json.loads(text)["boards"]] == [board_id]

    body = json.dumps({"name": "Weekly"}).encode()
    status, _, text = call(backend, "POST", boards, body=body, headers=api)
    assert status == 201, text
    board = json.loads(text)["board"]
    assert board["name"] == "Weekly"
    assert board["view_link"].startswith(f"{demo.miro_url}/app/board/")

    status, headers, text = call(backend, "GET", boards, headers={})
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
