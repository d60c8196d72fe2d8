"""The one-click experience in a real browser: Chromium (Debian's) driven by playwright
against `miroconnect demo` (the reference app + the Miro emulator) in a subprocess.

Screenshots go to `artifacts/`; `docs/screenshot.png` and `docs/consent.png` in the README
are `4-second-board.png` and `2-consent.png` of this test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .conftest import Demo, needs_chromium
from .stack import ARTIFACTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = needs_chromium


def test_one_click_boards_in_chromium(demo: Demo, chromium: Browser) -> None:
    from playwright.sync_api import expect

    app_url, miro_url = demo
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(15_000)
    consent_visits: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: (
            consent_visits.append(frame.url)
            if frame.url.startswith(f"{miro_url}/oauth/authorize")
            else None
        ),
    )

    page.goto(f"{app_url}/signin")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Not connected.")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "1-signed-in.png"))

    # First click: Miro's consent page, once.
    page.get_by_label("Board name").fill("Sprint 12")
    page.get_by_role("button", name="Create board on Miro").click()
    page.wait_for_url(f"{miro_url}/oauth/authorize?**")
    expect(page.get_by_text("miroconnect demo wants to access")).to_be_visible()
    card = page.locator("main").bounding_box()
    assert card is not None
    page.screenshot(
        path=str(ARTIFACTS / "2-consent.png"),
        clip={
            "x": card["x"] - 24,
            "y": card["y"] - 24,
            "width": card["width"] + 48,
            "height": card["height"] + 48,
        },
    )
    page.get_by_role("button", name="Install & authorize").click()
    page.wait_for_url(f"{app_url}/?miro_board_id=*")
    expect(page.get_by_text("Board created on Miro.")).to_be_visible()
    boards = page.locator("#boards li")
    expect(boards).to_have_count(1)
    expect(boards.first).to_contain_text("Sprint 12")
    expect(boards.first.get_by_role("link", name="Open in Miro")).to_be_visible()
    embed = page.frame_locator("iframe.embed")
    expect(embed.get_by_role("heading", name="Sprint 12")).to_be_visible()
    assert len(consent_visits) == 1
    page.screenshot(path=str(ARTIFACTS / "3-first-board.png"), full_page=True)

    # Second click: the board at once, no Miro page.
    page.get_by_label("Board name").fill("Sprint 13")
    page.get_by_role("button", name="Create board on Miro").click()
    page.wait_for_url(f"{app_url}/?miro_board_id=*")
    expect(boards).to_have_count(2)
    expect(boards.first).to_contain_text("Sprint 13")
    expect(embed.get_by_role("heading", name="Sprint 13")).to_be_visible()
    assert len(consent_visits) == 1
    page.screenshot(path=str(ARTIFACTS / "4-second-board.png"), full_page=True)

    # Disconnect: the next click goes through consent again.
    page.get_by_role("button", name="Disconnect").click()
    expect(page.get_by_text("Miro is disconnected.")).to_be_visible()
    expect(page.get_by_text("Not connected.")).to_be_visible()
    page.get_by_label("Board name").fill("Sprint 14")
    page.get_by_role("button", name="Create board on Miro").click()
    page.wait_for_url(f"{miro_url}/oauth/authorize?**")
    assert len(consent_visits) == 2
    page.get_by_role("button", name="Install & authorize").click()
    page.wait_for_url(f"{app_url}/?miro_board_id=*")
    expect(boards).to_have_count(3)
    expect(boards.first).to_contain_text("Sprint 14")

    # The same pages on a phone.
    phone = chromium.new_context(
        viewport={"width": 390, "height": 844},
        storage_state=page.context.storage_state(),
    ).new_page()
    phone.goto(f"{app_url}/")
    expect(phone.get_by_role("button", name="Create board on Miro")).to_be_visible()
    phone.screenshot(path=str(ARTIFACTS / "5-phone.png"), full_page=True)
