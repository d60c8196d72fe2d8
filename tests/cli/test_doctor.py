"""`miroconnect doctor`: a line per check, non-zero on any failure, never a secret."""

from __future__ import annotations

from pathlib import Path

import httpx2
from typer.testing import CliRunner, Result

from miroconnect.cli import doctor
from miroconnect.emulator import emulator_transport
from support import CLIENT_SECRET, FakeClock
from support.oauth import KEY1, KEY2, make_emulator

from .support import API_KEY, SECRET_KEY, environment, new_app, seed

K1_MATERIAL = KEY1.split(":", 1)[1]
K2_MATERIAL = KEY2.split(":", 1)[1]


def run_doctor(
    env: dict[str, str], transport: httpx2.AsyncBaseTransport | None
) -> Result:
    app = new_app()
    doctor.register(app, transport=transport)

    @app.callback()
    def root() -> None:  # a group, so that `doctor` is invoked by name
        pass

    return CliRunner().invoke(app, ["doctor"], env=env)


def line_of(result: Result, name: str) -> str:
    (line,) = [
        line for line in result.output.splitlines() if line[6:].startswith(name + " ")
    ]
    return line


def assert_no_secret(output: str) -> None:
    for secret in (CLIENT_SECRET, K1_MATERIAL, K2_MATERIAL, SECRET_KEY, API_KEY):
        assert secret not in output


