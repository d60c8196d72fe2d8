"""`miroconnect connections list|show|disconnect` through Typer, against the emulator."""

from __future__ import annotations

import httpx2
from typer.testing import CliRunner

from miroconnect.cli import build_app, connections
from miroconnect.emulator import emulator_transport
from support import CLIENT_SECRET, FakeClock
from support.oauth import make_emulator

from .support import environment, new_app, seed


def test_list_and_show_without_tokens(database_url: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    one, two = seed(database_url, emulator, clock, ["alice", "bob"])
    env = environment(database_url)
    cli = CliRunner()

    listed = cli.invoke(build_app(), ["connections", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert one.id in listed.output and two.id in listed.output
    assert "alice" in listed.output and "connected" in listed.output
    assert "2 connection(s)" in listed.output
    assert "eyJ" not in listed.output and CLIENT_SECRET not in listed.output

    only_bob = cli.invoke(
        build_app(), ["connections", "list", "--user", "bob"], env=env
    )
    assert two.id in only_bob.output and one.id not in only_bob.output

    limited = cli.invoke(build_app(), ["connections", "list", "--limit", "1"], env=env)
    assert "1 of 2 connection(s)" in limited.output

    none = cli.invoke(
        build_app(), ["connections", "list", "--status", "needs_reauth"], env=env
    )
    assert none.exit_code == 0 and "no connections" in none.output

    bad = cli.invoke(build_app(), ["connections", "list", "--status", "dead"], env=env)
    assert bad.exit_code == 2 and "Traceback" not in bad.output

    shown = cli.invoke(build_app(), ["connections", "show", one.id], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"id                    {one.id}" in shown.output
    assert "alice" in shown.output and "key id                k1" in shown.output
    assert "eyJ" not in shown.output

    unknown = cli.invoke(build_app(), ["connections", "show", "nope"], env=env)
    assert unknown.exit_code == 1
    assert "no connection has the id nope" in unknown.output

    no_keys = cli.invoke(
        build_app(),
        ["connections", "list"],
        env=env | {"MIROCONNECT_ENCRYPTION_KEYS": ""},
    )
    assert no_keys.exit_code == 1 and "MIROCONNECT_ENCRYPTION_KEYS" in no_keys.output


def test_names_users_chose_are_shown_as_text(database_url: str) -> None:
    # A Miro user names themselves: Rich markup or a terminal escape in a name must
    # neither break the operator's listing nor act on their terminal.
    clock = FakeClock()
    emulator = make_emulator(clock)
    names = ["[/]", "[link=https://evil.example/]Ops[/link] \x1b[31mRED"]
    seed(database_url, emulator, clock, ["u1", "u2"], miro_users=names)
    env = environment(database_url)
    listed = CliRunner().invoke(build_app(), ["connections", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "[/]" in listed.output
    assert "[link=https://evil.example/]Ops[/link]" in listed.output
    assert "\\x1b[31mRED" in listed.output and "\x1b" not in listed.output
    shown = CliRunner().invoke(build_app(), ["connections", "show", "u2"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "\\x1b[31mRED" in shown.output and "\x1b" not in shown.output


def test_disconnect_revokes_at_miro_and_says_so(database_url: str) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    (connection,) = seed(database_url, emulator, clock, ["alice"])
    app = new_app()
    connections.register(app, transport=emulator_transport(emulator), clock=clock)
    env = environment(database_url)
    cli = CliRunner()

    declined = cli.invoke(
        app, ["connections", "disconnect", connection.id], env=env, input="n\n"
    )
    assert declined.exit_code == 1  # aborted: nothing done
    still = cli.invoke(app, ["connections", "show", connection.id], env=env)
    assert "status                connected" in still.output

    done = cli.invoke(
        app, ["connections", "disconnect", connection.id], env=env, input="y\n"
    )
    assert done.exit_code == 0, done.output
    assert "Miro confirmed the revocation" in done.output
    shown = cli.invoke(app, ["connections", "show", connection.id], env=env)
    assert "status                removed" in shown.output
    assert "no tokens stored" in shown.output

    again = cli.invoke(
        app, ["connections", "disconnect", connection.id, "--yes"], env=env
    )
    assert again.exit_code == 1 and "no Miro connection to disconnect" in again.output


def test_disconnect_when_miro_is_unreachable_deletes_and_says_so(
    database_url: str,
) -> None:
    clock = FakeClock()
    emulator = make_emulator(clock)
    (connection,) = seed(database_url, emulator, clock, ["alice"])

    def unreachable(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    app = new_app()
    connections.register(app, transport=httpx2.MockTransport(unreachable), clock=clock)
    env = environment(database_url)
    result = CliRunner().invoke(
        app, ["connections", "disconnect", connection.id, "-y"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "tokens deleted, but Miro did NOT confirm" in result.output
    shown = CliRunner().invoke(app, ["connections", "show", connection.id], env=env)
    assert "status                removed" in shown.output
