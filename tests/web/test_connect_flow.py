"""The reference app's one-click flow, in process: app + emulator + database."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from .conftest import APP, MIRO, Harness


async def create_board(harness: Harness, name: str) -> str:
    fields = await harness.home_form()
    fields["name"] = name
    answer = await harness.browser.post("/connect/boards", data=fields)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def test_first_click_consents_once_then_boards_are_created_at_once(
    harness: Harness,
) -> None:
    await harness.sign_up()
    home = await harness.browser.get("/")
    assert "Not connected" in home.text

    location = await create_board(harness, "Sprint 12")
    assert location.startswith(f"{MIRO}/oauth/authorize?")
    assert "mc_flow" in harness.browser.cookies

    callback = await harness.consent(location)
    assert callback.startswith(f"{APP}/connect/callback?")
    back = await harness.browser.get(callback)
    assert back.status_code == 303
    assert back.headers["referrer-policy"] == "no-referrer"
    target = urlsplit(back.headers["location"])
    assert target.path == "/"
    board_id = parse_qs(target.query)["miro_board_id"][0]

    home = await harness.browser.get(back.headers["location"])
    assert "Board created on Miro." in home.text
    assert "Sprint 12" in home.text
    assert "Open in Miro" in home.text
    assert f'src="{MIRO}/app/live-embed/{board_id}/"' in home.text
    assert f'href="{MIRO}/app/board/{board_id}/"' in home.text

    # The second click: no Miro page at all.
    location = await create_board(harness, "Sprint 13")
    target = urlsplit(location)
    assert target.netloc == "" and target.path == "/"
    second_id = parse_qs(target.query)["miro_board_id"][0]
    assert second_id != board_id
    home = await harness.browser.get(location)
    assert home.text.index("Sprint 13") < home.text.index("Sprint 12")
    assert f"/app/live-embed/{second_id}/" in home.text


async def test_double_submit_of_one_form_makes_one_board(harness: Harness) -> None:
    await harness.sign_up()
    location = await create_board(harness, "Once")
    back = await harness.browser.get(await harness.consent(location))
    assert back.status_code == 303

    fields = await harness.home_form()
    fields["name"] = "Clicked twice"
    first = await harness.browser.post("/connect/boards", data=fields)
    again = await harness.browser.post("/connect/boards", data=fields)
    assert first.headers["location"] == again.headers["location"]
    home = await harness.browser.get("/")
    assert home.text.count('title="Preview Clicked twice"') == 1


async def test_disconnect_revokes_and_the_next_click_consents_again(
    harness: Harness,
) -> None:
    await harness.sign_up()
    location = await create_board(harness, "Before")
    await harness.browser.get(await harness.consent(location))
    home = await harness.browser.get("/")
    assert "Disconnect" in home.text

    fields = await harness.home_form("/connect/disconnect")
    answer = await harness.browser.post("/connect/disconnect", data=fields)
    assert answer.status_code == 303
    home = await harness.browser.get(answer.headers["location"])
    assert "Miro is disconnected" in home.text
    assert "Not connected" in home.text
    async with harness.api() as api:
        status = await api.get("/api/v1/users/account:1/connection")
    assert status.json()["status"] == "not_connected"

    location = await create_board(harness, "After")
    assert location.startswith(f"{MIRO}/oauth/authorize?")


async def test_cancel_at_miro_shows_what_happened(harness: Harness) -> None:
    await harness.sign_up()
    location = await create_board(harness, "Never")
    callback = await harness.consent(location, decision="cancel")
    page = await harness.browser.get(callback)
    assert page.status_code == 400
    assert "You cancelled on Miro" in page.text
    assert 'data-reason="access_denied"' in page.text
    assert "Traceback" not in page.text


async def test_callback_in_another_browser_is_refused(harness: Harness) -> None:
    await harness.sign_up()
    location = await create_board(harness, "Stolen")
    callback = await harness.consent(location)
    harness.browser.cookies.delete("mc_flow")
    page = await harness.browser.get(callback)
    assert page.status_code == 400
    assert 'data-reason="browser_mismatch"' in page.text


async def test_refreshing_the_callback_does_not_run_twice(harness: Harness) -> None:
    await harness.sign_up()
    location = await create_board(harness, "Only once")
    callback = await harness.consent(location)
    first = await harness.browser.get(callback)
    assert first.status_code == 303
    again = await harness.browser.get(callback)
    assert again.status_code == 400
    assert 'data-reason="state_replayed"' in again.text or (
        'data-reason="browser_mismatch"' in again.text
    )
    home = await harness.browser.get("/")
    assert home.text.count('title="Preview Only once"') == 1


async def test_state_older_than_ten_minutes_is_refused(harness: Harness) -> None:
    await harness.sign_up()
    location = await create_board(harness, "Late")
    callback = await harness.consent(location)
    harness.clock.advance(11 * 60)
    page = await harness.browser.get(callback)
    assert 'data-reason="state_expired"' in page.text
    assert "took too long" in page.text


async def test_pages_need_sign_in(harness: Harness) -> None:
    landing = await harness.browser.get("/")
    assert "Sign in" in landing.text and "New board" not in landing.text
    token = await harness.csrf_token()
    answer = await harness.browser.post(
        "/connect/boards", data={"csrf_token": token, "name": "x"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin"


async def test_sign_in_and_out(harness: Harness) -> None:
    await harness.sign_up("grace", "hopper-1906")
    fields = await harness.home_form("/signout")
    await harness.browser.post("/signout", data=fields)
    assert "New board" not in (await harness.browser.get("/")).text

    token = await harness.csrf_token()
    wrong = await harness.browser.post(
        "/signin", data={"csrf_token": token, "username": "grace", "password": "x"}
    )
    assert wrong.status_code == 401
    assert "Wrong username or password." in wrong.text
    right = await harness.browser.post(
        "/signin",
        data={"csrf_token": token, "username": "grace", "password": "hopper-1906"},
    )
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert re.search(r"mc_session=[^;]+;", cookie)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "New board" in (await harness.browser.get("/")).text


async def test_signup_refuses_a_taken_name(harness: Harness) -> None:
    await harness.sign_up("linus", "torvalds-1969")
    await harness.browser.post("/signout", data=await harness.home_form("/signout"))
    page = await harness.browser.get("/signup")
    from .conftest import form_fields

    fields = form_fields(page.text, "/signup")
    fields.update(username="linus", password="another-password")
    answer = await harness.browser.post("/signup", data=fields)
    assert answer.status_code == 422
    assert "That username is taken." in answer.text


async def test_callback_in_another_accounts_session_is_refused(
    harness: Harness,
) -> None:
    await harness.sign_up("alice", "wonderland-1865")
    location = await create_board(harness, "Alice's")
    callback = await harness.consent(location)
    # Bob signs in on the same browser: the binding cookie is still there.
    await harness.browser.post("/signout", data=await harness.home_form("/signout"))
    await harness.sign_up("bob", "builder-1999")
    assert "mc_flow" in harness.browser.cookies

    page = await harness.browser.get(callback)
    assert page.status_code == 400
    assert 'data-reason="user_mismatch"' in page.text
    assert "Started by another account" in page.text
    vault = harness.app.state.miroconnect.vault
    assert await vault.connection_for("account:1") is None
    assert await vault.connection_for("account:2") is None
    home = await harness.browser.get("/")
    assert "Not connected" in home.text and "Alice&#39;s" not in home.text


async def test_a_signed_out_callback_completes_for_the_browser_that_started(
    harness: Harness,
) -> None:
    await harness.sign_up()
    location = await create_board(harness, "While signed out")
    callback = await harness.consent(location)
    await harness.browser.post("/signout", data=await harness.home_form("/signout"))

    back = await harness.browser.get(callback)
    assert back.status_code == 303
    assert parse_qs(urlsplit(back.headers["location"]).query)["miro_board_id"]
    vault = harness.app.state.miroconnect.vault
    assert await vault.connection_for("account:1") is not None
