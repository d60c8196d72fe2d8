"""OAuth: authorize and consent, code exchange, rotation, revoke, errors (what it must show: 3)."""

from __future__ import annotations

import re

import httpx2
import pytest
from starlette.applications import Starlette

from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from support import FakeClock

from .conftest import (
    BASE_URL,
    CLIENT,
    REDIRECT_URI,
    Tokens,
    authorize,
    connect,
    query_of,
)

TOKEN_SHAPE = re.compile(r"^eyJtaXJvLm9yaWdpbiI6ImV1MDEifQ_[A-Za-z0-9-]{27}$")


def _authorize_params(**extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT.client_id,
        "redirect_uri": REDIRECT_URI,
        **extra,
    }


async def _stats(http: httpx2.AsyncClient) -> dict[str, object]:
    body: dict[str, object] = (await http.get("/_emulator/stats")).json()
    return body


def _exchange(code: str, **overrides: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "code": code,
        "redirect_uri": REDIRECT_URI,
        **overrides,
    }


def _refresh(refresh_token: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "refresh_token": refresh_token,
    }


def _assert_oauth_error(response: httpx2.Response, status: int, message: str) -> None:
    assert response.status_code == status
    assert response.json() == {
        "status": status,
        "code": "oauthError",
        "message": message,
        "type": "error",
    }


async def test_consent_page_shows_user_team_picker_and_buttons(
    http: httpx2.AsyncClient,
) -> None:
    shared_team = (await authorize(http, user="alice"))["team_id"]
    page = await http.get(
        "/oauth/authorize",
        params=_authorize_params(state="s", team_id=""),
        headers={"Cookie": "miro_emulator_user=alice"},
    )
    assert page.status_code == 200
    assert '<strong id="signed-in-user">alice</strong>' in page.text
    assert "alice&#x27;s team" in page.text
    assert "Install &amp; authorize" in page.text and ">Cancel<" in page.text
    assert 'name="name"' in page.text or "name=name" in page.text
    # team_id preselects the team in the picker
    other = await http.get(
        "/oauth/authorize",
        params=_authorize_params(team_id=shared_team),
        headers={"Cookie": "miro_emulator_user=alice"},
    )
    assert f'<option value="{shared_team}" selected>' in other.text


async def test_consent_page_names_the_app_as_registered(
    http: httpx2.AsyncClient,
) -> None:
    unnamed = await http.get("/oauth/authorize", params=_authorize_params())
    assert f"<strong>App {CLIENT.client_id}</strong> wants to access" in unnamed.text
    registered = await http.post(
        "/_emulator/clients",
        json={
            "client_id": "42",
            "client_secret": "other-secret",
            "redirect_uris": [REDIRECT_URI],
            "name": "Acme <CRM>",
        },
    )
    assert registered.status_code == 201 and registered.json()["name"] == "Acme <CRM>"
    page = await http.get("/oauth/authorize", params=_authorize_params(client_id="42"))
    assert "<strong>Acme &lt;CRM&gt;</strong> wants to access your Miro account" in (
        page.text
    )
    assert "Install the app in team <select name=team_id>" in page.text
    assert "Not you? Sign in as" in page.text
    too_long = await http.post(
        "/_emulator/clients",
        json={
            "client_id": "43",
            "client_secret": "s",
            "redirect_uris": [REDIRECT_URI],
            "name": "x" * 101,
        },
    )
    assert too_long.status_code == 400


async def test_the_emulator_has_an_icon(http: httpx2.AsyncClient) -> None:
    icon = await http.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")


async def test_approve_redirects_with_code_state_client_and_team(
    http: httpx2.AsyncClient,
) -> None:
    query = await authorize(http, state="xyz")
    assert set(query) == {"code", "state", "client_id", "team_id"}
    assert query["state"] == "xyz" and query["client_id"] == CLIENT.client_id
    assert TOKEN_SHAPE.match(query["code"])
    assert re.fullmatch(r"\d{19}", query["team_id"])


async def test_empty_state_is_treated_as_absent(http: httpx2.AsyncClient) -> None:
    response = await http.post(
        "/oauth/authorize",
        data={
            "client_id": CLIENT.client_id,
            "redirect_uri": REDIRECT_URI,
            "state": "",
            "team_id": (await authorize(http))["team_id"],
            "decision": "approve",
        },
    )
    assert "state" not in query_of(response.headers["location"])


