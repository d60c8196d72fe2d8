"""The reference app as a person sees it in Chromium: on a 390 px phone a long board name
wraps instead of widening the page, the button says what it is doing while the flow runs,
and any board in the list can be previewed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .conftest import Demo, needs_chromium
from .stack import ARTIFACTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

pytestmark = needs_chromium

PHONE: ViewportSize = {"width": 390, "height": 844}
LONG_NAME = "W" * 60  # Miro's longest name, with no space to break at


def sign_in(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/signin")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{app_url}/")


def create(
    page: Page, app_url: str, miro_url: str, name: str, *, consent: bool
) -> None:
    page.get_by_label("Board name").fill(name)
    page.get_by_role("button", name="Create board on Miro").click()
    if consent:
        page.wait_for_url(f"{miro_url}/oauth/authorize?**")
        page.get_by_role("button", name="Install & authorize").click()
    page.wait_for_url(f"{app_url}/?miro_board_id=*")


def test_a_long_board_name_does_not_widen_a_phone(
    demo: Demo, chromium: Browser
) -> None:
    from playwright.sync_api import expect

    page = chromium.new_context(viewport=PHONE).new_page()
    page.set_default_timeout(15_000)
    sign_in(page, demo.app_url)
    create(page, demo.app_url, demo.miro_url, LONG_NAME, consent=True)
    expect(page.locator("#boards li")).to_have_count(1)
    expect(page.locator("#preview h2")).to_have_text(LONG_NAME)
    page.screenshot(path=str(ARTIFACTS / "phone-long-name.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a 390 px phone"


def test_busy_button_and_preview_of_any_board(demo: Demo, chromium: Browser) -> None:
    from playwright.sync_api import expect

    page = chromium.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, demo.app_url)
    create(page, demo.app_url, demo.miro_url, "Older", consent=True)

    # Pressing the button: disabled at once, saying what happens (connected: no Miro page).
    page.get_by_label("Board name").fill("Newer")
    button = page.get_by_role("button", name="Create board on Miro")
    state = page.evaluate(
        """() => {
            const form = document.querySelector('form[action="/connect/boards"]');
            const button = form.querySelector('button[type="submit"]');
            form.requestSubmit(button);
            return [button.disabled, button.textContent];
        }"""
    )
    assert state == [True, "Creating board…"]
    page.wait_for_url(f"{demo.app_url}/?miro_board_id=*")
    expect(button).to_be_enabled()
    embed = page.frame_locator("iframe.embed")
    expect(embed.get_by_role("heading", name="Newer")).to_be_visible()

    # Any board of the list: a click previews it.
    page.locator("#boards").get_by_role("link", name="Older").click()
    page.wait_for_url("**/?board=*#preview")
    expect(page.locator("#preview h2")).to_have_text("Older")
    expect(embed.get_by_role("heading", name="Older")).to_be_visible()
    expect(page.get_by_text("Board created on Miro.")).to_have_count(0)
