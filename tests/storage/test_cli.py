"""`miroconnect db upgrade|current` and `miroconnect maintain` through Typer."""

from __future__ import annotations

from typer.testing import CliRunner

from miroconnect.cli import build_app
from support import CLIENT_ID, CLIENT_SECRET
from support.oauth import KEY1, REDIRECT_URI


def test_db_upgrade_then_maintain(database_url: str) -> None:
    cli = CliRunner()
    env = {"MIROCONNECT_DATABASE_URL": database_url, "MIROCONNECT_ENCRYPTION_KEYS": ""}
    empty = cli.invoke(build_app(), ["db", "current"], env=env)
    assert empty.exit_code == 0
    assert "run `miroconnect db upgrade`" in empty.output  # no file yet, or no tables
    upgraded = cli.invoke(build_app(), ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert " is at revision " in upgraded.output
    current = cli.invoke(build_app(), ["db", "current"], env=env)
    assert current.exit_code == 0 and current.output.strip() != ""

    missing = cli.invoke(build_app(), ["maintain"], env=env)
    assert missing.exit_code == 1
    assert "MIROCONNECT_ENCRYPTION_KEYS" in missing.output

    env |= {
        "MIROCONNECT_ENCRYPTION_KEYS": KEY1,
        "MIROCONNECT_MIRO_CLIENT_ID": CLIENT_ID,
        "MIROCONNECT_MIRO_CLIENT_SECRET": CLIENT_SECRET,
        "MIROCONNECT_MIRO_REDIRECT_URI": REDIRECT_URI,
    }
    ran = cli.invoke(build_app(), ["maintain"], env=env)
    assert ran.exit_code == 0, ran.output
    assert "refreshed 0" in ran.output
    assert CLIENT_SECRET not in ran.output
