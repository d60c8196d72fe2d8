"""What the commands say when something is missing: one line that says what to do, a
non-zero exit, never a traceback; and the database they touched, named, password hidden."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from miroconnect.cli import build_app
from miroconnect.crypto import generate_key
from support import FakeClock
from support.oauth import KEY1, make_emulator

from .support import environment, seed

COMMANDS = [
    ["connections", "list"],
    ["connections", "show", "someone"],
    ["keys", "status"],
    ["keys", "rotate"],
    ["maintain"],
]


def without_tables(database_url: str) -> str:
    """`database_url`, whose database exists but holds no table (an existing SQLite
    file; the test's PostgreSQL database is empty already)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        sqlite3.connect(url.database).close()
    return database_url


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output and "sqlalchemy" not in output.lower()
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_database_without_tables_says_run_db_upgrade(
    database_url: str, command: list[str]
) -> None:
    env = environment(without_tables(database_url))
    result = CliRunner().invoke(build_app(), command, env=env)
    assert result.exit_code == 1
    line = one_line(result.output)
    assert line.startswith("error: ") and "has no tables yet" in line
    assert line.endswith("run `miroconnect db upgrade`")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_database_file_is_not_created(
    tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "nowhere.db"
    env = environment(f"sqlite:///{path}")
    result = CliRunner().invoke(build_app(), command, env=env)
    assert result.exit_code == 1
    line = one_line(result.output)
    assert f"there is no database file at {path}" in line
    assert "run `miroconnect db upgrade`" in line
    assert not path.exists()


@pytest.mark.parametrize(
    "command", [*COMMANDS, ["db", "upgrade"], ["db", "current"]], ids=" ".join
)
def test_every_database_command_requires_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # where the library's default file would appear
    env = environment("unused")
    del env["MIROCONNECT_DATABASE_URL"]
    result = CliRunner().invoke(
        build_app(), command, env=env | {"MIROCONNECT_DATABASE_URL": None}
    )
    assert result.exit_code == 1
    line = one_line(result.output)
    assert line.startswith("error: MIROCONNECT_DATABASE_URL is not set")
    assert "sqlite:///" in line and "postgresql://" in line
    assert list(tmp_path.iterdir()) == []


def test_db_commands_name_the_database_with_its_password_hidden() -> None:
    url = "postgresql://mc:hunter2-secret@127.0.0.1:1/miroconnect"
    result = CliRunner().invoke(
        build_app(), ["db", "current"], env={"MIROCONNECT_DATABASE_URL": url}
    )
    assert result.exit_code == 1
    line = one_line(result.output)
    assert "postgresql+asyncpg://mc:***@127.0.0.1:1/miroconnect" in line
    assert "hunter2" not in result.output


def test_db_upgrade_and_current_name_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "svc.db"
    env = {"MIROCONNECT_DATABASE_URL": f"sqlite:///{path}"}
    cli = CliRunner()
    before = cli.invoke(build_app(), ["db", "current"], env=env)
    assert before.exit_code == 0
    assert one_line(before.output) == (
        f"database sqlite+aiosqlite:///{path}: no such file "
        "(run `miroconnect db upgrade`)"
    )
    assert not path.exists()
    upgraded = cli.invoke(build_app(), ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database sqlite+aiosqlite:///{path} is at revision " in upgraded.output
    current = cli.invoke(build_app(), ["db", "current"], env=env)
    assert f"database sqlite+aiosqlite:///{path} is at revision " in current.output


def test_db_upgrade_into_a_missing_folder_says_so(tmp_path: Path) -> None:
    env = {"MIROCONNECT_DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir/x.db"}
    result = CliRunner().invoke(build_app(), ["db", "upgrade"], env=env)
    assert result.exit_code == 1
    assert "does not exist" in one_line(result.output)


def test_rotate_refuses_a_known_key_id_with_other_key_bytes(database_url: str) -> None:
    clock = FakeClock()
    (connection,) = seed(database_url, make_emulator(clock), clock, ["alice"])
    assert connection.key_id == KEY1.split(":")[0]
    # The same key id, other bytes: nothing stored can be opened with it.
    same_id = generate_key(KEY1.split(":")[0])
    env = environment(database_url, keys=same_id)
    result = CliRunner().invoke(build_app(), ["keys", "rotate"], env=env)
    assert result.exit_code == 1
    line = one_line(result.output)
    assert line.startswith("error: nothing rotated: key 'k1' does not open its rows")
    assert "re-encrypted" not in result.output

    right = CliRunner().invoke(
        build_app(), ["keys", "rotate"], env=environment(database_url)
    )
    assert right.exit_code == 0, right.output
    assert "0 row(s) re-encrypted under k1" in right.output


def test_show_takes_an_app_user_id_as_list_shows_it(database_url: str) -> None:
    clock = FakeClock()
    alice, _ = seed(database_url, make_emulator(clock), clock, ["alice", "bob"])
    env = environment(database_url)
    by_user = CliRunner().invoke(build_app(), ["connections", "show", "alice"], env=env)
    assert by_user.exit_code == 0, by_user.output
    assert f"id                    {alice.id}" in by_user.output
    assert "app user              alice" in by_user.output
    assert "bob" not in by_user.output


@pytest.mark.parametrize("keys", ["other", "same-id"])
def test_serve_refuses_keys_that_do_not_open_the_stored_tokens(
    database_url: str, keys: str
) -> None:
    # A re-run with a new key (or a key left out) would answer every request with
    # vault_key_error: serve says so before it starts.
    clock = FakeClock()
    seed(database_url, make_emulator(clock), clock, ["alice"])
    wrong = generate_key("k9") if keys == "other" else generate_key("k1")
    env = environment(database_url, keys=wrong)
    result = CliRunner().invoke(build_app(), ["serve"], env=env)
    assert result.exit_code == 2
    assert "miroconnect serve cannot start" in result.output
    expected = (
        "which is not configured" if keys == "other" else "does not open its rows"
    )
    assert expected in result.output
    assert "Traceback" not in result.output
