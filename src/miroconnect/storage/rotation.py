"""Key rotation: re-encrypt every stored token under the primary key, online.

Two tables hold tokens: `connections`, and `pending_consents` (service-mode consents
waiting up to 10 minutes for the host's confirm). Each row is rewritten in its own short
transaction under the same lock the refresh or the confirm takes, so rotation runs while
the service serves: a refresh and a rotation of one row queue behind each other and
neither loses the other's write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select

from miroconnect.crypto import TokenCipher
from miroconnect.storage.db import Database
from miroconnect.storage.models import ConnectionRow, PendingConsentRow
from miroconnect.storage.repository import SQLStore
from miroconnect.storage.sealing import reseal

__all__ = ["RotationReport", "count_by_key", "one_connection_under", "rotate_keys"]

Progress = Callable[[int, int], None]
"""Called as `progress(done, total)` after each row."""

_TABLES: tuple[type[ConnectionRow] | type[PendingConsentRow], ...] = (
    ConnectionRow,
    PendingConsentRow,
)


@dataclass(frozen=True)
class RotationReport:
    """How many rows were re-encrypted, and under which key."""

    rotated: int
    primary_key_id: str


async def count_by_key(store: SQLStore) -> Mapping[str, int]:
    """Rows holding tokens, per key id: an old key may go once its count is 0."""
    counts: Counter[str] = Counter()
    async with store.db.session() as session:
        for model in _TABLES:
            rows = await session.execute(
                select(model.key_id, func.count())
                .where(model.key_id.is_not(None))
                .group_by(model.key_id)
            )
            counts.update({str(key_id): int(count) for key_id, count in rows})
    return dict(counts)


async def one_connection_under(store: SQLStore, key_id: str) -> str | None:
    """The id of one connection sealed under `key_id` (a sample to test the key on)."""
    async with store.db.session() as session:
        found = await session.scalar(
            select(ConnectionRow.id).where(ConnectionRow.key_id == key_id).limit(1)
        )
    return None if found is None else str(found)


async def rotate_keys(
    store: SQLStore, *, progress: Progress | None = None, batch_size: int = 200
) -> RotationReport:
    """Re-encrypt every row not under the primary key; see the module docstring.

    A row whose key is not configured raises `EncryptionKeyNotFoundError` naming it.
    """
    primary = store.cipher.primary_key_id
    total = 0
    async with store.db.session() as session:
        for model in _TABLES:
            stale = model.key_id.is_not(None) & (model.key_id != primary)
            total += int(await session.scalar(select(func.count()).where(stale)) or 0)
    done = 0
    if progress is not None:
        progress(done, total)
    for model in _TABLES:
        done = await _rotate_table(
            store.db, store.cipher, model, done, total, progress, batch_size
        )
    return RotationReport(rotated=done, primary_key_id=primary)


async def _rotate_table(
    db: Database,
    cipher: TokenCipher,
    model: type[ConnectionRow] | type[PendingConsentRow],
    done: int,
    total: int,
    progress: Progress | None,
    batch_size: int,
) -> int:
    primary = cipher.primary_key_id
    stale = model.key_id.is_not(None) & (model.key_id != primary)
    after = ""
    while True:
        async with db.session() as session:
            ids = list(
                await session.scalars(
                    select(model.id)
                    .where(stale, model.id > after)
                    .order_by(model.id)
                    .limit(batch_size)
                )
            )
        if not ids:
            return done
        for row_id in ids:
            async with db.write_session() as session, session.begin():
                row: ConnectionRow | PendingConsentRow | None = await session.scalar(
                    select(model).where(model.id == row_id).with_for_update()
                )
                if row is not None and row.key_id not in (None, primary):
                    reseal(cipher, row)
                    done += 1
            if progress is not None:
                progress(done, max(total, done))
        after = ids[-1]
