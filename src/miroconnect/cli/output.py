"""What the operator commands' output shares: a console that does not wrap ids, and
times in one format. (Running their work, and their errors as one `error:` line, is
`miroconnect.cli.database`.)"""

from __future__ import annotations

from datetime import datetime

from rich.console import Console

__all__ = ["console", "when"]


def console() -> Console:
    found = Console()
    # Piped or captured output: do not wrap ids at 80 columns.
    return found if found.is_terminal else Console(width=200)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"