async def test_cancel_redirects_with_access_denied_and_state(
    http: httpx2.AsyncClient,
) -> None:
    response = await http.post(
        "/oauth/authorize",
        data={
            "client_id": CLIENT.client_id,
            "redirect_uri": REDIRECT_URI,
            "state": "abc",
            "decision": "cancel",
        },
    )
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    assert query["error"] == "access_denied" and query["state"] == "abc"
    assert "code" not in query


@pytest.mark.parametrize(
    ("params", "title"),
    [
        ({"redirect_uri": REDIRECT_URI + "/"}, "Redirect URI mismatch"),
        ({"redirect_uri": "https://evil.example/cb"}, "Redirect URI mismatch"),
        ({"client_id": "999"}, "Unknown app"),
        ({"response_type": "token"}, "Unsupported response type"),
    ],
)
async def test_bad_authorize_requests_show_an_error_and_never_redirect(
    http: httpx2.AsyncClient, params: dict[str, str], title: str
) -> None:
    response = await http.get("/oauth/authorize", params=_authorize_params(**params))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert title in response.text


async def test_auto_approve_signs_in_the_default_user(clock: FakeClock) -> None:
    app = create_emulator(clock=clock, clients=[CLIENT], auto_approve=True)
    async with httpx2.AsyncClient(
        transport=emulator_transport(app), base_url=BASE_URL
    ) as http:
        response = await http.get("/oauth/authorize", params=_authorize_params())
        assert response.status_code == 302
        code = query_of(response.headers["location"])["code"]
        token = await http.post("/v1/oauth/token", data=_exchange(code))
        info = await http.get(
            "/v1/oauth-token",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    assert info.json()["user"]["name"] == "demo"
    assert info.json()["team"]["name"] == "demo's team"


async def test_sign_in_as_any_name_gives_a_stable_user(
    http: httpx2.AsyncClient,
) -> None:
    response = await http.post(
        "/oauth/signin",
        data={"name": "bob", "next": "/oauth/authorize?response_type=code"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/oauth/authorize?response_type=code"
    first = await connect(http, user="bob")
    second = await connect(http, user="bob")
    assert first.body["user_id"] == second.body["user_id"]
    assert re.fullmatch(r"\d{19}", first.body["user_id"])
    other = await connect(http, user="carol")
    assert other.body["user_id"] != first.body["user_id"]


async def test_sign_in_never_redirects_off_the_consent_page(
    http: httpx2.AsyncClient,
) -> None:
    response = await http.post(
        "/oauth/signin", data={"name": "bob", "next": "https://evil.example/"}
    )
    assert response.headers["location"] == "/"


async def test_token_response_has_miro_fields(http: httpx2.AsyncClient) -> None:
    tokens = await connect(http)
    body = tokens.body
    assert set(body) == {
        "access_token",
        "refresh_token",
        "expires_in",
        "scope",
        "team_id",
        "user_id",
        "token_type",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3599
    assert body["scope"] == "boards:read boards:write"
    assert isinstance(body["team_id"], str) and isinstance(body["user_id"], str)
    assert TOKEN_SHAPE.match(tokens.access) and TOKEN_SHAPE.match(tokens.refresh)
    assert (await _stats(http))["token_grants"] == {
        "authorization_code": 1,
        "refresh_token": 0,
    }


async def test_parameters_in_the_query_string_work_too(
    http: httpx2.AsyncClient,
) -> None:
    code = (await authorize(http))["code"]
    # What the official clients do: everything in the query, no body.
    response = await http.post("/v1/oauth/token", params=_exchange(code))
    assert response.status_code == 200


async def test_code_is_single_use(http: httpx2.AsyncClient) -> None:
    code = (await authorize(http))["code"]
    assert (await http.post("/v1/oauth/token", data=_exchange(code))).status_code == 200
    again = await http.post("/v1/oauth/token", data=_exchange(code))
    _assert_oauth_error(again, 401, "Invalid authorization code.")
    assert (await _stats(http))["token_errors"] == 1


async def test_code_expires_after_ten_minutes(
    http: httpx2.AsyncClient, clock: FakeClock
) -> None:
    code = (await authorize(http))["code"]
    clock.advance(600)
    response = await http.post("/v1/oauth/token", data=_exchange(code))
    _assert_oauth_error(response, 401, "Authorization code has expired.")


async def test_code_just_inside_ten_minutes_works(
    http: httpx2.AsyncClient, clock: FakeClock
) -> None:
    code = (await authorize(http))["code"]
    clock.advance(599)
    assert (await http.post("/v1/oauth/token", data=_exchange(code))).status_code == 200


async def test_redirect_uri_must_equal_the_authorize_one(
    http: httpx2.AsyncClient,
) -> None:
    code = (await authorize(http))["code"]
    response = await http.post(
        "/v1/oauth/token", data=_exchange(code, redirect_uri=REDIRECT_URI + "/")
    )
    _assert_oauth_error(response, 401, "Redirect URI mismatch.")


async def test_bad_client_secret_is_rejected(http: httpx2.AsyncClient) -> None:
    code = (await authorize(http))["code"]
    response = await http.post(
        "/v1/oauth/token", data=_exchange(code, client_secret="wrong")
    )
    _assert_oauth_error(response, 401, "Invalid client credentials.")
    # the failed attempt did not burn the code
    assert (await http.post("/v1/oauth/token", data=_exchange(code))).status_code == 200


async def test_missing_parameters_are_400_oauth_errors(
    http: httpx2.AsyncClient,
) -> None:
    response = await http.post(
        "/v1/oauth/token", data={"grant_type": "authorization_code"}
    )
    _assert_oauth_error(response, 400, "Missing required parameter: client_id.")
    response = await http.post(
        "/v1/oauth/token",
        data={"grant_type": "password", "client_id": "x", "client_secret": "y"},
    )
    assert response.json()["code"] == "oauthError"


async def test_code_for_another_app_is_rejected(http: httpx2.AsyncClient) -> None:
    other = EmulatorClient("42", "other-secret", (REDIRECT_URI,))
    await http.post(
        "/_emulator/clients",
        json={
            "client_id": "42",
            "client_secret": "other-secret",
            "redirect_uris": [REDIRECT_URI],
        },
    )
    code = (await authorize(http, client=other))["code"]
    response = await http.post("/v1/oauth/token", data=_exchange(code))
    _assert_oauth_error(response, 401, "Invalid authorization code.")


async def test_refresh_rotates_and_kills_the_old_pair_at_once(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    response = await http.post("/v1/oauth/token", data=_refresh(tokens.refresh))
    assert response.status_code == 200
    new = Tokens(response.json())
    assert new.access != tokens.access and new.refresh != tokens.refresh
    assert new.body["user_id"] == tokens.body["user_id"]
    assert new.body["team_id"] == tokens.body["team_id"]
    old_call = await http.get("/v2/boards", headers=tokens.headers)
    assert old_call.status_code == 401
    assert (await http.get("/v2/boards", headers=new.headers)).status_code == 200
    reused = await http.post("/v1/oauth/token", data=_refresh(tokens.refresh))
    _assert_oauth_error(reused, 401, "Invalid refresh token.")
    stats = await _stats(http)
    assert stats["token_grants"] == {"authorization_code": 1, "refresh_token": 1}
    assert stats["token_errors"] == 1
    # the new refresh token still works after the failed reuse
    assert (
        await http.post("/v1/oauth/token", data=_refresh(new.refresh))
    ).status_code == 200


async def test_access_token_expires_and_refresh_token_lives_sixty_days(
    http: httpx2.AsyncClient, tokens: Tokens, clock: FakeClock
) -> None:
    clock.advance(3599)
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 200
    clock.advance(1)
    expired = await http.get("/v2/boards", headers=tokens.headers)
    assert expired.status_code == 401
    assert expired.json()["message"] == "Access token has expired."
    clock.advance(60 * 86400)
    response = await http.post("/v1/oauth/token", data=_refresh(tokens.refresh))
    _assert_oauth_error(response, 401, "Refresh token has expired.")


async def test_clock_endpoint_moves_time_for_out_of_process_tests(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    response = await http.post("/_emulator/clock", json={"advance_seconds": 3600})
    assert response.json()["now"] == "2026-03-01T13:00:00.000Z"
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 401


async def test_non_expiring_app_gets_no_refresh_token(
    emulator: Starlette, http: httpx2.AsyncClient, clock: FakeClock
) -> None:
    await http.post(
        "/_emulator/clients",
        json={
            "client_id": "77",
            "client_secret": "s77",
            "redirect_uris": [REDIRECT_URI],
            "expiring": False,
        },
    )
    app = EmulatorClient("77", "s77", (REDIRECT_URI,), expiring=False)
    tokens = await connect(http, client=app)
    assert "refresh_token" not in tokens.body and "expires_in" not in tokens.body
    clock.advance(365 * 86400)
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 200
    refused = await http.post(
        "/v1/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "77",
            "client_secret": "s77",
            "refresh_token": tokens.access,
        },
    )
    assert refused.json()["code"] == "oauthError"


async def test_token_info_describes_user_team_and_scopes(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    response = await http.get("/v1/oauth-token", params={"access_token": tokens.access})
    body = response.json()
    assert body["user"]["id"] == tokens.body["user_id"]
    assert body["team"]["id"] == tokens.body["team_id"]
    assert body["scopes"] == ["boards:read", "boards:write"]
    bad = await http.get("/v1/oauth-token", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["type"] == "error"


async def test_revoke_v2_kills_access_and_refresh(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    body = {
        "accessToken": tokens.access,
        "clientId": CLIENT.client_id,
        "clientSecret": CLIENT.client_secret,
    }
    assert (await http.post("/v2/oauth/revoke", json=body)).status_code == 204
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 401
    refresh = await http.post("/v1/oauth/token", data=_refresh(tokens.refresh))
    _assert_oauth_error(refresh, 401, "Invalid refresh token.")
    again = await http.post("/v2/oauth/revoke", json=body)
    assert again.status_code == 404
    assert again.json() == {
        "status": 404,
        "code": "notFound",
        "message": "Failed to revoke token.",
        "type": "error",
    }


async def test_revoke_v2_needs_the_right_client(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    body = {
        "accessToken": tokens.access,
        "clientId": CLIENT.client_id,
        "clientSecret": "wrong",
    }
    assert (await http.post("/v2/oauth/revoke", json=body)).status_code == 404
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 200


async def test_revoke_v1_deprecated_still_works(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    response = await http.post(
        "/v1/oauth/revoke", params={"access_token": tokens.access}
    )
    assert response.status_code == 204
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 401
    again = await http.post("/v1/oauth/revoke", params={"access_token": tokens.access})
    assert again.status_code == 400 and again.json()["type"] == "error"


async def test_reset_forgets_tokens_but_keeps_constructor_clients(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    await http.post(
        "/_emulator/clients",
        json={"client_id": "9", "client_secret": "s", "redirect_uris": [REDIRECT_URI]},
    )
    assert (await http.post("/_emulator/reset", json={})).status_code == 204
    assert (await http.get("/v2/boards", headers=tokens.headers)).status_code == 401
    stats = await _stats(http)
    assert stats["token_grants"] == {"authorization_code": 0, "refresh_token": 0}
    kept = await http.get("/oauth/authorize", params=_authorize_params())
    assert kept.status_code == 200
    gone = await http.get("/oauth/authorize", params=_authorize_params(client_id="9"))
    assert gone.status_code == 400


async def test_client_registration_is_validated(http: httpx2.AsyncClient) -> None:
    response = await http.post(
        "/_emulator/clients",
        json={"client_id": "1", "client_secret": "s", "redirect_uris": []},
    )
    assert response.status_code == 400
    created = await http.post(
        "/_emulator/clients",
        json={
            "client_id": "1",
            "client_secret": "s",
            "redirect_uris": [REDIRECT_URI],
            "access_token_ttl": 60,
            "scopes": ["boards:read"],
        },
    )
    assert created.status_code == 201
    assert "client_secret" not in created.json()
    tokens = await connect(
        http,
        client=EmulatorClient("1", "s", (REDIRECT_URI,), scopes=("boards:read",)),
    )
    assert tokens.body["expires_in"] == 59
    assert tokens.body["scope"] == "boards:read"
