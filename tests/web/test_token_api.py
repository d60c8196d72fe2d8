"""`POST /api/v1/users/{user_id}/connection/token`: a token that works at Miro for at least
5 more minutes, refreshed single-flight when it would not, logged without its value."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta

import pytest

from miroconnect.logs import JSONFormatter

from .conftest import APP, MIRO, RETURN_ORIGIN, Harness
from .test_service_api import connect

USER = "user-token"
TOKEN = f"/api/v1/users/{USER}/connection/token"


async def works_at_miro(harness: Harness, token: str) -> bool:
    answer = await harness.browser.get(
        f"{MIRO}/v2/boards", headers={"authorization": f"Bearer {token}"}
    )
    return answer.status_code == 200


async def test_the_token_works_at_miro_for_at_least_five_minutes(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="miroconnect")
    await connect(harness, USER)
    async with harness.api() as api:
        answer = await api.post(TOKEN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert set(body) == {"access_token", "expires_at", "token_type"}
    assert body["token_type"] == "bearer"
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at - harness.clock() >= timedelta(minutes=5)
    assert await works_at_miro(harness, body["access_token"])
    lines = [JSONFormatter().format(record) for record in caplog.records]
    issued = [json.loads(line) for line in lines if '"connection.token_issued"' in line]
    assert len(issued) == 1
    assert issued[0]["app_user_id"] == USER and issued[0]["connection_id"]
    assert not any(body["access_token"] in line for line in lines)


async def test_a_token_near_its_end_is_refreshed_once_for_many_callers(
    harness: Harness,
) -> None:
    await connect(harness, USER)
    vault = harness.app.state.miroconnect.vault
    async with harness.api() as api:
        first = (await api.post(TOKEN)).json()
        again = (await api.post(TOKEN)).json()
        assert again["access_token"] == first["access_token"]  # still has an hour
        before = vault.refresh_count
        # Four minutes left: not enough for the app, enough for the vault's own use.
        expires_at = datetime.fromisoformat(first["expires_at"])
        left = expires_at - harness.clock() - timedelta(minutes=4)
        harness.clock.advance(left.total_seconds())
        answers = await asyncio.gather(*(api.post(TOKEN) for _ in range(5)))
    assert vault.refresh_count == before + 1
    fresh = {a.json()["access_token"] for a in answers}
    assert len(fresh) == 1 and first["access_token"] not in fresh
    token = fresh.pop()
    new_expiry = datetime.fromisoformat(answers[0].json()["expires_at"])
    assert new_expiry - harness.clock() >= timedelta(minutes=5)
    assert await works_at_miro(harness, token)
    assert not await works_at_miro(harness, first["access_token"])  # rotated away


async def test_no_token_without_a_live_connection(harness: Harness) -> None:
    async with harness.api() as api:
        plain = await api.post(TOKEN)
        linked = await api.post(
            TOKEN, headers={"X-Miroconnect-Return-Url": f"{RETURN_ORIGIN}/t"}
        )
        await connect(harness, USER)
        vault = harness.app.state.miroconnect.vault
        connection = await vault.connection_for(USER)
        await vault.mark_needs_reauth(connection.id, "app uninstalled")
        dead = await api.post(TOKEN)
    async with harness.api(key=None) as anonymous:
        unauthenticated = await anonymous.post(TOKEN)
    assert plain.status_code == linked.status_code == dead.status_code == 409
    assert plain.headers["content-type"] == "application/problem+json"
    assert plain.json()["reason"] == "not_connected"
    assert "access_token" not in plain.text
    assert linked.json()["authorize_url"].startswith(f"{APP}/connect/launch/")
    assert dead.json()["reason"] == "needs_reauth"
    assert unauthenticated.status_code == 401
