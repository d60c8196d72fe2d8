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
from typing import Any, cast

from sqlalchemy import Connection as SQLConnection
from sqlalchemy import Table, bindparam, delete, or_, select, update
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
    fill_row,
    new_row,
    to_connection,
    upsert_connection_now,
)
from miroconnect.storage.db import Database
from miroconnect.storage.flow_statements import FlowStatements, row_values
from miroconnect.storage.models import PendingConsentRow
from miroconnect.storage.outbox import CONNECTION_CREATED, Outbox, connection_event
from miroconnect.storage.sealing import open_tokens, seal_tokens

__all__ = ["SQLConsentStore"]

H = cast(Table, PendingConsentRow.__table__)


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
    connection: SQLConnection,
    statements: _Statements,
    cipher: TokenCipher,
    consent: HeldConsent,
    *,
    now: datetime,
    outbox: Outbox | None,
) -> Connection:
    """The held consent's tokens become the flow user's connection, in `connection`'s
    transaction; the consent is `confirmed` and keeps no tokens.

    A first connection (the common case) is one `INSERT ... ON CONFLICT DO NOTHING`; a
    reconnect, whose (user, team) row exists, locks and updates that row as the callback
    does (`upsert_connection_now`)."""
    if consent.tokens is None or consent.status is not ConsentStatus.HELD:
        raise ValueError("only a held consent with its tokens can be activated")
    row = new_row(consent.app_user_id, consent.identity.team_id, now)
    fill_row(cipher, row, consent.identity, consent.tokens, now)
    inserted = connection.execute(statements.insert_connection, row_values(row)).first()
    if inserted is not None:
        made = to_connection(row)
        if outbox is not None:
            event = connection_event(CONNECTION_CREATED, made)
            outbox.add_now(connection, event, now=now)
    else:
        with Session(bind=connection) as session:
            made = upsert_connection_now(
                session,
                cipher,
                app_user_id=consent.app_user_id,
                identity=consent.identity,
                tokens=consent.tokens,
                now=now,
                outbox=outbox,
            )
    connection.execute(
        statements.confirm,
        {"consent": consent.id, "now": now, "connection": made.id},
    )
    return made


class _Statements:
    """The confirm's statements, built once: Core, no ORM unit of work in the
    transaction that holds the consent's lock (on SQLite, the write lock)."""

    def __init__(self, flow: FlowStatements) -> None:
        now = bindparam("now", type_=H.c.decided_at.type)
        consent = H.c.id == bindparam("consent")
        self.lock = (
            select(H).where(H.c.result_hash == bindparam("hash")).with_for_update()
        )
        self.confirm = (
            update(H)
            .where(consent)
            .values(
                status=ConsentStatus.CONFIRMED.value,
                decided_at=now,
                connection_id=bindparam("connection"),
                access_token_ciphertext=None,
                refresh_token_ciphertext=None,
                key_id=None,
            )
        )
        # `refused` or `expired`: the tokens stay until they are revoked at Miro.
        self.close = (
            update(H).where(consent).values(status=bindparam("status"), decided_at=now)
        )
        self.insert_connection = flow.insert_connection.statement


class SQLConsentStore:
    """Implements `ConsentStore` on a `Database`; with `outbox`, a confirmed consent
    writes its `connection.*` event."""

    def __init__(
        self, db: Database, cipher: TokenCipher, *, outbox: Outbox | None = None
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.outbox = outbox
        flow = FlowStatements(db)
        self._insert = flow.hold_consent
        self._sql = _Statements(flow)

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
        cipher, outbox, sql = self.cipher, self.outbox, self._sql

        def work(connection: SQLConnection) -> DecidedConsent | None:
            found = connection.execute(sql.lock, {"hash": result_hash}).first()
            if found is None:
                return None
            # A transient ORM object: its ciphertexts open as a consent's (`sealing`).
            consent = _to_consent(cipher, PendingConsentRow(**found._mapping))
            status = decide(consent)
            made = None
            if status is ConsentStatus.CONFIRMED:
                made = _activate_now(
                    connection, sql, cipher, consent, now=now, outbox=outbox
                )
            elif status is not None:
                if status not in (ConsentStatus.REFUSED, ConsentStatus.EXPIRED):
                    raise ValueError(
                        f"a consent is closed as refused or expired, not {status}"
                    )
                connection.execute(
                    sql.close,
                    {"consent": consent.id, "status": status.value, "now": now},
                )
            return DecidedConsent(consent, status, made)

        decided = await self.db.run_in_transaction(work)
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
