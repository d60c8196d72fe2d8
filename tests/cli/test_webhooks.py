"""`miroconnect webhooks list|retry|secret`, `maintain` deleting old delivered events, and
`doctor`'s webhooks line, through Typer on a real database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from typer.testing import CliRunner

from miroconnect.cli import build_app
from miroconnect.emulator import emulator_transport
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.outbox import NewEvent, Outbox, WebhookQueue
from miroconnect.types import system_clock
from miroconnect.webhooks.sender import webhook_secret_problem
from support import FakeClock
from support.oauth import make_emulator

from .support import environment
from .test_doctor import line_of, run_doctor

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def seed_events(database_url: str, at: datetime) -> dict[str, str]:
    """Four events written at `at`: one delivered then, one dead, two pending."""

    async def run() -> dict[str, str]:
        await upgrade(database_url)
        db = Database(database_url)
        try:
            outbox, queue = Outbox(db), WebhookQueue(db)
            async with db.write_session() as session, session.begin():
                for name in ("delivered", "dead", "pending", "later"):
                    event = NewEvent("board.created", {"name": name})
                    await outbox.add(session, event, now=at)
            claimed = await queue.claim(now=at, lease_until=at, limit=2)
            first, second = sorted(claimed, key=lambda e: e.id)
            await queue.delivered(first, now=at)
            await queue.failed(second, "HTTP 500", retry_at=None, now=at)
            found, _ = await queue.list_events()
            by_status = {e.status: e.id for e in found}
            return by_status | {"ids": " ".join(e.id for e in found)}
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_list_retry_and_secret(database_url: str) -> None:
    ids = seed_events(database_url, FakeClock()())
    env = environment(database_url)
    cli = CliRunner()

    listed = cli.invoke(build_app(), ["webhooks", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    for event_id in ids["ids"].split():
        assert event_id in listed.output
    assert "pending 2, sending 0, delivered 1, dead 1" in listed.output
    assert "HTTP 500" in listed.output and "board.created" in listed.output
    assert '"name"' not in listed.output  # no payloads

    dead = cli.invoke(build_app(), ["webhooks", "list", "--status", "dead"], env=env)
    assert ids["dead"] in dead.output and ids["delivered"] not in dead.output
    bad = cli.invoke(build_app(), ["webhooks", "list", "--status", "lost"], env=env)
    assert bad.exit_code == 2 and "Traceback" not in bad.output

    again = cli.invoke(build_app(), ["webhooks", "retry", ids["dead"]], env=env)
    assert again.exit_code == 0, again.output
    assert f"{ids['dead']} will be sent again now" in again.output
    listed = cli.invoke(build_app(), ["webhooks", "list"], env=env)
    assert "pending 3, sending 0, delivered 1, dead 0" in listed.output

    done = cli.invoke(build_app(), ["webhooks", "retry", ids["delivered"]], env=env)
    assert done.exit_code == 1 and "was already delivered" in done.output
    unknown = cli.invoke(build_app(), ["webhooks", "retry", "msg_nope"], env=env)
    assert unknown.exit_code == 1 and "no event msg_nope" in unknown.output

    secret = cli.invoke(build_app(), ["webhooks", "secret"])
    made = secret.output.strip()
    assert secret.exit_code == 0 and webhook_secret_problem(made) is None


def test_maintain_deletes_old_delivered_events(database_url: str) -> None:
    ids = seed_events(database_url, system_clock() - timedelta(days=8))
    env = environment(database_url)
    cli = CliRunner()
    kept = cli.invoke(build_app(), ["maintain", "--webhook-days", "9"], env=env)
    assert kept.exit_code == 0, kept.output
    assert "delivered webhook events deleted 0" in kept.output
    ran = cli.invoke(build_app(), ["maintain"], env=env)  # 7 days by default
    assert ran.exit_code == 0, ran.output
    assert "delivered webhook events deleted 1" in ran.output
    listed = cli.invoke(build_app(), ["webhooks", "list"], env=env)
    assert ids["delivered"] not in listed.output and ids["dead"] in listed.output
    assert "pending 2, sending 0, delivered 0, dead 1" in listed.output


def test_doctor_reports_webhooks(database_url: str) -> None:
    emulator = make_emulator(FakeClock())
    transport = emulator_transport(emulator)
    off = run_doctor(environment(database_url), transport)
    assert line_of(off, "webhooks").startswith("ok")
    assert "off (MIROCONNECT_WEBHOOK_URL is not set)" in line_of(off, "webhooks")

    seed_events(database_url, FakeClock()())
    env = environment(database_url) | {
        "MIROCONNECT_WEBHOOK_URL": "https://user:pw@hooks.app.example/miro?token=t0p",
        "MIROCONNECT_WEBHOOK_SECRET": SECRET,
    }
    on = run_doctor(env, transport)
    line = line_of(on, "webhooks")
    assert on.exit_code == 0, on.output
    assert line.startswith("warn")  # a dead event
    assert "events go to https://hooks.app.example/miro" in line
    assert "2 waiting, 1 dead" in line and "webhooks list --status dead" in line
    assert SECRET not in on.output and "t0p" not in on.output and "pw" not in line

    env["MIROCONNECT_WEBHOOK_SECRET"] = "whsec_short"
    bad = run_doctor(env, transport)
    assert bad.exit_code == 1 and line_of(bad, "webhooks").startswith("FAIL")
    assert "whsec_short" not in bad.output
