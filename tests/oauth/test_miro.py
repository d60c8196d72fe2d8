"""`MiroOAuthClient` on `httpx2.MockTransport`: what goes on the wire, how errors map."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx2
import pytest

from miroconnect.errors import (
    CodeRejectedError,
    ConfigurationError,
    ExchangeFailedError,
    MiroAPIError,
    MiroServerError,
    MiroTransportError,
    RateLimitedError,
)
from miroconnect.oauth.miro import (
    MiroOAuthClient,
    MiroOAuthConfig,
    RefreshRejectedError,
)
from support.oauth import make_settings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CONFIG = MiroOAuthConfig(
    client_id="307",
    client_secret="very-secret",
    redirect_uri="https://app.example.com/cb",
    api_url="https://api.miro.test",
)
TOKEN_ANSWER = {
    "user_id": "9",
    "team_id": "3074",
    "access_token": "at",
    "refresh_token": "rt",
    "expires_in": 3599,
    "scope": "boards:read",
    "token_type": "bearer",
}


class Recorder:
    """A fake Miro: answers with a fixed response and keeps every request."""

    def __init__(self, status: int = 200, body: object = TOKEN_ANSWER) -> None:
        self.status, self.body = status, body
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(self.status, json=self.body)


def client(handler: Recorder) -> MiroOAuthClient:
    return MiroOAuthClient(CONFIG, transport=httpx2.MockTransport(handler))


async def test_code_exchange_sends_credentials_in_the_form_body() -> None:
    miro = Recorder()
    tokens = await client(miro).exchange_code("the-code", now=NOW)
    assert (tokens.access_token, tokens.refresh_token, tokens.team_id) == (
        "at",
        "rt",
        "3074",
    )
    (request,) = miro.requests
    assert request.method == "POST"
    assert (
        str(request.url) == "https://api.miro.test/v1/oauth/token"
    )  # nothing in the URL
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["authorization_code"],
        "client_id": ["307"],
        "client_secret": ["very-secret"],
        "code": ["the-code"],
        "redirect_uri": ["https://app.example.com/cb"],
    }


async def test_refresh_form() -> None:
    miro = Recorder()
    await client(miro).refresh("old-rt", now=NOW)
    body = parse_qs(miro.requests[0].content.decode())
    assert body["grant_type"] == ["refresh_token"]
    assert body["refresh_token"] == ["old-rt"]
    assert "redirect_uri" not in body
    assert "old-rt" not in str(miro.requests[0].url)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, CodeRejectedError),
        (400, CodeRejectedError),
        (500, ExchangeFailedError),
        (503, ExchangeFailedError),
        (429, ExchangeFailedError),
    ],
)
async def test_exchange_errors(status: int, error: type[Exception]) -> None:
    body = {"status": status, "code": "oauthError", "message": "x", "type": "error"}
    with pytest.raises(error) as caught:
        await client(Recorder(status, body)).exchange_code("the-code", now=NOW)
    assert "the-code" not in str(caught.value)


async def test_exchange_with_malformed_answer_or_network_down() -> None:
    with pytest.raises(ExchangeFailedError):
        await client(Recorder(200, {"nope": 1})).exchange_code("c", now=NOW)

    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    miro = MiroOAuthClient(CONFIG, transport=httpx2.MockTransport(down))
    with pytest.raises(ExchangeFailedError):
        await miro.exchange_code("c", now=NOW)
    with pytest.raises(MiroTransportError):
        await miro.refresh("rt", now=NOW)
    with pytest.raises(MiroTransportError):
        await miro.token_info("at")
    assert await miro.revoke("at") is False


async def test_refresh_error_mapping() -> None:
    with pytest.raises(RefreshRejectedError) as rejected:
        await client(Recorder(401, {"code": "oauthError"})).refresh("rt", now=NOW)
    assert (rejected.value.status_code, rejected.value.code) == (401, "oauthError")
    with pytest.raises(MiroAPIError) as failed:
        await client(Recorder(502, {"message": "bad gateway"})).refresh("rt", now=NOW)
    assert failed.value.status_code == 502
    # Retryable answers carry their leaf: the action runner must not fail an operation
    # for good because Miro's token endpoint was briefly down or rate limited.
    assert isinstance(failed.value, MiroServerError)
    with pytest.raises(RateLimitedError):
        await client(Recorder(429, {"code": "tooManyRequests"})).refresh("rt", now=NOW)
    with pytest.raises(MiroAPIError) as invalid:
        await client(Recorder(200, [])).refresh("rt", now=NOW)
    assert not isinstance(invalid.value, MiroServerError | RateLimitedError)


async def test_token_info_and_revoke_wire() -> None:
    info = Recorder(
        200, {"user": {"id": "9", "name": "U"}, "team": {"id": "3074", "name": "T"}}
    )
    identity = await client(info).token_info("at")
    assert (identity.user_id, identity.team_id) == ("9", "3074")
    assert info.requests[0].headers["authorization"] == "Bearer at"
    assert "at" not in info.requests[0].url.query.decode()
    with pytest.raises(MiroAPIError):
        await client(Recorder(401, {"code": "tokenNotProvided"})).token_info("at")

    revoke = Recorder(204, None)
    assert await client(revoke).revoke("at") is True
    request = revoke.requests[0]
    assert request.url.path == "/v2/oauth/revoke" and not request.url.query
    assert json.loads(request.content) == {
        "accessToken": "at",
        "clientId": "307",
        "clientSecret": "very-secret",
    }
    assert await client(Recorder(404, {"code": "notFound"})).revoke("at") is False


def test_config_from_settings_names_what_is_missing() -> None:
    config = MiroOAuthConfig.from_settings(make_settings("sqlite+aiosqlite://"))
    assert config.api_url == "https://miro.test"
    assert "client-secret" not in repr(config)
    empty = make_settings("sqlite+aiosqlite://").model_copy(
        update={"miro_client_id": "", "miro_redirect_uri": ""}
    )
    with pytest.raises(
        ConfigurationError, match="MIROCONNECT_MIRO_CLIENT_ID"
    ) as caught:
        MiroOAuthConfig.from_settings(empty)
    assert "MIROCONNECT_MIRO_REDIRECT_URI" in str(caught.value)
    assert "SECRET" not in str(caught.value)
