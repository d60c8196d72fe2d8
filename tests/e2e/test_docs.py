"""`/docs` works offline: Swagger UI comes from the installed package, not a CDN."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .conftest import Demo, needs_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

pytestmark = needs_chromium

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def test_docs_render_the_operations_with_every_outside_request_blocked(
    demo: Demo, chromium: Browser
) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context()
    blocked: list[str] = []
    problems: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{demo.app_url}/docs")
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    paths = set(operations.all_inner_texts())
    assert {
        "/api/v1/users/{user_id}/boards",
        "/api/v1/users/{user_id}/connection",
        "/api/v1/users/{user_id}/connection/confirm",
    } <= {path.replace("\u200b", "") for path in paths}
    # Open one operation: its parameters, schemas and examples render too.
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    expect(page.get_by_role("button", name="Try it out")).to_be_visible()
    page.locator(".models").scroll_into_view_if_needed()
    assert blocked == []
    assert problems == []  # nothing refused by the page's policy, no script error
