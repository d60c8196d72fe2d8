"""The findings of the security review, each as the attack that found it.

Every test here failed before its fix: sign-in without a throttle and with unbounded
argon2, `javascript:` board links in an `href`, PostgreSQL 500s on NUL bytes and long keys,
a reused idempotency key answering another request's board, a row re-pointed to another
user answering 502 `miro_error`, plain-http Miro URLs, and the `Host` header in the page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text, update
from sqlalchemy.exc import StatementError

from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.errors import ConfigurationError
from miroconnect.logs import JSONFormatter
from miroconnect.oauth.miro import MiroOAuthConfig
from miroconnect.storage.accounts import SQLAccountStore
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.models import ConnectionRow
from miroconnect.types import system_clock
from miroconnect.web import create_app
from miroconnect.web.accounts import Accounts
from miroconnect.web.pages import PER_ADDRESS, PER_USERNAME
from support import CLIENT_ID, CLIENT_SECRET, FakeClock

from .conftest import (
    APP,
    REDIRECT_URI,
    RETURN_ORIGIN,
    Browser,
    Harness,
    form_fields,
    make_settings,
)

# -- 2: sign-in: throttled, bounded hashing, 10-character passwords ----------------------


async def sign_in(harness: Harness, username: str, password: str) -> httpx2.Response:
    token = await harness.csrf_token()
    return await harness.browser.post(
        "/signin",
        data={"csrf_token": token, "username": username, "password": password},
    )


async def test_sign_in_is_throttled_per_username(harness: Harness) -> None:
    await harness.sign_up("ada", "lovelace-1843")
    await harness.browser.post("/signout", data=await harness.home_form("/signout"))
    for _ in range(PER_USERNAME):
        assert (await sign_in(harness, "ada", "guess-guess")).status_code == 401
    # The right password no longer helps until the window ends: guessing is slowed.
    blocked = await sign_in(harness, "ada", "lovelace-1843")
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= 15 * 60
    assert "Too many attempts" in blocked.text
    # Another name from the same address is not blocked by ada's failures.
    assert (await sign_in(harness, "grace", "hopper-1906")).status_code == 401
    harness.clock.advance(15 * 60 + 1)
    assert (await sign_in(harness, "ada", "lovelace-1843")).status_code == 303


async def test_guesses_sent_at_once_get_no_more_password_checks_than_the_limit(
    harness: Harness,
) -> None:
    await harness.sign_up("ada", "lovelace-1843")
    await harness.browser.post("/signout", data=await harness.home_form("/signout"))
    token = await harness.csrf_token()

    async def guess(password: str) -> int:
        answer = await harness.browser.post(
            "/signin",
            data={"csrf_token": token, "username": "ada", "password": password},
        )
        return answer.status_code

    guesses = [f"guess-{n:04d}" for n in range(2 * PER_USERNAME)]
    answers = await asyncio.gather(*map(guess, [*guesses, "lovelace-1843"]))
    # Each guess is counted before its password is checked: however they interleave,
    # only PER_USERNAME passwords were checked (the right one may be among them).
    checked = [status for status in answers if status in (401, 303)]
    assert len(checked) == PER_USERNAME
    assert answers.count(429) == len(answers) - PER_USERNAME


async def test_sign_ins_that_succeed_do_not_count_against_the_name(
    harness: Harness,
) -> None:
    await harness.sign_up("ada", "lovelace-1843")
    for _ in range(PER_USERNAME + 2):
        await harness.browser.post("/signout", data=await harness.home_form("/signout"))
        assert (await sign_in(harness, "ada", "lovelace-1843")).status_code == 303


async def test_sign_in_is_throttled_per_address(harness: Harness) -> None:
    answers = [
        (await sign_in(harness, f"user{n}", "guess-guess")).status_code
        for n in range(PER_ADDRESS + 1)
    ]
    assert answers[:PER_ADDRESS] == [401] * PER_ADDRESS
    assert answers[PER_ADDRESS] == 429


async def test_new_accounts_need_ten_characters(harness: Harness) -> None:
    page = await harness.browser.get("/signup")
    assert "at least 10 characters" in page.text  # said before, not only after
    fields = form_fields(page.text, "/signup")
    fields.update(username="shorty", password="123456789")
    answer = await harness.browser.post("/signup", data=fields)
    assert answer.status_code == 422
    assert "at least 10 characters" in answer.text


class CountingHasher(PasswordHasher):
    """Counts how many hashes run at once (each pretends to take 30 ms)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def _busy(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.03)
        with self._lock:
            self.running -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._busy()
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self._busy()
        return super().verify(hash, password)


