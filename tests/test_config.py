"""Settings: database URLs without a driver get the async one miroconnect ships with."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from miroconnect.cli import build_app
from miroconnect.config import DEFAULT_DATABASE_URL, Settings


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db.example/mc", "postgresql+asyncpg://u:p@db.example/mc"),
        (
            "postgres://u@db.example:5433/mc",
            "postgresql+asyncpg://u@db.example:5433/mc",
        ),
        ("sqlite:///./miroconnect.db", "sqlite+aiosqlite:///./miroconnect.db"),
        ("sqlite:////var/lib/mc.db", "sqlite+aiosqlite:////var/lib/mc.db"),
        ("postgresql+asyncpg://u@h/mc", "postgresql+asyncpg://u@h/mc"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        (" postgresql://u@h/mc ", "postgresql+asyncpg://u@h/mc"),
    ],
)
def test_database_urls_get_the_async_driver(given: str, used: str) -> None:
    assert Settings(database_url=given).database_url == used


def test_an_unset_database_url_is_known_as_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MIROCONNECT_DATABASE_URL", raising=False)
    assert Settings().database_url == DEFAULT_DATABASE_URL
    assert Settings().database_url_is_default
    assert not Settings(database_url=DEFAULT_DATABASE_URL).database_url_is_default


def test_db_upgrade_works_with_the_url_a_provider_hands_out(database_url: str) -> None:
    plain = make_url(database_url).set(
        drivername=make_url(database_url).get_backend_name()
    )
    env = {"MIROCONNECT_DATABASE_URL": plain.render_as_string(hide_password=False)}
    assert "+" not in env["MIROCONNECT_DATABASE_URL"].split("://")[0]
    result = CliRunner().invoke(build_app(), ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert " is at revision " in result.output