def test_a_healthy_deployment_passes_every_check(database_url: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    seed(database_url, emulator, clock, ["alice", "bob"])
    result = run_doctor(environment(database_url), emulator_transport(emulator))
    assert result.exit_code == 0, result.output
    for name in ("settings", "database", "migrations", "encryption keys"):
        assert line_of(result, name).startswith("ok  "), result.output
    # The emulator answers, but it is not Miro: the operator is told where secrets go.
    for name, host in (
        ("Miro authorization URL", "miro.com"),
        ("Miro API URL", "api.miro.com"),
    ):
        line = line_of(result, name)
        assert line.startswith("warn"), result.output
        assert f"miro.test is not Miro ({host})" in line
    assert "rows by key id: k1: 2" in line_of(result, "encryption keys")
    assert "answers (HTTP" in line_of(result, "Miro API URL")
    assert result.output.rstrip().endswith("all checks passed")
    assert_no_secret(result.output)


def test_a_library_setup_without_api_keys_passes_with_a_warning(
    database_url: str,
) -> None:
    # The README's library recipe sets no API keys: only `serve` needs them.
    clock = FakeClock()
    emulator = make_emulator(clock)
    seed(database_url, emulator, clock, ["alice"])
    env = environment(database_url) | {"MIROCONNECT_API_KEYS": ""}
    result = run_doctor(env, emulator_transport(emulator))
    assert result.exit_code == 0, result.output
    settings = line_of(result, "settings")
    assert settings.startswith("warn"), result.output
    assert "MIROCONNECT_API_KEYS is not" in settings
    assert "`miroconnect serve` needs it" in settings
    assert "FAIL" not in result.output


def test_api_keys_that_are_too_short_still_fail(database_url: str) -> None:
    emulator = make_emulator(FakeClock())
    env = environment(database_url) | {"MIROCONNECT_API_KEYS": "short"}
    result = run_doctor(env, emulator_transport(emulator))
    assert result.exit_code == 1
    assert line_of(result, "settings").startswith("FAIL")
    assert "MIROCONNECT_API_KEYS: every key needs at least 16" in result.output


def test_rows_under_an_old_key_pass_with_advice(database_url: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    seed(database_url, emulator, clock, ["alice"])  # under k1
    env = environment(database_url, keys=f"{KEY2},{KEY1}")  # k2 now primary
    result = run_doctor(env, emulator_transport(emulator))
    keys = line_of(result, "encryption keys")
    assert result.exit_code == 0 and keys.startswith("ok")
    assert "primary k2" in keys and "k1: 1" in keys
    assert "run `miroconnect keys rotate`" in keys


def test_a_key_id_that_is_not_configured_fails(database_url: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    seed(database_url, emulator, clock, ["alice", "bob", "carol"])  # under k1
    result = run_doctor(
        environment(database_url, keys=KEY2), emulator_transport(emulator)
    )
    keys = line_of(result, "encryption keys")
    assert result.exit_code == 1 and keys.startswith("FAIL")
    assert "3 row(s) under key 'k1', which is not configured" in keys
    assert "1 check(s) failed: encryption keys" in result.output
    assert_no_secret(result.output)


def test_a_key_id_with_the_wrong_material_fails(database_url: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    seed(database_url, emulator, clock, ["alice"])
    env = environment(database_url, keys="k1:" + K2_MATERIAL)
    result = run_doctor(env, emulator_transport(emulator))
    keys = line_of(result, "encryption keys")
    assert result.exit_code == 1 and "key 'k1' does not open its rows" in keys
    assert_no_secret(result.output)


def test_an_unmigrated_database_says_what_to_run(database_url: str) -> None:
    emulator = make_emulator(FakeClock())
    result = run_doctor(environment(database_url), emulator_transport(emulator))
    assert result.exit_code == 1
    migrations = line_of(result, "migrations")
    assert migrations.startswith("FAIL") and "the database is empty" in migrations
    assert "run `miroconnect db upgrade`" in migrations
    assert "not checked: the database is not ready" in line_of(
        result, "encryption keys"
    )
    assert line_of(result, "database").startswith("ok")


def test_missing_settings_and_a_dead_database_are_named(tmp_path: Path) -> None:
    env = environment(
        f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'x.db'}", keys=""
    )
    env |= {"MIROCONNECT_MIRO_CLIENT_SECRET": "", "MIROCONNECT_SECRET_KEY": "short"}
    emulator = make_emulator(FakeClock())
    result = run_doctor(env, emulator_transport(emulator))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    settings_at = lines.index(line_of(result, "settings"))
    problems = "\n".join(lines[settings_at : settings_at + 4])
    assert "MIROCONNECT_MIRO_CLIENT_SECRET is not set" in problems
    assert "MIROCONNECT_ENCRYPTION_KEYS is not set" in problems
    assert "MIROCONNECT_SECRET_KEY is too short" in problems
    assert line_of(result, "database").startswith("FAIL")
    assert "no-such-dir does not exist" in line_of(result, "database")
    assert line_of(result, "migrations").startswith("skip")
    assert "Traceback" not in result.output


def test_a_database_that_does_not_answer_is_named_without_its_password() -> None:
    url = "postgresql+asyncpg://miroconnect:pw-9f8e7d6c@127.0.0.1:1/miroconnect"
    emulator = make_emulator(FakeClock())
    result = run_doctor(environment(url), emulator_transport(emulator))
    database = line_of(result, "database")
    assert result.exit_code == 1 and database.startswith("FAIL")
    assert "miroconnect:***@127.0.0.1:1/miroconnect does not answer" in database
    assert "pw-9f8e7d6c" not in result.output
    assert line_of(result, "migrations").startswith("skip")


def test_miro_unreachable_fails_and_nothing_secret_is_sent(database_url: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    seed(database_url, emulator, clock, ["alice"])
    sent: list[httpx2.Request] = []

    def down(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        if request.url.host == "miro.test" and request.url.path.startswith("/v1"):
            return httpx2.Response(503)
        raise httpx2.ConnectError("connection refused", request=request)

    result = run_doctor(environment(database_url), httpx2.MockTransport(down))
    assert result.exit_code == 1
    assert "does not answer (ConnectError)" in line_of(result, "Miro authorization URL")
    assert "answered 503" in line_of(result, "Miro API URL")
    assert "2 check(s) failed" in result.output
    assert len(sent) == 2
    for request in sent:
        assert request.method == "GET" and "authorization" not in request.headers
        assert CLIENT_SECRET not in str(request.url) and request.content == b""


def test_the_real_app_registers_doctor_and_connections() -> None:
    from miroconnect.cli import build_app

    result = CliRunner().invoke(build_app(), ["--help"])
    assert "doctor" in result.output and "connections" in result.output


def test_plain_http_to_a_remote_miro_fails(database_url: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    seed(database_url, emulator, clock, ["alice"])
    env = environment(database_url) | {
        "MIROCONNECT_MIRO_API_URL": "http://api.miro.example",
        "MIROCONNECT_MIRO_AUTH_URL": "http://127.0.0.1:8765/oauth/authorize",
    }
    result = run_doctor(env, emulator_transport(emulator))
    assert result.exit_code == 1
    assert "MIROCONNECT_MIRO_API_URL must be an https URL" in result.output
    assert "MIROCONNECT_MIRO_AUTH_URL must" not in result.output  # loopback is fine
    assert line_of(result, "Miro API URL").startswith("FAIL")
