"""Miro's OAuth 2.0 endpoints: authorize + consent, token, token context, revoke.

`/oauth/authorize` emulates miro.com; the rest emulate api.miro.com. Token-endpoint
errors use Miro's envelope with `code: "oauthError"`, never RFC 6749 `{"error": ...}`.
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from miroconnect.emulator.api import rate_headers, state_of, token_from
from miroconnect.emulator.pages import consent_page, error_page
from miroconnect.emulator.state import (
    ORGANIZATION_ID,
    AccessToken,
    EmulatorClient,
    EmulatorState,
    OAuthFailure,
    User,
)
from miroconnect.emulator.wire import error_body, json_response

__all__ = ["SIGN_IN_COOKIE", "routes"]

SIGN_IN_COOKIE = "miro_emulator_user"
_NO_STORE = {"Cache-Control": "no-store"}


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = urlencode(
        [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    )
    return urlunsplit(parts._replace(query=query))


def _signed_in(request: Request, state: EmulatorState) -> User:
    name = request.cookies.get(SIGN_IN_COOKIE, "").strip()
    return User.named(name if 0 < len(name) <= 60 else state.default_user)


def _bad_request(title: str, message: str) -> Response:
    return HTMLResponse(error_page(title, message), status_code=400)


def _check_client(
    state: EmulatorState, client_id: str, redirect_uri: str
) -> EmulatorClient | Response:
    """The app, or an error page: with a bad client or URI there is nowhere safe to
    send the browser (RFC 6749 §3.1.2.4), so nothing redirects."""
    client = state.clients.get(client_id)
    if client is None:
        return _bad_request("Unknown app", "No app is registered with this client_id.")
    if redirect_uri not in client.redirect_uris:
        return _bad_request(
            "Redirect URI mismatch",
            "redirect_uri does not exactly match a URI registered for this app.",
        )
    return client


def _approve(
    state: EmulatorState,
    client: EmulatorClient,
    redirect_uri: str,
    user: User,
    team_id: str | None,
    app_state: str | None,
) -> Response:
    team = user.team(team_id) or user.teams[0]
    code = state.issue_code(client, redirect_uri, user, team)
    params = {"code": code}
    if app_state is not None:
        params["state"] = app_state
    params.update(client_id=client.client_id, team_id=team.id)
    return RedirectResponse(_with_query(redirect_uri, params), status_code=302)


async def authorize(request: Request) -> Response:
    """GET: validate, then show the consent page (or approve at once with auto-approve)."""
    state = state_of(request)
    q = request.query_params
    checked = _check_client(state, q.get("client_id", ""), q.get("redirect_uri", ""))
    if isinstance(checked, Response):
        return checked
    if q.get("response_type") != "code":
        return _bad_request("Unsupported response type", "response_type must be code.")
    # The Node client sends state= and team_id= even when empty: absent, then.
    app_state = q.get("state") or None
    team_id = q.get("team_id") or None
    user = _signed_in(request, state)
    redirect_uri = q["redirect_uri"]
    if state.auto_approve:
        return _approve(state, checked, redirect_uri, user, team_id, app_state)
    page = consent_page(
        client=checked,
        user=user,
        redirect_uri=redirect_uri,
        state=app_state,
        team=user.team(team_id) or user.teams[0],
        sign_in_next=f"/oauth/authorize?{request.url.query}",
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


async def decide(request: Request) -> Response:
    """POST from the consent page: "Install & authorize" or "Cancel"."""
    state = state_of(request)
    form = await request.form()
    field = {k: v for k, v in form.items() if isinstance(v, str)}
    redirect_uri = field.get("redirect_uri", "")
    checked = _check_client(state, field.get("client_id", ""), redirect_uri)
    if isinstance(checked, Response):
        return checked
    app_state = field.get("state") or None
    if field.get("decision") != "approve":
        params = {
            "error": "access_denied",
            "error_description": "The user denied the authorization request.",
        }
        if app_state is not None:
            params["state"] = app_state
        return RedirectResponse(_with_query(redirect_uri, params), status_code=302)
    user = _signed_in(request, state)
    team_id = field.get("team_id")
    if user.team(team_id) is None:
        return _bad_request("Unknown team", "Pick one of your teams.")
    return _approve(state, checked, redirect_uri, user, team_id, app_state)


async def sign_in(request: Request) -> Response:
    """Sign in to the emulator as any name (a cookie), then go back to the consent page."""
    form = await request.form()
    name = str(form.get("name", "")).strip()
    target = str(form.get("next", ""))
    if not target.startswith("/oauth/authorize?"):
        target = "/"  # only ever back to the consent page: no open redirect
    if not 0 < len(name) <= 60:
        return _bad_request("Invalid name", "A name is 1 to 60 characters.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SIGN_IN_COOKIE, name, httponly=True, samesite="lax")
    return response


def _oauth_error(state: EmulatorState, failure: OAuthFailure) -> Response:
    state.stats["token_errors"] += 1
    body = error_body(failure.status, "oauthError", failure.message)
    return json_response(
        body, failure.status, {**rate_headers(state.idle_rate()), **_NO_STORE}
    )


def _token_body(token: AccessToken) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user_id": token.user.id,
        "access_token": token.value,
        "team_id": token.team.id,
        "scope": " ".join(token.scopes),
        "token_type": "bearer",
    }
    if token.refresh_token is not None and token.expires_at is not None:
        body["refresh_token"] = token.refresh_token
        # Miro answers 3599 for a one-hour token: a second already gone.
        body["expires_in"] = token.client.access_token_ttl - 1
    return body


async def token(request: Request) -> Response:
    """POST /v1/oauth/token: parameters from the query string and/or a form body."""
    state = state_of(request)
    params = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = (await request.body()).decode("utf-8", "replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    try:
        grant_type = params.get("grant_type", "")
        for name in ("client_id", "client_secret"):
            if not params.get(name):
                raise OAuthFailure(400, f"Missing required parameter: {name}.")
        client = state.authenticate_client(params["client_id"], params["client_secret"])
        if grant_type == "authorization_code":
            for name in ("code", "redirect_uri"):
                if not params.get(name):
                    raise OAuthFailure(400, f"Missing required parameter: {name}.")
            issued = state.exchange_code(client, params["code"], params["redirect_uri"])
        elif grant_type == "refresh_token":
            if not params.get("refresh_token"):
                raise OAuthFailure(400, "Missing required parameter: refresh_token.")
            issued = state.refresh(client, params["refresh_token"])
        else:
            raise OAuthFailure(400, "Unsupported grant_type.")
    except OAuthFailure as failure:
        return _oauth_error(state, failure)
    headers = rate_headers(state.peek(issued.user.id, client.client_id))
    return json_response(_token_body(issued), 200, {**headers, **_NO_STORE})


async def token_info(request: Request) -> Response:
    """GET /v1/oauth-token: who the token belongs to, its team and scopes."""
    state = state_of(request)
    state.count("token-info")
    value = token_from(request)
    found = state.lookup_token(value) if value else "invalid"
    if isinstance(found, str):
        code = "tokenNotProvided"
        message = "No access token provided." if not value else "Invalid access token."
        return json_response(
            error_body(401, code, message), 401, rate_headers(state.idle_rate())
        )
    user = {"type": "user", "name": found.user.name, "id": found.user.id}
    body = {
        "type": "oAuthToken",
        "organization": {
            "type": "organization",
            "name": "Emulator organization",
            "id": ORGANIZATION_ID,
        },
        "team": {"type": "team", "name": found.team.name, "id": found.team.id},
        "createdBy": user,
        "user": user,
        "scopes": list(found.scopes),
    }
    headers = rate_headers(state.peek(found.user.id, found.client.client_id))
    return json_response(body, 200, headers)


async def revoke_v2(request: Request) -> Response:
    """POST /v2/oauth/revoke, JSON `{accessToken, clientId, clientSecret}`: 204 or 404."""
    state = state_of(request)
    headers = rate_headers(state.idle_rate())
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, RecursionError):  # nested too deep
        body = None
    fields = ("accessToken", "clientId", "clientSecret")
    if not isinstance(body, dict) or not all(
        isinstance(body.get(f), str) and body.get(f) for f in fields
    ):
        message = "accessToken, clientId and clientSecret are required."
        return json_response(
            error_body(400, "invalidParameters", message), 400, headers
        )
    client = state.clients.get(body["clientId"])
    valid_client = client is not None and hmac.compare_digest(
        client.client_secret.encode(), body["clientSecret"].encode()
    )
    if not valid_client or not state.revoke(body["accessToken"], body["clientId"]):
        return json_response(
            error_body(404, "notFound", "Failed to revoke token."), 404, headers
        )
    return Response(status_code=204, headers=headers)


async def revoke_v1(request: Request) -> Response:
    """POST /v1/oauth/revoke?access_token= (deprecated by Miro): 204 or 400."""
    state = state_of(request)
    state.count("revoke-token")
    headers = rate_headers(state.idle_rate())
    value = request.query_params.get("access_token", "")
    if not value or not state.revoke(value):
        return json_response(
            error_body(400, "invalidParameters", "Failed to revoke token."),
            400,
            headers,
        )
    return Response(status_code=204, headers=headers)


routes = [
    Route("/oauth/authorize", authorize, methods=["GET"]),
    Route("/oauth/authorize", decide, methods=["POST"]),
    Route("/oauth/signin", sign_in, methods=["POST"]),
    Route("/v1/oauth/token", token, methods=["POST"]),
    Route("/v1/oauth-token", token_info, methods=["GET"]),
    Route("/v2/oauth/revoke", revoke_v2, methods=["POST"]),
    Route("/v1/oauth/revoke", revoke_v1, methods=["POST"]),
]
