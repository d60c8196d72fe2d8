"""The statements the tests count, as the drivers are sent them.

`statements()` records, at `before_cursor_execute` on every engine and from the raw-driver
path (`miroconnect.storage.direct.listen`), each statement sent while its block runs
(`BEGIN` and `COMMIT` too), its white space folded: a statement added by any layer shows
up. `statement_kind` names one by its verb and table
(`INSERT operations`), or its first word (`WITH`, `BEGIN`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from miroconnect.storage import direct

__all__ = ["statement_kind", "statements"]


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every statement any engine sends while the block runs (BEGIN and COMMIT too)."""
    seen: list[str] = []

    def record_direct(sql: str) -> None:
        seen.append(" ".join(sql.split()))

    def record(*args: Any) -> None:
        record_direct(str(args[2]))  # (connection, cursor, statement, ...)

    event.listen(Engine, "before_cursor_execute", record)
    direct.listen(record_direct)
    try:
        yield seen
    finally:
        direct.unlisten(record_direct)
        event.remove(Engine, "before_cursor_execute", record)


def statement_kind(statement: str) -> str:
    """`SELECT connections`, `INSERT operations`, `UPDATE operations`; else the first
    word (`WITH`, `BEGIN`, `COMMIT`)."""
    words = statement.split()
    table = {"SELECT": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE"}.get(words[0])
    if table is None:
        return words[0]
    return f"{words[0]} {words[words.index(table) + 1]}"
