"""`examples/node-express`, a host app in another language, driven in Chromium against
`miroconnect serve` and `miroconnect emulator` (real processes on loopback).

A user signs in to the Node app, clicks "Create board on Miro": the first time through
the service's launch link and Miro's consent (the emulator approves at once), back on the
app's return page, which confirms for its signed-in user; the second time at once.

Skipped, with the reason, where node or npm is missing or `npm ci` cannot install the
example's packages (no registry). They are installed once per test session, into a copy
of the example in a temporary folder (the example's own folder stays as it is in git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from support.node import node_and_npm, npm_ci
from support.processes import free_port

from .stack import (
    ARTIFACTS,
    Processes,
    Stack,
    chromium_marks,
    launch_chromium,
    requests_to,
    service_stack,
    wait_until_up,
)

pytestmark = chromium_marks()

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node-express"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def node_example(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """`node`, and a copy of the example with its packages installed (`npm ci`), once a
    test session."""
    node, npm = node_and_npm("the Node example")
    folder = tmp_path_factory.mktemp("node-example") / "app"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("node_modules"))
    npm_ci(npm, folder, "the Node example's packages")
    return node, folder


@dataclass(frozen=True)
class Running:
    app: str  # the Node app, as the browser reaches it
    stack: Stack


@pytest.fixture
def running(node_example: tuple[str, Path], tmp_path: Path) -> Iterator[Running]:
    """The service and the emulator, then the Node app, whose origin the service
    allows as a return URL."""
    port = free_port()
    app = f"http://localhost:{port}"
    with service_stack(tmp_path, [app]) as stack, Processes(tmp_path) as children:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MIROCONNECT_")},
            "PORT": str(port),
            "APP_URL": app,
            "MIROCONNECT_URL": stack.service,
            "MIROCONNECT_API_KEY": stack.api_key,
            "EXAMPLE_USERS": f"alice:{PASSWORD},bob:{PASSWORD}",
            "SESSION_SECRET": os.urandom(32).hex(),
        }
        node, folder = node_example
        process = children.start("node", [node, "server.js"], env, folder)
        wait_until_up(f"http://127.0.0.1:{port}/login", process, children.log("node"))
        yield Running(app, stack)
    log = (tmp_path / "node.log").read_text(errors="replace")
    assert "Node example on" in log
    assert "request failed" not in log and "Error" not in log, log


def test_a_signed_in_user_creates_boards_through_the_service(running: Running) -> None:
    from playwright.sync_api import expect

    stack = running.stack
    with launch_chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        # Miro's consent page (the emulator approves it at once, with a redirect).
        consent = requests_to(page, f"{stack.miro}/oauth/authorize")
        page.goto(f"{running.app}/")
        page.wait_for_url(f"{running.app}/login?next=%2F")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("not-her-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#connection")).to_have_text("Miro: not connected")

        # First click: the service's launch link, Miro's consent, back, confirmed.
        page.get_by_label("Board name").fill("Sprint 12")
        page.get_by_role("button", name="Create board on Miro").click()
        page.wait_for_url(f"{running.app}/?board=*")
        expect(page.get_by_role("status")).to_contain_text(
            "Board created on Miro: Sprint 12"
        )
        expect(page.locator("#connection")).to_have_text("Miro: connected")
        boards = page.locator("#boards li")
        expect(boards).to_have_count(1)
        link = boards.first.get_by_role("link", name="Open in Miro")
        assert (link.get_attribute("href") or "").startswith(f"{stack.miro}/app/board/")
        assert len(consent) == 1

        # Second click: the board at once, no consent.
        page.get_by_label("Board name").fill("Sprint 13")
        page.get_by_role("button", name="Create board on Miro").click()
        expect(page.get_by_role("status")).to_contain_text("Sprint 13")
        expect(boards).to_have_count(2)
        assert len(consent) == 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "node-example.png"), full_page=True)
        shown = [boards.nth(i).get_attribute("data-board-id") or "" for i in range(2)]

        # A post without the session's CSRF token changes nothing.
        forged = page.context.request.post(
            f"{running.app}/boards",
            form={"name": "Forged", "request_id": "forged-1"},
            max_redirects=0,
        )
        assert forged.status == 403
        forged = page.context.request.post(
            f"{running.app}/boards",
            form={"name": "Forged", "request_id": "forged-2", "_csrf": "x" * 64},
            max_redirects=0,
        )
        assert forged.status == 403

        # A result the service does not know: a sentence for the user and the code; the
        # service's detail (written for the operator) stays in the Node app's log.
        page.goto(f"{running.app}/miro/return?miro_result={'r' * 43}")
        expect(page.get_by_role("alert")).to_have_text(
            "This Miro approval is not known. Start again."
        )
        expect(page.locator("code")).to_have_text("result_unknown")

    at_miro = httpx2.get(f"{stack.miro}/_emulator/boards").json()
    assert sorted(b["name"] for b in at_miro) == ["Sprint 12", "Sprint 13"]
    assert sorted(b["id"] for b in at_miro) == sorted(shown)
    # The boards belong to alice's id in the Node app, and to no one else.
    listed = httpx2.get(
        f"{stack.service}/api/v1/users/user-alice/boards", headers=stack.api_headers()
    ).json()["boards"]
    assert [b["name"] for b in listed] == ["Sprint 13", "Sprint 12"]
    bob = httpx2.get(
        f"{stack.service}/api/v1/users/user-bob/connection",
        headers=stack.api_headers(),
    ).json()
    assert bob["status"] == "not_connected"
