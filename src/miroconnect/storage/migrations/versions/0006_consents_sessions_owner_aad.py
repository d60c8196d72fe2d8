"""Held service-mode consents, server-side sign-in sessions, tokens bound to their owner.

- `pending_consents`: a service-mode consent's tokens wait here until the host app
  confirms which of its users finished the flow.
- `web_sessions`: reference-app sessions live on the server, so signing out ends them.
- `throttle_counters`: sign-in attempts per client address and per username, counted in
  the database so that every process enforces one limit.
- `connections.connected_at`: when the latest consent was given (a reconnect's time,
  where `created_at` keeps the first).
- The associated data of every token ciphertext now names the row's owner (app user,
  Miro user, team) besides the row and the field: a row re-pointed to another app user
  no longer decrypts. Existing ciphertexts are re-encrypted here, which needs the keys:
  `miroconnect db upgrade` passes `MIROCONNECT_ENCRYPTION_KEYS` (only a database with
  stored tokens needs them).

The two associated-data formats are written out below, not imported: a migration must
keep doing what it did when it was written.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

from miroconnect.crypto import KeyRing, TokenCipher

__all__: list[str] = []

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIELDS = ("access_token", "refresh_token")
_Row = sa.Row[tuple[str, str, str, str, str | None, str | None]]
_AssociatedData = Callable[[_Row, str], bytes]


def _v1(row: _Row, field: str) -> bytes:
    return f"miroconnect:connections:{row.id}:{field}".encode()


def _v2(row: _Row, field: str) -> bytes:
    values = ["miroconnect.connections.v2", row.id, row.app_user_id]
    values += [row.miro_user_id, row.miro_team_id, field]
    return json.dumps(values, separators=(",", ":")).encode()


def _reencrypt(old: _AssociatedData, new: _AssociatedData) -> None:
    connections = sa.table(
        "connections",
        sa.column("id", sa.String),
        sa.column("app_user_id", sa.String),
        sa.column("miro_user_id", sa.String),
        sa.column("miro_team_id", sa.String),
        sa.column("access_token_ciphertext", sa.Text),
        sa.column("refresh_token_ciphertext", sa.Text),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(connections).where(connections.c.access_token_ciphertext.is_not(None))
    ).all()
    if not rows:
        return
    keys = context.config.attributes.get("encryption_keys")
    if not keys:
        raise RuntimeError(
            f"revision 0006 re-encrypts the {len(rows)} stored token pairs: set "
            "MIROCONNECT_ENCRYPTION_KEYS and run `miroconnect db upgrade` again"
        )
    cipher = TokenCipher(KeyRing.parse(keys))
    for row in rows:
        values: dict[str, str | None] = {}
        for field in _FIELDS:
            ciphertext = getattr(row, f"{field}_ciphertext")
            if ciphertext is not None:
                plaintext = cipher.decrypt(ciphertext, associated_data=old(row, field))
                values[f"{field}_ciphertext"] = cipher.encrypt(
                    plaintext, associated_data=new(row, field)
                )
        bind.execute(
            connections.update().where(connections.c.id == row.id).values(**values)
        )


def upgrade() -> None:
    # First, before any DDL: SQLite does not roll DDL back, so a missing or wrong key
    # must stop the revision before it changed anything.
    _reencrypt(_v1, _v2)
    op.create_table(
        "pending_consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("result_hash", sa.String(length=64), nullable=False),
        sa.Column("flow_id", sa.String(length=32), nullable=False),
        sa.Column("app_user_id", sa.String(length=255), nullable=False),
        sa.Column("action_kind", sa.String(length=100), nullable=True),
        sa.Column("action_params", sa.JSON(), nullable=True),
        sa.Column("action_idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("miro_user_id", sa.String(length=64), nullable=False),
        sa.Column("miro_user_name", sa.String(length=255), nullable=True),
        sa.Column("miro_team_id", sa.String(length=64), nullable=False),
        sa.Column("miro_team_name", sa.String(length=255), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("access_token_ciphertext", sa.Text(), nullable=True),
        sa.Column("refresh_token_ciphertext", sa.Text(), nullable=True),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connection_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "status IN ('held', 'confirmed', 'refused', 'expired')",
            name=op.f("ck_pending_consents_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_consents")),
        sa.UniqueConstraint(
            "result_hash", name=op.f("uq_pending_consents_result_hash")
        ),
    )
    op.create_index(
        op.f("ix_pending_consents_expires_at"), "pending_consents", ["expires_at"]
    )
    op.create_index(op.f("ix_pending_consents_key_id"), "pending_consents", ["key_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["web_accounts.id"],
            name=op.f("fk_web_sessions_account_id_web_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_account_id"), "web_sessions", ["account_id"])
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"])
    op.create_table(
        "throttle_counters",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttle_counters")),
    )
    with op.batch_alter_table("connections") as batch:
        batch.add_column(
            sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    _reencrypt(_v2, _v1)
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("connected_at")
    op.drop_table("throttle_counters")
    op.drop_index(op.f("ix_web_sessions_expires_at"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_account_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index(op.f("ix_pending_consents_key_id"), table_name="pending_consents")
    op.drop_index(op.f("ix_pending_consents_expires_at"), table_name="pending_consents")
    op.drop_table("pending_consents")
