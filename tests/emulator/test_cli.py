"""`miroconnect emulator`: loopback by default, clear refusals, option parsing."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from miroconnect.cli import build_app
from miroconnect.cli.emulator import is_loopback, parse_client


def test_non_loopback_host_without_public_is_refused() -> None:
    everywhere = "0.0.0.0"  # noqa: S104  # the refusal is what is under test
    result = CliRunner().invoke(build_app(), ["emulator", "--host", everywhere])
    assert result.exit_code == 2
    assert "Refusing to bind 0.0.0.0" in result.output
    assert "--public" in result.output


def test_bad_client_spec_is_a_usage_error() -> None:
    result = CliRunner().invoke(build_app(), ["emulator", "--client", "only-an-id"])
    assert result.exit_code == 2
    assert "CLIENT_ID:CLIENT_SECRET:REDIRECT_URI" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("localhost", True),
        ("LocalHost", True),
        ("evil.localhost", False),  # may be looked up in DNS
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),  # noqa: S104
        ("192.168.1.4", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_parse_client_keeps_colons_in_the_uri() -> None:
    assert parse_client("3074:s3cret:http://127.0.0.1:8000/cb") == (
        "3074",
        "s3cret",
        "http://127.0.0.1:8000/cb",
        "",
    )
    with pytest.raises(typer.BadParameter):
        parse_client("id::http://x")


def test_parse_client_takes_a_name_before_the_id() -> None:
    assert parse_client("Acme CRM=3074:s3cret:http://127.0.0.1:8000/cb?a=b") == (
        "3074",
        "s3cret",
        "http://127.0.0.1:8000/cb?a=b",
        "Acme CRM",
    )
    assert parse_client("3074:s3cret:http://h/cb?next=x")[3] == ""
    with pytest.raises(typer.BadParameter):
        parse_client("Acme=3074")


def test_search_delay_is_an_option_and_not_negative() -> None:
    shown = CliRunner().invoke(build_app(), ["emulator", "--help"])
    assert "--search-delay" in shown.output
    result = CliRunner().invoke(build_app(), ["emulator", "--search-delay", "-1"])
    assert result.exit_code == 2