async def test_concurrent_sign_ins_hash_two_at_a_time(database_url: str) -> None:
    await upgrade(database_url)
    database = Database(database_url)
    hasher = CountingHasher()
    try:
        accounts = Accounts(SQLAccountStore(database, system_clock), hasher)
        await accounts.create("ada", "lovelace-1843")
        found = await asyncio.gather(
            *(accounts.authenticate("ada", f"guess-{n}") for n in range(12))
        )
    finally:
        await database.dispose()
    assert found == [None] * 12
    assert hasher.most == 2  # 64 MiB each in production: bounded, not 12 at once


# -- 6: input that reached PostgreSQL as a 500 -------------------------------------------


async def test_nul_bytes_and_long_keys_get_4xx(harness: Harness) -> None:
    await harness.sign_up()
    fields = await harness.home_form()
    bad_request_id = await harness.browser.post(
        "/connect/boards", data=fields | {"name": "x", "request_id": "a\x00b"}
    )
    assert bad_request_id.status_code == 422
    await harness.browser.post("/signout", data=await harness.home_form("/signout"))
    assert (await sign_in(harness, "ad\x00a", "lovelace-1843")).status_code == 401
    long_user = "u" * 255
    async with harness.api() as api:
        answer = await api.post(
            f"/api/v1/users/{long_user}/boards",
            json={"name": "Long", "return_url": f"{RETURN_ORIGIN}/back"},
            headers={"Idempotency-Key": "k" * 200},
        )
    assert answer.status_code == 202, answer.text


async def test_failed_statements_never_show_their_values(database_url: str) -> None:
    await upgrade(database_url)
    database = Database(database_url)
    secret = "secret-value-that-must-not-show"
    try:
        with pytest.raises(StatementError) as caught:
            async with database.session() as session, session.begin():
                await session.execute(
                    text(
                        "INSERT INTO web_accounts (username, password_hash, "
                        "created_at) VALUES (:u, :p, NULL)"
                    ),
                    {"u": secret, "p": secret},
                )
    finally:
        await database.dispose()
    assert secret not in str(caught.value)


# -- 7: board links -----------------------------------------------------------------------


