"""CSRF, cookies, security headers, escaping, error pages, health and metrics."""

from __future__ import annotations

import re

import httpx2
import pytest
from sqlalchemy import select

from miroconnect.emulator import create_emulator, emulator_transport
from miroconnect.oauth.params import hash_secret
from miroconnect.storage.models import WebSessionRow
from miroconnect.web import create_app

from .conftest import APP, MIRO, Harness, form_fields, make_settings


async def test_form_posts_without_a_csrf_token_are_403(harness: Harness) -> None:
    await harness.sign_up()
    for path, data in [
        ("/connect/boards", {"name": "x"}),
        ("/connect/disconnect", {}),
        ("/connect/reconnect", {}),
        ("/signout", {}),
        ("/signin", {"username": "ada", "password": "lovelace"}),
        ("/signup", {"username": "eve", "password": "secret"}),
    ]:
        answer = await harness.browser.post(path, data=data)
        assert answer.status_code == 403, path
        assert 'data-reason="csrf_rejected"' in answer.text
    # Nothing happened: still signed in, no board, no flow started.
    home = await harness.browser.get("/")
    assert "New board" in home.text and "No boards yet." in home.text
    assert "mc_flow" not in harness.browser.cookies


async def test_a_token_for_another_browser_or_forged_is_403(harness: Harness) -> None:
    await harness.sign_up()
    fields = await harness.home_form()
    fields["name"] = "x"
    session = harness.browser.cookies["mc_session"]
    own = harness.browser.cookies["mc_csrf"]
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=harness.app), base_url=APP
    ) as other:

        async def post(csrf_cookie: str, token: str) -> int:
            cookies = f"mc_session={session}; mc_csrf={csrf_cookie}"
            answer = await other.post(
                "/connect/boards",
                data=fields | {"csrf_token": token},
                headers={"cookie": cookies},
            )
            return answer.status_code

        # The real pair works from any client: this is the control.
        assert await post(own, fields["csrf_token"]) == 303
        # Another browser's cookie: the token was signed for a different value.
        assert await post("A" * 43, fields["csrf_token"]) == 403
        # A token that is the cookie value itself, unsigned.
        assert await post("A" * 43, "A" * 43) == 403


async def test_security_headers_on_pages(harness: Harness) -> None:
    page = await harness.browser.get("/signin")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert f"frame-src https://miro.com {MIRO}" in csp
    assert f"form-action 'self' https://miro.com {MIRO}" in csp
    # Scripts only from this app (static/app.js), never inline or from elsewhere.
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in page.headers
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("mc_csrf=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would be dropped


async def test_api_and_probe_answers_set_no_csrf_cookie(harness: Harness) -> None:
    """Programs call the service API and the probes with no cookie jar and post no
    form: their answers keep the security headers but never start a CSRF cookie."""
    async with harness.api() as api:
        answers = [
            await api.post("/api/v1/users/ada/boards", json={"name": "x"}),  # 409
            await api.get("/api/v1/users/ada/connection"),
        ]
    answers += [
        await harness.browser.get(path) for path in ("/healthz", "/readyz", "/metrics")
    ]
    for answer in answers:
        assert "set-cookie" not in answer.headers, answer.request.url
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "mc_csrf" not in harness.browser.cookies
    # A page still starts one (its forms need it).
    page = await harness.browser.get("/signin")
    assert page.headers["set-cookie"].startswith("mc_csrf=")


async def test_behind_https_cookies_are_secure(harness: Harness) -> None:
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=harness.app), base_url="https://testserver"
    ) as browser:
        page = await browser.get("/signup")
        csrf_cookie = page.headers["set-cookie"]
        # `__Host-`: Secure, this host only, path /: no sibling can plant one.
        assert csrf_cookie.startswith("__Host-mc_csrf=")
        assert "Secure" in csrf_cookie and "Path=/" in csrf_cookie
        assert "domain" not in csrf_cookie.lower()
        assert page.headers["strict-transport-security"].startswith("max-age=")
        fields = form_fields(page.text, "/signup")
        fields.update(username="sec", password="secret-password")
        answer = await browser.post("/signup", data=fields)
        assert answer.status_code == 303, answer.text
        session = answer.headers["set-cookie"]
        assert session.startswith("__Host-mc_session=")
        assert "Secure" in session and "HttpOnly" in session
        assert "samesite=lax" in session.lower()
        # A plain `mc_csrf` cookie (what a sibling subdomain could set) is ignored.
        home = await browser.get("/")
        assert "New board" in home.text


async def test_the_session_cookie_is_a_random_value_and_sign_out_ends_it(
    harness: Harness,
) -> None:
    await harness.sign_up()
    raw = harness.browser.cookies["mc_session"]
    assert len(raw) >= 43 and "." not in raw  # 256 random bits, nothing signed in it
    async with harness.app.state.miroconnect.database.session() as session:
        rows = list(await session.scalars(select(WebSessionRow)))
    assert [row.id for row in rows] == [hash_secret(raw)]  # stored as a hash only
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=harness.app), base_url=APP
    ) as other:
        forged = await other.get("/", headers={"cookie": "mc_session=" + "A" * 43})
        copied = await other.get("/", headers={"cookie": f"mc_session={raw}"})
        assert "New board" not in forged.text
        assert "New board" in copied.text  # a copy works while the session lives
        await harness.browser.post("/signout", data=await harness.home_form("/signout"))
        after = await other.get("/", headers={"cookie": f"mc_session={raw}"})
    assert "New board" not in after.text  # sign-out ended it on the server


