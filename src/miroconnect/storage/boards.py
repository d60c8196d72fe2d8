"""A user's boards: the done operations that made one, newest first, a page at a time.

A board made through miroconnect is recorded on the operation that made it (its id in
`created_board_id`, its name and link in the result; `miroconnect.storage.operations`), so
listing needs no table of its own. Pages go by keyset: `finished_at` then the operation's
id (ids sort in creation order), so a page never shifts when boards are added.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, literal, or_, select

from miroconnect.storage.db import Database
from miroconnect.storage.operations import BOARD_KINDS, T

__all__ = ["CURSOR_PATTERN", "BoardRecord", "SQLBoardList"]

CURSOR_PATTERN = r"^[0-9]{1,16}-[0-9a-f]{32}$"
"""A page cursor: the last board's end (microseconds since 1970) and its operation's id.
Every string of this form is a position in the list, so none is refused."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BoardRecord:
    """A board made through miroconnect, as its operation recorded it. `view_link` is
    Miro's answer as received: check it before it goes into a page."""

    board_id: str
    name: str
    view_link: str
    created_at: datetime


class SQLBoardList:
    """Pages of a user's boards (one statement each, built once)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        columns = (T.c.created_board_id, T.c.result, T.c.finished_at, T.c.id)
        kinds = [literal(kind, literal_execute=True) for kind in BOARD_KINDS]
        self._first = (
            select(*columns)
            .where(
                T.c.app_user_id == bindparam("user"),
                T.c.kind.in_(kinds),
                T.c.state == literal("done", literal_execute=True),
                T.c.created_board_id.is_not(None),
            )
            .order_by(T.c.finished_at.desc(), T.c.id.desc())
            .limit(bindparam("limit"))
        )
        after = bindparam("after_time", type_=T.c.finished_at.type)
        self._after = self._first.where(
            or_(
                T.c.finished_at < after,
                and_(T.c.finished_at == after, T.c.id < bindparam("after_id")),
            )
        )

    async def page(
        self, app_user_id: str, *, limit: int, cursor: str | None = None
    ) -> tuple[Sequence[BoardRecord], str | None]:
        """Up to `limit` boards made for the user, newest first, and the cursor of the
        next page (`None` on the last). `ValueError` for a cursor not of
        `CURSOR_PATTERN`."""
        params: dict[str, Any] = {"user": app_user_id, "limit": limit + 1}
        statement = self._first
        if cursor is not None:
            params["after_time"], params["after_id"] = _read_cursor(cursor)
            statement = self._after
        rows = list(await self._db.run(statement, params))
        records = [
            BoardRecord(
                board_id=row.created_board_id,
                name=str((row.result or {}).get("name") or ""),
                view_link=str((row.result or {}).get("view_link") or ""),
                created_at=row.finished_at,
            )
            for row in rows[:limit]
        ]
        if len(rows) <= limit:
            return records, None
        last = rows[limit - 1]
        return records, _write_cursor(last.finished_at, last.id)


def _write_cursor(finished_at: datetime, op_id: str) -> str:
    micros = (finished_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{op_id}"


def _read_cursor(cursor: str) -> tuple[datetime, str]:
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise ValueError("not a cursor of this list")
    micros, op_id = cursor.split("-")
    return _EPOCH + timedelta(microseconds=int(micros)), op_id