class EvilLinks(httpx2.AsyncBaseTransport):
    """Miro (the emulator) whose boards come back with a `javascript:` link."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        answer = await self._inner.handle_async_request(request)
        if request.method != "POST" or request.url.path != "/v2/boards":
            return answer
        board = json.loads(await answer.aread())
        board["viewLink"] = "javascript:alert(document.cookie)"
        return httpx2.Response(answer.status_code, headers=answer.headers, json=board)


@pytest.fixture
async def evil_harness(database_url: str) -> AsyncIterator[Harness]:
    clock = FakeClock()
    emulator = create_emulator(
        clock=clock, clients=[EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,))]
    )
    await upgrade(database_url)
    settings = make_settings(database_url)
    app = create_app(
        settings,
        miro_transport=EvilLinks(emulator_transport(emulator)),
        clock=clock,
        reference_app=True,
    )
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(
            transport=Browser(app, emulator), base_url=APP, follow_redirects=False
        ) as browser,
    ):
        yield Harness(app, emulator, browser, clock, settings)


async def test_a_board_link_that_is_not_miros_never_reaches_an_href(
    evil_harness: Harness,
) -> None:
    harness = evil_harness
    await harness.sign_up()
    fields = await harness.home_form() | {"name": "Evil"}
    location = (await harness.browser.post("/connect/boards", data=fields)).headers[
        "location"
    ]
    back = await harness.browser.get(await harness.consent(location))
    assert back.status_code == 303
    home = await harness.browser.get("/")
    assert "Evil" in home.text
    assert "javascript:" not in home.text
    async with harness.api() as api:
        boards = (await api.get("/api/v1/users/account:1/boards")).json()["boards"]
    assert [b["view_link"] for b in boards] == [""]


# -- 8: a row re-pointed to another user --------------------------------------------------


async def test_a_repointed_row_is_a_vault_key_error_not_a_miro_error(
    harness: Harness,
) -> None:
    from .test_service_api import connect

    await connect(harness, "victim")
    async with harness.app.state.miroconnect.database.session() as session:
        async with session.begin():
            await session.execute(
                update(ConnectionRow)
                .where(ConnectionRow.app_user_id == "victim")
                .values(app_user_id="attacker")
            )
    async with harness.api() as api:
        answer = await api.post(
            "/api/v1/users/attacker/boards", json={"name": "Stolen"}
        )
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["reason"] == "vault_key_error"
    assert "Stolen" not in [
        b.name for b in harness.emulator.state.emulator.boards.values()
    ]


# -- 9: where Miro is ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_url", "ok"),
    [
        ("https://api.miro.com", True),
        ("http://127.0.0.1:8765", True),
        ("http://localhost:8765", True),
        ("http://[::1]:8765", True),
        ("http://api.miro.com", False),
        ("http://10.0.0.5:8765", False),
        ("ftp://api.miro.com", False),
        ("api.miro.com", False),
    ],
)
def test_miro_is_reached_over_https_except_on_loopback(
    database_url: str, api_url: str, ok: bool
) -> None:
    settings = make_settings(database_url, miro_api_url=api_url)
    if ok:
        assert MiroOAuthConfig.from_settings(settings).api_url == api_url
    else:
        with pytest.raises(ConfigurationError, match="MIROCONNECT_MIRO_API_URL"):
            MiroOAuthConfig.from_settings(settings)


# -- 11: idempotency keys -----------------------------------------------------------------


async def test_a_reused_idempotency_key_with_another_body_is_refused(
    harness: Harness,
) -> None:
    from .test_service_api import connect

    await connect(harness, "user-9")
    boards = "/api/v1/users/user-9/boards"
    async with harness.api() as api:
        first = await api.post(
            boards, json={"name": "Q3 plan"}, headers={"Idempotency-Key": "k-1"}
        )
        harness.clock.advance(60)
        replay = await api.post(
            boards, json={"name": "Q3 plan"}, headers={"Idempotency-Key": "k-1"}
        )
        other = await api.post(
            boards, json={"name": "Q4 plan"}, headers={"Idempotency-Key": "k-1"}
        )
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()  # the stored answer, created_at included
    assert other.status_code == 422
    assert other.json()["reason"] == "idempotency_key_reused"
    names = [b.name for b in harness.emulator.state.emulator.boards.values()]
    assert names.count("Q4 plan") == 0


# -- 12: the Host header ------------------------------------------------------------------


async def test_pages_do_not_reflect_the_host_header(harness: Harness) -> None:
    page = await harness.browser.get("/signin", headers={"host": "evil.example"})
    assert page.status_code == 200
    assert "evil.example" not in page.text
    assert 'href="/static/app.css"' in page.text


async def test_allowed_hosts_refuse_other_host_names(database_url: str) -> None:
    await upgrade(database_url)
    settings = make_settings(database_url, allowed_hosts=["testserver"])
    app = create_app(settings, reference_app=True)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url=APP
        ) as client,
    ):
        ours = await client.get("/signin")
        other = await client.get("/signin", headers={"host": "evil.example"})
    assert ours.status_code == 200
    assert other.status_code == 400


# -- 5 in the service: a callback without the binding cookie burns nothing -----------------


async def test_a_callback_from_another_browser_leaves_the_flow_to_its_own(
    harness: Harness,
) -> None:
    async with harness.api() as api:
        first = await api.post(
            "/api/v1/users/u-5/boards",
            json={"name": "Mine", "return_url": f"{RETURN_ORIGIN}/back"},
        )
    launch = await harness.browser.get(first.json()["authorize_url"])
    callback = await harness.consent(launch.headers["location"])
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=harness.app), base_url=APP
    ) as stranger:
        seen_first = await stranger.get(callback)
    assert seen_first.status_code == 400
    assert 'data-reason="browser_mismatch"' in seen_first.text
    back = await harness.browser.get(callback)
    assert back.status_code == 303
    assert "miro_result" in parse_qs(urlsplit(back.headers["location"]).query)


async def test_the_done_page_shows_only_reasons_of_its_own(harness: Harness) -> None:
    # Anyone can write a link to /connect/done: it must not put a stranger's words on
    # the service's own page.
    planted = "Your Miro session expired. Re-enter your password at evil.example"
    page = await harness.browser.get("/connect/done", params={"miro_error": planted})
    assert page.status_code == 200
    assert "evil.example" not in page.text
    assert "<code>error</code>" in page.text
    known = await harness.browser.get(
        "/connect/done", params={"miro_error": "miro_error"}
    )
    assert "<code>miro_error</code>" in known.text


async def test_sign_ins_leave_an_audit_trail_without_names_or_passwords(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="miroconnect.web.pages")
    await harness.sign_up("ada", "lovelace-1843")
    await harness.browser.post("/signout", data=await harness.home_form("/signout"))
    for _ in range(PER_USERNAME):
        await sign_in(harness, "ada", "guess-guess-1")
    await sign_in(harness, "ada", "lovelace-1843")  # throttled: the name's limit
    harness.clock.advance(15 * 60 + 1)
    await sign_in(harness, "ada", "lovelace-1843")
    lines = [JSONFormatter().format(record) for record in caplog.records]
    events = [json.loads(line)["event"] for line in lines]
    assert events == ["account.signin_failed"] * PER_USERNAME + [
        "account.signin_throttled",
        "account.signed_in",
    ]
    assert all("client" in json.loads(line) for line in lines)
    assert not any("ada" in line or "guess-guess" in line for line in lines)
