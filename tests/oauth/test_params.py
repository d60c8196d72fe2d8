"""Pure protocol logic: secrets, authorize URL, token bodies and answers, return URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from miroconnect.errors import ReturnURLRejectedError
from miroconnect.oauth.params import (
    authorization_code_form,
    build_authorize_url,
    check_return_url,
    hash_secret,
    new_secret,
    parse_token_info,
    parse_token_response,
    refresh_token_form,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ALLOWED = ("https://app.example.com", "http://localhost:8000")


def test_secrets_have_256_bits_and_are_hashed() -> None:
    values = {new_secret() for _ in range(100)}
    assert len(values) == 100
    assert all(len(v) == 43 for v in values)  # 32 bytes in base64url
    secret = next(iter(values))
    assert hash_secret(secret) == hash_secret(secret)
    assert secret not in hash_secret(secret) and len(hash_secret(secret)) == 64


def test_authorize_url() -> None:
    url = build_authorize_url(
        "https://miro.com/oauth/authorize",
        client_id="307",
        redirect_uri="https://app.example.com/cb",
        state="s t",
        team_id="99",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "miro.com",
        "/oauth/authorize",
    )
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["307"],
        "redirect_uri": ["https://app.example.com/cb"],
        "state": ["s t"],
        "team_id": ["99"],
    }
    no_team = build_authorize_url(
        "http://emu/oauth/authorize?x=1", client_id="1", redirect_uri="r", state="s"
    )
    assert "team_id" not in no_team and no_team.startswith(
        "http://emu/oauth/authorize?x=1&"
    )


def test_token_forms_carry_the_credentials() -> None:
    assert authorization_code_form(
        client_id="c", client_secret="s", code="x", redirect_uri="r"
    ) == {
        "grant_type": "authorization_code",
        "client_id": "c",
        "client_secret": "s",
        "code": "x",
        "redirect_uri": "r",
    }
    assert refresh_token_form(client_id="c", client_secret="s", refresh_token="t") == {
        "grant_type": "refresh_token",
        "client_id": "c",
        "client_secret": "s",
        "refresh_token": "t",
    }


def test_token_response_quirks() -> None:
    tokens = parse_token_response(
        {
            "access_token": "ACCESS-VALUE",
            "refresh_token": "REFRESH-VALUE",
            "expires_in": 3599,
            "team_id": 3074457358607431473,  # a JSON number in Miro's refresh answer
            "scope": "boards:write boards:read",
            "token_type": "bearer",
        },
        NOW,
    )
    assert tokens.team_id == "3074457358607431473"
    assert tokens.user_id is None
    assert tokens.expires_at == NOW + timedelta(seconds=3599)
    assert tokens.scopes == ("boards:write", "boards:read")
    assert "ACCESS-VALUE" not in repr(tokens) and "REFRESH-VALUE" not in repr(tokens)
    forever = parse_token_response({"access_token": "a", "user_id": "u"}, NOW)
    assert forever.refresh_token is None and forever.expires_at is None
    assert not forever.expires_within(timedelta(days=999), NOW)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {},
        {"access_token": ""},
        {"access_token": "a", "expires_in": "soon"},
        {"access_token": "a", "expires_in": True},
        {"access_token": "a", "refresh_token": 5},
        {"access_token": "a", "team_id": {"id": 1}},
    ],
)
def test_malformed_token_responses(payload: object) -> None:
    with pytest.raises(ValueError):
        parse_token_response(payload, NOW)


def test_token_info() -> None:
    identity = parse_token_info(
        {
            "type": "oAuthToken",
            "team": {"type": "team", "name": "T", "id": "3074"},
            "user": {"type": "user", "name": "U", "id": "9"},
            "createdBy": {"type": "user", "name": "U", "id": "9"},
            "scopes": ["boards:read"],
        }
    )
    assert (identity.user_id, identity.team_id, identity.team_name) == (
        "9",
        "3074",
        "T",
    )
    assert identity.scopes == ("boards:read",)
    for bad in ({}, {"user": {"id": "1"}, "team": {}}, "x"):
        with pytest.raises(ValueError):
            parse_token_info(bad)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/projects/42",
        "/projects/42?tab=boards#top",
        "https://app.example.com/projects/42",
        "https://APP.example.com:443/x",
        "http://localhost:8000/back",
    ],
)
def test_safe_return_urls(url: str) -> None:
    assert check_return_url(url, ALLOWED) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example",
        "https://evil.example/projects",
        "//evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        " /x",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://app.example.com@evil.example/",
        "https://user:pw@app.example.com/",
        "https://app.example.com.evil.example/",
        "http://app.example.com/",  # allowed origin is https only
        "https://app.example.com:8443/",
        "http://localhost:9000/",
        "relative/path",
        "",
        "/" + "a" * 3000,
        "https://[::1/",
    ],
)
def test_open_redirects_are_rejected(url: str) -> None:
    with pytest.raises(ReturnURLRejectedError) as caught:
        check_return_url(url, ALLOWED)
    assert caught.value.reason == "return_url_rejected"


def test_without_allow_list_only_paths_pass() -> None:
    assert check_return_url("/ok") == "/ok"
    with pytest.raises(ReturnURLRejectedError):
        check_return_url("https://app.example.com/")
