"""`--help` of every command reads as written: no emoji made of `:name:` text, no type
label on flags (they take no value), one default per option."""

from __future__ import annotations

import re
import unicodedata

import pytest
import typer
from typer.testing import CliRunner

from miroconnect.cli import build_app


def symbols(text: str) -> set[str]:
    """Emoji and other pictographs (Unicode "Symbol, other"), e.g. the ㊙ that Rich made
    of `:SECRET:` in `ID:SECRET:REDIRECT_URI`."""
    return {char for char in text if unicodedata.category(char) == "So"}


def _paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's words, the groups' included (Typer's groups have `commands`)."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _paths(sub, (*path, name))
    return found


COMMAND_PATHS = _paths(typer.main.get_command(build_app()))


def test_every_command_is_covered() -> None:
    assert ("emulator",) in COMMAND_PATHS and ("keys", "rotate") in COMMAND_PATHS
    assert len(COMMAND_PATHS) >= 16


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "root")
def test_help_reads_as_written(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(build_app(), [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    text = result.output
    assert not symbols(text), text
    assert "<bool>" not in text
    assert not re.search(r"\(default: [^)]*\)\s*\[default: ", text), text
    for line in text.splitlines():
        assert line.count("default:") <= 1, line


def test_client_option_shows_its_format() -> None:
    text = CliRunner().invoke(build_app(), ["emulator", "--help"]).output
    assert "CLIENT_ID:CLIENT_SECRET:REDIRECT_URI" in text
    assert "--public " in text and "--public <" not in text


def test_demo_states_one_default_for_the_emulator_port() -> None:
    text = " ".join(CliRunner().invoke(build_app(), ["demo", "--help"]).output.split())
    assert "[default: the app's port + 765]" in text
    assert "[default: 0]" not in text
