"""Key rotation: re-encrypt every stored token under the primary key, online.

Each row is rewritten in its own short transaction under the same lock the refresh path
takes, so rotation runs while the service serves: a refresh and a rotation of one row
queue behind each other and neither loses the other's write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select

from miroconnect.storage.models import ConnectionRow
from miroconnect.storage.repository import SQLStore

__all__ = ["RotationReport", "count_by_key", "rotate_keys"]

Progress = Callable[[int, int], None]
"""Called as `progress(done, total)` after each row."""


@dataclass(frozen=True)
class RotationReport:
    """How many rows were re-encrypted, and under which key."""

    rotated: int
    primary_key_id: str


async def count_by_key(store: SQLStore) -> Mapping[str, int]:
    """Rows holding tokens, per key id: an old key may go once its count is 0."""
    C = ConnectionRow
    async with store.db.session() as session:
        rows = await session.execute(
            select(C.key_id, func.count())
            .where(C.key_id.is_not(None))
            .group_by(C.key_id)
        )
        return {str(key_id): int(count) for key_id, count in rows}


async def rotate_keys(
    store: SQLStore, *, progress: Progress | None = None, batch_size: int = 200
) -> RotationReport:
    """Re-encrypt every row not under the primary key; see the module docstring.

    A row whose key is not configured raises `EncryptionKeyNotFoundError` naming it.
    """
    C = ConnectionRow
    primary = store.cipher.primary_key_id
    stale = C.key_id.is_not(None) & (C.key_id != primary)
    async with store.db.session() as session:
        total = int(await session.scalar(select(func.count()).where(stale)) or 0)
    done = 0
    if progress is not None:
        progress(done, total)
    after = ""
    while True:
        async with store.db.session() as session:
            ids = list(
                await session.scalars(
                    select(C.id)
                    .where(stale, C.id > after)
                    .order_by(C.id)
                    .limit(batch_size)
                )
            )
        if not ids:
            break
        for connection_id in ids:
            async with store.db.write_session() as session, session.begin():
                row = await session.scalar(
                    select(C).where(C.id == connection_id).with_for_update()
                )
                if row is not None and row.key_id not in (None, primary):
                    store.reencrypt(row)
                    done += 1
            if progress is not None:
                progress(done, max(total, done))
        after = ids[-1]
    return RotationReport(rotated=done, primary_key_id=primary)