async def test_sessions_end_after_two_weeks(harness: Harness) -> None:
    await harness.sign_up()
    assert "New board" in (await harness.browser.get("/")).text
    harness.clock.advance(14 * 24 * 3600 + 1)
    assert "New board" not in (await harness.browser.get("/")).text


async def test_a_planted_csrf_pair_does_not_pass_in_the_victims_session(
    harness: Harness,
) -> None:
    # The attacker's own browser: a CSRF cookie and a token the app signed for it.
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=harness.app), base_url=APP
    ) as attacker:
        page = await attacker.get("/signin")
        planted_cookie = attacker.cookies["mc_csrf"]
        planted_token = form_fields(page.text, "/signin")["csrf_token"]
    # The victim is signed in; the attacker managed to plant that cookie in the victim's
    # browser and sends the victim a form carrying the matching token.
    await harness.sign_up()
    session = harness.browser.cookies["mc_session"]
    answer = await harness.browser.post(
        "/connect/disconnect",
        data={"csrf_token": planted_token},
        headers={"cookie": f"mc_session={session}; mc_csrf={planted_cookie}"},
    )
    assert answer.status_code == 403
    assert 'data-reason="csrf_rejected"' in answer.text


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},  # a sibling subdomain
        {"origin": "https://evil.example"},
        {"origin": "null"},
    ],
)
async def test_posts_a_browser_marks_as_cross_site_are_refused(
    harness: Harness, headers: dict[str, str]
) -> None:
    await harness.sign_up()
    fields = await harness.home_form()
    fields["name"] = "Cross-site"
    answer = await harness.browser.post("/connect/boards", data=fields, headers=headers)
    assert answer.status_code == 403
    assert 'data-reason="csrf_rejected"' in answer.text
    same = await harness.browser.post(
        "/connect/boards",
        data=fields,
        headers={"sec-fetch-site": "same-origin", "origin": APP},
    )
    assert same.status_code == 303  # the control: the same form from our own page


async def test_what_users_type_is_escaped(harness: Harness) -> None:
    await harness.sign_up()
    fields = await harness.home_form()
    fields["name"] = "<script>alert(1)</script>"
    location = (await harness.browser.post("/connect/boards", data=fields)).headers[
        "location"
    ]
    await harness.browser.get(await harness.consent(location))
    home = await harness.browser.get("/")
    assert "<script>" not in home.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in home.text


async def test_unknown_pages_and_routes(harness: Harness) -> None:
    page = await harness.browser.get("/nowhere")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert 'data-reason="not_found"' in page.text
    api = await harness.browser.get("/api/v1/nowhere")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["status"] == 404


@pytest.mark.parametrize("path", ["/connect/callback", "/connect/callback?state=abc"])
async def test_a_forged_callback_gets_a_page_not_a_trace(
    harness: Harness, path: str
) -> None:
    page = await harness.browser.get(path)
    assert page.status_code == 400
    assert 'data-reason="state_unknown"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Traceback" not in page.text


async def test_health_readiness_and_metrics(harness: Harness) -> None:
    assert (await harness.browser.get("/healthz")).json() == {"status": "ok"}
    assert (await harness.browser.get("/readyz")).json() == {"status": "ready"}

    await harness.sign_up()
    for decision in ("cancel", "approve"):
        fields = await harness.home_form()
        fields["name"] = decision
        location = (await harness.browser.post("/connect/boards", data=fields)).headers[
            "location"
        ]
        await harness.browser.get(await harness.consent(location, decision))
    metrics = await harness.browser.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert "miroconnect_flows_started_total 2.0" in text
    assert "miroconnect_flows_completed_total 1.0" in text
    assert 'miroconnect_flows_failed_total{reason="access_denied"} 1.0' in text
    assert 'miroconnect_actions_total{kind="create_board",outcome="done"} 1.0' in text
    assert re.search(
        r'miroconnect_miro_requests_total\{endpoint="/v1/oauth/token",status="200"\} 1\.0',
        text,
    )
    assert (
        'miroconnect_miro_request_duration_seconds_count{endpoint="/v2/boards"} 1.0'
        in text
    )
    assert "miroconnect_http_request_duration_seconds_bucket" in text
    assert 'route="/connect/callback"' in text


@pytest.mark.usefixtures("aiosqlite_threads_finish")
async def test_readyz_says_when_the_database_is_down(tmp_path: object) -> None:
    settings = make_settings("sqlite+aiosqlite:////nonexistent/dir/db.sqlite")
    app = create_app(
        settings,
        miro_transport=emulator_transport(create_emulator()),
        reference_app=True,
    )
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=APP) as c,
    ):
        answer = await c.get("/readyz")
        assert (await c.get("/healthz")).status_code == 200
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["reason"] == "database_unavailable"


async def test_metrics_registries_are_per_app(harness: Harness) -> None:
    other = create_app(
        harness.settings,
        miro_transport=emulator_transport(create_emulator()),
        reference_app=True,
    )
    await harness.browser.get("/healthz")
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=other), base_url=APP
    ) as client:
        text = (await client.get("/metrics")).text
    assert 'route="/healthz"' not in text


def test_every_flow_failure_has_its_own_page() -> None:
    import miroconnect.errors as errors
    from miroconnect.web.reasons import failure_text, known_reasons

    leaves = {
        cls.reason
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.AuthorizationError)
        and cls is not errors.AuthorizationError
    }
    assert len(leaves) >= 14
    assert leaves <= known_reasons()
    titles = {failure_text(reason).title for reason in leaves}
    assert len(titles) == len(leaves)  # one page each, not one page for all
