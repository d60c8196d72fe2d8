"""`SQLConsentStore`: service-mode consents held until the host app confirms them.

The tokens of a held consent are sealed like a connection's (`miroconnect.storage.sealing`),
bound to the `pending_consents` row and its owner. A confirm decides under a row lock
(`SELECT ... FOR UPDATE` on PostgreSQL, the IMMEDIATE transaction on SQLite), and turning a
consent into a connection happens in that same transaction: the consent is `confirmed` and
the connection stored together (with its webhook event, when an `Outbox` is given), or
none of them. The whole decision is one `Database.run_in_transaction`: on SQLite one trip
to the driver's thread, so the write lock is never held while the event loop is awaited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from miroconnect.crypto import TokenCipher
from miroconnect.oauth.store import (
    ConsentStatus,
    DecidedConsent,
    HeldConsent,
    NewHeldConsent,
)
from miroconnect.oauth.tokens import Connection, MiroIdentity
from miroconnect.storage.connection_rows import (
    action_columns,
    action_of,
    upsert_connection_now,
)
from miroconnect.storage.db import Database
from miroconnect.storage.flow_statements import FlowStatements, row_values
from miroconnect.storage.models import PendingConsentRow
from miroconnect.storage.outbox import Outbox
from miroconnect.storage.sealing import open_tokens, seal_tokens

__all__ = ["SQLConsentStore"]


def _to_consent(cipher: TokenCipher, row: PendingConsentRow) -> HeldConsent:
    return HeldConsent(
        id=row.id,
        flow_id=row.flow_id,
        app_user_id=row.app_user_id,
        action=action_of(row),
        identity=MiroIdentity(
            user_id=row.miro_user_id,
            team_id=row.miro_team_id,
            user_name=row.miro_user_name,
            team_name=row.miro_team_name,
            scopes=tuple(row.scopes.split()),
        ),
        status=ConsentStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        connection_id=row.connection_id,
        tokens=open_tokens(cipher, row),
    )


def _activate_now(
    session: Session,
    cipher: TokenCipher,
    row: PendingConsentRow,
    consent: HeldConsent,
    *,
    now: datetime,
    outbox: Outbox | None,
) -> Connection:
    """The held consent's tokens become the flow user's connection, in `session`'s
    transaction; the consent is `confirmed` and keeps no tokens."""
    if consent.tokens is None or consent.status is not ConsentStatus.HELD:
        raise ValueError("only a held consent with its tokens can be activated")
    connection = upsert_connection_now(
        session,
        cipher,
        app_user_id=consent.app_user_id,
        identity=consent.identity,
        tokens=consent.tokens,
        now=now,
        outbox=outbox,
    )
    row.status = ConsentStatus.CONFIRMED.value
    row.decided_at = now
    row.connection_id = connection.id
    row.access_token_ciphertext = None
    row.refresh_token_ciphertext = None
    row.key_id = None
    session.flush()
    return connection


class SQLConsentStore:
    """Implements `ConsentStore` on a `Database`; with `outbox`, a confirmed consent
    writes its `connection.*` event."""

    def __init__(
        self, db: Database, cipher: TokenCipher, *, outbox: Outbox | None = None
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.outbox = outbox
        self._insert = FlowStatements(db).hold_consent

    async def hold_consent(self, consent: NewHeldConsent) -> None:
        """One INSERT of the consent, its tokens sealed to the new row."""
        identity = consent.identity
        row = PendingConsentRow(
            id=consent.id,
            result_hash=consent.result_hash,
            flow_id=consent.flow_id,
            app_user_id=consent.app_user_id,
            **action_columns(consent.action),
            miro_user_id=identity.user_id,
            miro_user_name=identity.user_name,
            miro_team_id=identity.team_id,
            miro_team_name=identity.team_name,
            scopes=" ".join(identity.scopes),
            status=ConsentStatus.HELD.value,
            created_at=consent.created_at,
            expires_at=consent.expires_at,
        )
        seal_tokens(self.cipher, row, consent.tokens)
        await self.db.run(self._insert, row_values(row))

    async def decide_consent(
        self,
        result_hash: str,
        decide: Callable[[HeldConsent], ConsentStatus | None],
        *,
        now: datetime,
    ) -> DecidedConsent | None:
        """The confirm's decision in one transaction, run by the database in one go (on
        SQLite, one trip to the driver's thread: the write lock is never held across a
        wait for the event loop). Once it has started, cancelling the caller does not
        stop it: a decision may be committed that the caller never hears of (a repeat
        of the confirm answers it; the maintenance job revokes a refused one)."""
        cipher, outbox = self.cipher, self.outbox

        def work(session: Session) -> DecidedConsent | None:
            row = session.scalar(
                select(PendingConsentRow)
                .where(PendingConsentRow.result_hash == result_hash)
                .with_for_update()
            )
            if row is None:
                return None
            consent = _to_consent(cipher, row)
            status = decide(consent)
            made = None
            if status is ConsentStatus.CONFIRMED:
                made = _activate_now(
                    session, cipher, row, consent, now=now, outbox=outbox
                )
            elif status is not None:
                _close(row, status, now=now)
                session.flush()
            return DecidedConsent(consent, status, made)

        decided = await self.db.run_in_session(work)
        if outbox is not None and decided is not None and decided.connection:
            outbox.written()  # committed: a woken worker finds the event
        return decided

    async def expire_consent(self, consent_id: str, *, now: datetime) -> bool:
        """`held` -> `expired`, only if still held (the maintenance job's step)."""
        C = PendingConsentRow
        async with self.db.single_session() as session, session.begin():
            result: Any = await session.execute(
                update(C)
                .where(C.id == consent_id, C.status == ConsentStatus.HELD.value)
                .values(status=ConsentStatus.EXPIRED.value, decided_at=now)
            )
            return int(result.rowcount or 0) == 1

    async def forget_consent_tokens(self, consent_id: str) -> None:
        """Delete a decided consent's ciphertexts (one UPDATE)."""
        C = PendingConsentRow
        async with self.db.single_session() as session, session.begin():
            await session.execute(
                update(C)
                .where(C.id == consent_id, C.status != ConsentStatus.HELD.value)
                .values(
                    access_token_ciphertext=None,
                    refresh_token_ciphertext=None,
                    key_id=None,
                )
            )

    async def consents_to_close(
        self, *, now: datetime, limit: int
    ) -> Sequence[HeldConsent]:
        """Held past expiry, or decided against with tokens still there; oldest first."""
        C = PendingConsentRow
        statement = (
            select(C)
            .where(
                C.access_token_ciphertext.is_not(None),
                or_(
                    C.status.in_(
                        [ConsentStatus.REFUSED.value, ConsentStatus.EXPIRED.value]
                    ),
                    (C.status == ConsentStatus.HELD.value) & (C.expires_at <= now),
                ),
            )
            .order_by(C.expires_at)
            .limit(limit)
        )
        async with self.db.single_session() as session:
            rows = list(await session.scalars(statement))
            return [_to_consent(self.cipher, row) for row in rows]

    async def delete_old_consents(self, *, before: datetime) -> int:
        """Delete consents that expired before `before` and hold no tokens any more."""
        C = PendingConsentRow
        async with self.db.single_session() as session, session.begin():
            result: Any = await session.execute(
                delete(C).where(
                    C.expires_at < before, C.access_token_ciphertext.is_(None)
                )
            )
            return int(result.rowcount or 0)


def _close(row: PendingConsentRow, status: ConsentStatus, *, now: datetime) -> None:
    """`refused` or `expired`; the tokens stay until they are revoked at Miro."""
    if status not in (ConsentStatus.REFUSED, ConsentStatus.EXPIRED):
        raise ValueError(f"a consent is closed as refused or expired, not {status}")
    row.status = status.value
    row.decided_at = now
