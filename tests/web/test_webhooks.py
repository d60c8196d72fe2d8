"""Webhooks through the service API: each change reported once, signed, never a token; a
replayed idempotency key reports nothing new; nothing recorded without a webhook URL; the
settings refused with a clear message; the events in the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook
from typer.testing import CliRunner

from miroconnect.cli import build_app
from miroconnect.errors import ConfigurationError
from miroconnect.storage.models import WebhookEventRow
from miroconnect.web import create_app
from miroconnect.web.checks import settings_problems
from miroconnect.web.context import WebContext
from miroconnect.web.webhooks import BoardCreatedEvent, ConnectionEvent

from .conftest import Harness, make_settings, open_harness
from .test_cli import clean_env, good_env
from .test_service_api import BOARDS, USER, connect

pytestmark = pytest.mark.db

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK = "https://hooks.app.example/miro"


class Receiver:
    """The host app's webhook endpoint: verifies each delivery as a receiver would."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.bodies: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = request.content.decode()
        self.bodies.append(body)
        event = Webhook(SECRET).verify(body, dict(request.headers))
        self.events[request.headers["webhook-id"]] = event
        return httpx2.Response(204)

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        """The events, in the order they were written, once `count` arrived."""
        for _ in range(500):
            if len(self.events) >= count:
                break
            await asyncio.sleep(0.01)
        return [self.events[key] for key in sorted(self.events)]


@pytest.fixture
async def hooked(database_url: str) -> AsyncIterator[tuple[Harness, Receiver]]:
    receiver = Receiver()
    async with open_harness(
        database_url,
        webhook_url=HOOK,
        webhook_secret=SECRET,
        webhook_transport=httpx2.MockTransport(receiver),
    ) as harness:
        yield harness, receiver


async def test_every_change_is_reported_once_and_signed(
    hooked: tuple[Harness, Receiver],
) -> None:
    harness, receiver = hooked
    await connect(harness)  # consent, the host's confirm, the board "First"
    key = {"Idempotency-Key": "click-1"}
    async with harness.api() as api:
        made = await api.post(BOARDS, json={"name": "Second"}, headers=key)
        again = await api.post(BOARDS, json={"name": "Second"}, headers=key)
        assert made.status_code == again.status_code == 201
        assert made.json() == again.json()  # a replay: no second board, no event
        listed = (await api.get(BOARDS)).json()["boards"]
        context: WebContext = harness.app.state.miroconnect
        [connection] = await context.stack.storage.connections.find_connections(
            app_user_id=USER
        )
        await context.vault.mark_needs_reauth(connection.id, "refresh_rejected (400)")
        assert (await api.delete(f"/api/v1/users/{USER}/connection")).status_code == 204
    events = await receiver.wait_for(5)
    assert [e["type"] for e in events] == [
        "connection.created",
        "board.created",
        "board.created",
        "connection.needs_reauth",
        "connection.revoked",
    ]
    who = {
        "app_user_id": USER,
        "connection_id": connection.id,
        "miro_user_id": connection.miro_user_id,
        "miro_team_id": connection.miro_team_id,
    }
    for event in events:
        assert who.items() <= event["data"].items()
        assert event["timestamp"].endswith("Z")
        # Exactly as the OpenAPI document describes it (its models forbid extras).
        model = (
            BoardCreatedEvent if event["type"] == "board.created" else ConnectionEvent
        )
        model.model_validate(event)
    boards = {b["id"]: b for b in listed}
    for event in events[1:3]:
        board = event["data"]["board"]
        assert boards[board["id"]]["name"] == board["name"]
        assert boards[board["id"]]["view_link"] == board["view_link"]
    assert [e["data"]["board"]["name"] for e in events[1:3]] == ["First", "Second"]
    assert events[3]["data"]["reason"] == "refresh_rejected (400)"
    assert events[4]["data"]["status"] == "removed"
    await asyncio.sleep(0.1)
    assert len(receiver.bodies) == 5  # each once
    for body in receiver.bodies:  # no token, no secret, whatever the field
        assert "token" not in body.lower() and "secret" not in body.lower()
    _, counts = await context.stack.storage.webhook_queue.list_events()
    assert counts == {"delivered": 5}


