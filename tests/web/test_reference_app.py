"""The reference app's home page says what the server did, once: banners from one-time
messages (never from the URL), the current grant's time, inline form errors, a preview of
any board, and pages a newcomer can read (the password minimum, the Back button)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import httpx2

from .conftest import APP, MIRO, Browser, Harness, form_fields
from .test_connect_flow import create_board

BANNERS = ("Board created on Miro.", "Miro is disconnected.", "could not be created")


async def connect_with_a_board(harness: Harness, name: str) -> str:
    """Sign up, create `name` through consent; returns the board id."""
    await harness.sign_up()
    back = await harness.browser.get(
        await harness.consent(await create_board(harness, name))
    )
    return parse_qs(urlsplit(back.headers["location"]).query)["miro_board_id"][0]


def since(html: str) -> str:
    found = re.search(r"<dt>Since</dt><dd>([^<]*)</dd>", html)
    assert found, html
    return found.group(1)


async def test_a_url_alone_shows_no_banner(harness: Harness) -> None:
    await connect_with_a_board(harness, "Real")  # lands once, showing its banner
    await harness.browser.get("/")
    for query in (
        "miro_board_id=anything",
        "miro_error=action_failed",
        "miro_error=access_denied",
        "disconnected=1",
    ):
        page = await harness.browser.get(f"/?{query}")
        assert page.status_code == 200
        assert not any(banner in page.text for banner in BANNERS), query
        assert 'role="alert"' not in page.text


async def test_the_banner_shows_once_after_the_board_is_made(harness: Harness) -> None:
    await harness.sign_up()
    location = await create_board(harness, "Sprint 12")
    back = await harness.browser.get(await harness.consent(location))
    assert "mc_flash" in back.headers["set-cookie"]
    landing = await harness.browser.get(back.headers["location"])
    assert "Board created on Miro." in landing.text
    reload = await harness.browser.get(back.headers["location"])
    assert "Board created on Miro." not in reload.text

    fields = await harness.home_form("/connect/disconnect")
    gone = await harness.browser.post("/connect/disconnect", data=fields)
    assert "Miro is disconnected." in (await harness.browser.get("/")).text
    assert "Miro is disconnected." not in (await harness.browser.get("/")).text
    assert gone.headers["location"] == "/?disconnected=1"  # for host apps


async def test_a_message_is_for_the_session_it_was_set_in(harness: Harness) -> None:
    await harness.sign_up("ada")
    location = await create_board(harness, "Mine")
    back = await harness.browser.get(await harness.consent(location))
    flash = harness.browser.cookies["mc_flash"]
    other = httpx2.AsyncClient(
        transport=Browser(harness.app, harness.emulator), base_url=APP
    )
    async with other:
        page = await other.get("/signup")
        fields = form_fields(page.text, "/signup")
        fields.update(username="grace", password="hopper-1906-x")
        await other.post("/signup", data=fields)
        other.cookies.set("mc_flash", flash, domain="testserver.local")
        theirs = await other.get(back.headers["location"])
        assert "Board created on Miro." not in theirs.text
    harness.browser.cookies.set(
        "mc_flash", "forged." + flash, domain="testserver.local"
    )
    assert "Board created on Miro." not in (await harness.browser.get("/")).text


async def test_since_is_the_time_of_the_current_grant(harness: Harness) -> None:
    await connect_with_a_board(harness, "First")
    first = since((await harness.browser.get("/")).text)
    fields = await harness.home_form("/connect/disconnect")
    await harness.browser.post("/connect/disconnect", data=fields)
    harness.clock.advance(timedelta(days=2).total_seconds())
    await harness.browser.get(
        await harness.consent(await create_board(harness, "Second"))
    )
    again = since((await harness.browser.get("/")).text)
    assert again != first
    assert again == (harness.clock()).strftime("%Y-%m-%d %H:%M UTC")


async def test_the_disconnected_card_speaks_to_a_user_with_boards(
    harness: Harness,
) -> None:
    await harness.sign_up()
    fresh = await harness.browser.get("/")
    assert "Your first board will ask for Miro's approval once." in fresh.text
    await harness.browser.get(await harness.consent(await create_board(harness, "One")))
    fields = await harness.home_form("/connect/disconnect")
    await harness.browser.post("/connect/disconnect", data=fields)
    later = await harness.browser.get("/")
    assert "Not connected. Your next board will ask" in later.text
    assert "first board" not in later.text


async def test_an_invalid_name_is_said_next_to_the_form(harness: Harness) -> None:
    await harness.sign_up()
    fields = await harness.home_form()
    answer = await harness.browser.post(
        "/connect/boards", data=fields | {"name": "    "}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    home = await harness.browser.get("/")
    assert home.status_code == 200
    assert 'id="name-problem"' in home.text and "1 to 60 characters" in home.text
    assert 'aria-invalid="true"' in home.text
    assert 'data-reason="invalid_board_name"' not in home.text  # not an error page
    assert 'id="name-problem"' not in (await harness.browser.get("/")).text


async def test_any_board_in_the_list_can_be_previewed(harness: Harness) -> None:
    first = await connect_with_a_board(harness, "Older")
    second_location = await create_board(harness, "Newer")
    second = parse_qs(urlsplit(second_location).query)["miro_board_id"][0]
    home = await harness.browser.get("/")
    assert f'src="{MIRO}/app/live-embed/{second}/"' in home.text  # the newest
    link = f"/?board={quote(first, safe='')}#preview"
    assert f'href="{link}"' in home.text
    older = await harness.browser.get(link.split("#")[0])
    assert f'src="{MIRO}/app/live-embed/{first}/"' in older.text
    assert "<h2>Older</h2>" in older.text
    assert re.search(f'href="{re.escape(link)}"[^>]*aria-current', older.text)
    unknown = await harness.browser.get("/?board=not-yours")
    assert f'src="{MIRO}/app/live-embed/{second}/"' in unknown.text


async def test_the_create_button_says_what_it_is_doing(harness: Harness) -> None:
    await harness.sign_up()
    first = await harness.browser.get("/")
    assert 'data-busy="Connecting to Miro…">Create board on Miro' in first.text
    await harness.browser.get(await harness.consent(await create_board(harness, "A")))
    later = await harness.browser.get("/")
    assert 'data-busy="Creating board…">Create board on Miro' in later.text
    script = await harness.browser.get("/static/app.js")
    assert script.status_code == 200 and "data-busy" in script.text


async def test_the_back_button_to_miros_page_is_explained(harness: Harness) -> None:
    await harness.sign_up()
    location = await create_board(harness, "Once")
    consent = await harness.browser.get(location)
    fields = form_fields(consent.text, "/oauth/authorize") | {"decision": "approve"}
    approve = await harness.browser.post(f"{MIRO}/oauth/authorize", data=fields)
    await harness.browser.get(approve.headers["location"])  # landed in the app
    # Back, to Miro's page; "Install & authorize" again.
    again = await harness.browser.post(f"{MIRO}/oauth/authorize", data=fields)
    page = await harness.browser.get(again.headers["location"])
    assert 'data-reason="state_replayed"' in page.text
    assert "Back button" in page.text and "nothing was done twice" in page.text


async def test_signup_says_the_password_minimum(harness: Harness) -> None:
    page = await harness.browser.get("/signup")
    assert "at least 10 characters" in page.text
    assert 'minlength="10"' in page.text


async def test_the_app_and_the_emulator_have_an_icon(harness: Harness) -> None:
    for url in ("/favicon.ico", f"{MIRO}/favicon.ico", "/static/favicon.svg"):
        icon = await harness.browser.get(url)
        assert icon.status_code == 200, url
        assert icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg")
    page = await harness.browser.get("/signin")
    assert 'rel="icon" href="/static/favicon.svg"' in page.text
