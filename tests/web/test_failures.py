"""When Miro fails or the connection dies: a clear page or problem, never a trace."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from .conftest import MIRO, RETURN_ORIGIN, Harness


async def connect_and_create(harness: Harness, name: str) -> str:
    fields = await harness.home_form()
    fields["name"] = name
    answer = await harness.browser.post("/connect/boards", data=fields)
    location = answer.headers["location"]
    if location.startswith(MIRO):
        back = await harness.browser.get(await harness.consent(location))
        location = back.headers["location"]
    return location


async def fail_next_board_creation(harness: Harness, status: int = 400) -> None:
    fault = {
        "action": "status",
        "status": status,
        "method": "POST",
        "path": "/v2/boards",
        "times": 1,
    }
    answer = await harness.browser.post(f"{MIRO}/_emulator/faults", json=fault)
    assert answer.status_code == 201


async def test_board_failing_after_consent_keeps_the_connection(
    harness: Harness,
) -> None:
    await harness.sign_up()
    await fail_next_board_creation(harness)
    location = await connect_and_create(harness, "Doomed")
    assert parse_qs(urlsplit(location).query) == {"miro_error": ["action_failed"]}
    home = await harness.browser.get(location)
    assert "The board could not be created" in home.text
    assert "Disconnect" in home.text  # the connection itself was stored
    assert "No boards yet." in home.text
    # The next click works at once.
    location = await connect_and_create(harness, "Fine")
    assert "miro_board_id" in location


async def test_miro_failing_for_a_connected_user(harness: Harness) -> None:
    await harness.sign_up()
    await connect_and_create(harness, "First")
    await fail_next_board_creation(harness)
    fields = await harness.home_form()
    fields["name"] = "Second"
    page = await harness.browser.post("/connect/boards", data=fields)
    assert page.status_code == 502
    assert 'data-reason="miro_error"' in page.text
    assert "Traceback" not in page.text


async def test_api_answers_502_problem_when_miro_fails(harness: Harness) -> None:
    user = "api-user"
    async with harness.api() as api:
        first = await api.post(
            f"/api/v1/users/{user}/boards",
            json={"name": "A", "return_url": f"{RETURN_ORIGIN}/done"},
        )
        await fail_next_board_creation(harness)
        launch = await harness.browser.get(first.json()["authorize_url"])
        back = await harness.browser.get(
            await harness.consent(launch.headers["location"])
        )
        landed = urlsplit(back.headers["location"])
        assert landed.netloc == "app.example"
        result = parse_qs(landed.query)["miro_result"][0]
        confirmed = await api.post(
            f"/api/v1/users/{user}/connection/confirm", json={"result": result}
        )
        # The connection is active; Miro refused the board: a problem, not a board.
        assert confirmed.status_code == 502
        assert confirmed.json()["reason"] == "miro_error"
        status = await api.get(f"/api/v1/users/{user}/connection")
        assert status.json()["status"] == "connected"

        await fail_next_board_creation(harness, status=400)
        failed = await api.post(f"/api/v1/users/{user}/boards", json={"name": "B"})
        assert failed.status_code == 502
        assert failed.headers["content-type"] == "application/problem+json"
        assert failed.json()["reason"] == "miro_error"
        ok = await api.post(f"/api/v1/users/{user}/boards", json={"name": "C"})
        assert ok.status_code == 201


async def test_needs_reauth_shows_reconnect_and_consent_revives_it(
    harness: Harness,
) -> None:
    await harness.sign_up()
    await connect_and_create(harness, "Alive")
    vault = harness.app.state.miroconnect.vault
    connection = await vault.connection_for("account:1")
    assert connection is not None
    await vault.mark_needs_reauth(connection.id, "app uninstalled")

    home = await harness.browser.get("/")
    assert "Miro no longer accepts this connection" in home.text
    # The reason code is for operators: an attribute, not the page's text.
    assert 'data-reason="app uninstalled"' in home.text
    assert "(app uninstalled)" not in home.text
    fields = await harness.home_form("/connect/reconnect")
    to_miro = await harness.browser.post("/connect/reconnect", data=fields)
    assert to_miro.headers["location"].startswith(f"{MIRO}/oauth/authorize?")
    back = await harness.browser.get(await harness.consent(to_miro.headers["location"]))
    assert back.headers["location"] == "/"
    home = await harness.browser.get("/")
    assert "no longer accepts this connection" not in home.text
    assert "Disconnect" in home.text
    async with harness.api() as api:
        status = (await api.get("/api/v1/users/account:1/connection")).json()
    assert status["status"] == "connected"


async def test_an_expired_token_is_refreshed_without_the_user(harness: Harness) -> None:
    await harness.sign_up()
    await connect_and_create(harness, "Monday")
    harness.clock.advance(2 * 3600)  # the access token lived one hour
    location = await connect_and_create(harness, "Wednesday")
    assert "miro_board_id" in location  # no Miro page: refreshed in the background
    metrics = (await harness.browser.get("/metrics")).text
    assert 'miroconnect_token_refreshes_total{status="200"} 1.0' in metrics


async def test_after_miro_forgot_the_grant_one_click_reconnects_and_creates(
    harness: Harness,
) -> None:
    # What a restarted demo looks like: the emulator forgot every token it issued.
    await harness.sign_up()
    await connect_and_create(harness, "Before")
    assert (
        await harness.browser.post(f"{MIRO}/_emulator/reset", json={})
    ).status_code < 300
    fields = await harness.home_form()
    fields["name"] = "After"
    answer = await harness.browser.post("/connect/boards", data=fields)
    assert answer.headers["location"].startswith(f"{MIRO}/oauth/authorize?")
    back = await harness.browser.get(await harness.consent(answer.headers["location"]))
    assert "miro_board_id" in back.headers["location"], back.headers["location"]
    home = await harness.browser.get("/")
    assert home.text.count('title="Preview After"') == 1