class CookieSettingReceiver(Receiver):
    """A receiver (or a proxy before it) that answers with a session cookie."""

    def __init__(self) -> None:
        super().__init__()
        self.cookies_sent: list[str | None] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.cookies_sent.append(request.headers.get("cookie"))
        super().__call__(request)
        return httpx2.Response(204, headers={"set-cookie": "sid=abc123; Path=/"})


async def test_a_cookie_the_receiver_sets_is_never_sent_back(database_url: str) -> None:
    receiver = CookieSettingReceiver()
    async with open_harness(
        database_url,
        webhook_url=HOOK,
        webhook_secret=SECRET,
        webhook_transport=httpx2.MockTransport(receiver),
    ) as harness:
        await connect(harness)  # connection.created, then board.created
        await receiver.wait_for(2)
    assert receiver.cookies_sent == [None, None]


async def test_without_a_webhook_url_nothing_is_recorded(harness: Harness) -> None:
    await connect(harness)
    async with harness.api() as api:
        assert (await api.post(BOARDS, json={"name": "Quiet"})).status_code == 201
    context: WebContext = harness.app.state.miroconnect
    assert context.stack.webhooks is None
    async with context.database.session() as session:
        count = await session.scalar(select(func.count()).select_from(WebhookEventRow))
    assert count == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook_url": HOOK}, "MIROCONNECT_WEBHOOK_SECRET is not set"),
        (
            {"webhook_secret": SECRET},
            "MIROCONNECT_WEBHOOK_SECRET is set but MIROCONNECT_WEBHOOK_URL is not",
        ),
        (
            {"webhook_url": "http://hooks.app.example/miro", "webhook_secret": SECRET},
            "MIROCONNECT_WEBHOOK_URL must be an https URL",
        ),
        (
            {"webhook_url": HOOK, "webhook_secret": "not-a-whsec-secret"},
            "MIROCONNECT_WEBHOOK_SECRET must start with whsec_",
        ),
        (
            {"webhook_url": HOOK, "webhook_secret": "whsec_c2hvcnQ="},
            "MIROCONNECT_WEBHOOK_SECRET must hold 24 to 64 random bytes",
        ),
    ],
)
def test_webhook_settings_are_explained(
    change: dict[str, object], message: str
) -> None:
    settings = make_settings("sqlite+aiosqlite:///unused.db", **change)
    problems = settings_problems(settings)
    assert len(problems) == 1 and problems[0].startswith(message), problems
    assert "not-a-whsec" not in problems[0] and SECRET not in problems[0]
    assert settings_problems(make_settings("sqlite+aiosqlite:///unused.db")) == []


def test_serve_refuses_a_bad_webhook_secret_without_showing_it(tmp_path: Any) -> None:
    env = good_env(tmp_path) | {
        "MIROCONNECT_WEBHOOK_URL": HOOK,
        "MIROCONNECT_WEBHOOK_SECRET": "whsec_hunter2-is-not-base64!",
    }
    result = CliRunner().invoke(build_app(), ["serve"], env=clean_env() | env)
    assert result.exit_code == 2
    assert (
        "MIROCONNECT_WEBHOOK_SECRET must be whsec_ followed by base64" in result.output
    )
    assert "hunter2" not in result.output and "Traceback" not in result.output


def test_a_library_user_skipping_the_checks_still_gets_a_clear_error() -> None:
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db", webhook_url=HOOK, webhook_secret="nope"
    )
    with pytest.raises(ConfigurationError, match="MIROCONNECT_WEBHOOK_SECRET must"):
        create_app(settings)


def test_the_events_are_in_the_openapi_document() -> None:
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db"))
    document = app.openapi()
    assert document["openapi"].startswith("3.1")
    hooks = document["webhooks"]
    assert set(hooks) == {
        "connection.created",
        "connection.reconnected",
        "connection.needs_reauth",
        "connection.revoked",
        "board.created",
    }
    board = hooks["board.created"]["post"]
    assert {p["name"] for p in board["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    assert list(board["responses"]) == ["2XX"]
    schema = board["requestBody"]["content"]["application/json"]["schema"]
    body = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert set(body["properties"]) == {"type", "timestamp", "data"}
    # Every reference resolves (the document's 422s point nowhere: none is left).
    for ref in re.findall(
        r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)
    ):
        assert ref in document["components"]["schemas"], ref
