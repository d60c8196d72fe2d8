"""An idempotency key never replays another Miro account's answer: after a user
disconnects and connects again as someone else, a repeat of an old key is refused
(found by an attacker: the proxy replayed the first account's whole board)."""

from __future__ import annotations

import pytest

from .conftest import MIRO, Harness
from .test_service_api import connect

pytestmark = pytest.mark.db

USER = "dave"
BOARDS = f"/api/v1/users/{USER}/boards"
PROXY = f"/api/v1/users/{USER}/miro/v2/boards"


async def test_a_key_of_an_earlier_connection_is_refused(harness: Harness) -> None:
    await connect(harness, USER)
    board = {"Idempotency-Key": "plans-1"}
    proxied = {"Idempotency-Key": "plans-2"}
    async with harness.api() as api:
        first = await api.post(BOARDS, json={"name": "Plans"}, headers=board)
        through = await api.post(PROXY, json={"name": "Secret"}, headers=proxied)
        assert first.status_code == through.status_code == 201
        who = (await api.get(f"/api/v1/users/{USER}/connection")).json()
        # Still the same account: a repeat is the first answer.
        again = await api.post(PROXY, json={"name": "Secret"}, headers=proxied)
        assert again.status_code == 201 and again.content == through.content
        assert (await api.delete(f"/api/v1/users/{USER}/connection")).status_code == 204

    # The same person in the app connects again, as another Miro user.
    signed = await harness.browser.post(
        f"{MIRO}/oauth/signin", data={"name": "erin", "next": "/"}
    )
    assert signed.status_code in (302, 303)
    await connect(harness, USER)
    async with harness.api() as api:
        now = (await api.get(f"/api/v1/users/{USER}/connection")).json()
        assert now["miro_user_id"] != who["miro_user_id"]
        for path, body, key in (
            (BOARDS, {"name": "Plans"}, board),
            (PROXY, {"name": "Secret"}, proxied),
        ):
            repeat = await api.post(path, json=body, headers=key)
            assert repeat.status_code == 422, repeat.text
            assert repeat.json()["reason"] == "idempotency_key_reused"
            assert "Secret" not in repeat.text and "idempotent-replayed" not in (
                repeat.headers
            )
        # A new key works under the new connection.
        fresh = await api.post(
            PROXY, json={"name": "Secret"}, headers={"Idempotency-Key": "plans-3"}
        )
        assert fresh.status_code == 201
        assert fresh.json()["id"] != through.json()["id"]
