"""What the operator commands' output shares: a console that does not wrap ids, cells
that show stored text as it is (`plain`), and times in one format. (Running their work,
and their errors as one `error:` line, is `miroconnect.cli.database`.)"""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.text import Text

from miroconnect.logs import printable

__all__ = ["console", "plain", "when"]


def console() -> Console:
    found = Console()
    # Piped or captured output: do not wrap ids at 80 columns.
    return found if found.is_terminal else Console(width=200)


def plain(value: str) -> Text:
    """A table cell of stored or user-chosen text (a Miro user's name, an error) as it
    is: never read as Rich markup (`[link=...]`, `[/]`), control characters escaped."""
    return Text(printable(value))


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"
