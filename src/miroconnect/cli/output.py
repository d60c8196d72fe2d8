"""What the operator commands share: a console that does not wrap ids, times in one
format, and our errors as one `error:` line with exit code 1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import typer
from rich.console import Console

from miroconnect.errors import MiroConnectError

__all__ = ["console", "run", "when"]

T = TypeVar("T")


def console() -> Console:
    found = Console()
    # Piped or captured output: do not wrap ids at 80 columns.
    return found if found.is_terminal else Console(width=200)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`, turning our errors into one `error:` line and exit code 1."""
    try:
        return asyncio.run(work())
    except MiroConnectError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
