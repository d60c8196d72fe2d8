"""Miro's official Node client (`@mirohq/miro-api`, pinned in node/package-lock.json) runs its
README's flow against the emulator over a real socket: authorization URL, code exchange,
a board, items, a connector, a tag attached and removed (the item stays).

Skipped, with the reason, when node or npm is missing or `npm ci` cannot install the
client (no registry). node_modules stays out of git (node/.gitignore).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx2

from miroconnect.emulator import EmulatorClient, create_emulator, serve_in_thread
from support.node import node_and_npm, npm_ci

NODE_PROJECT = Path(__file__).parent / "node"
REDIRECT = "http://127.0.0.1:9/miro/callback"
CLIENT = EmulatorClient("3074457000000000042", "node-secret", (REDIRECT,))


def _node_project() -> tuple[str, Path]:
    """`node` and the Node project with its node_modules, or a skip saying why they
    cannot be had."""
    node, npm = node_and_npm("the official Node client's test")
    if not (NODE_PROJECT / "node_modules" / "@mirohq" / "miro-api").is_dir():
        npm_ci(npm, NODE_PROJECT, "@mirohq/miro-api")
    return node, NODE_PROJECT


def test_the_official_node_client_runs_its_readme_flow() -> None:
    node, project = _node_project()
    # search_delay=0: the README lists boards unfiltered right after making one.
    app = create_emulator(clients=[CLIENT], auto_approve=True, search_delay=0)
    with serve_in_thread(app) as url:
        env = {
            **os.environ,
            "MIRO_CLIENT_ID": CLIENT.client_id,
            "MIRO_CLIENT_SECRET": CLIENT.client_secret,
            "MIRO_REDIRECT_URL": REDIRECT,
        }
        run = subprocess.run(  # noqa: S603  # node from PATH, our own script
            [node, "readme_flow.js", url],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout.strip().splitlines()[-1])
        stats = httpx2.get(f"{url}/_emulator/stats").json()
        boards = httpx2.get(f"{url}/_emulator/boards").json()
    assert result["authUrl"].startswith(f"{url}/oauth/authorize?")
    assert (result["before"], result["after"]) == (False, True)
    assert result["tokenHosts"] == ["/v1/oauth/token"]  # only the token call redirected
    assert stats["token_grants"]["authorization_code"] == 1
    assert [b["id"] for b in boards] == [result["board"]] == result["boards"]
    assert result["viewLink"].startswith(url)
    assert result["items"] == ["card", "shape", "sticky_note"]
    assert result["connectors"] == [result["connector"]]
    assert result["tagged"] == ["urgent"] and result["afterRemoval"] == 0
    assert result["cardStillThere"] == result["card"]
    ops = stats["operations"]
    assert ops["remove-tag-from-item"] == 1 and "delete-item" not in ops
