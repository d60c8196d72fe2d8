"""Connections and pending authorizations.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("app_user_id", sa.String(length=255), nullable=False),
        sa.Column("miro_team_id", sa.String(length=64), nullable=False),
        sa.Column("miro_team_name", sa.String(length=255), nullable=True),
        sa.Column("miro_user_id", sa.String(length=64), nullable=False),
        sa.Column("miro_user_name", sa.String(length=255), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.String(length=255), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("access_token_ciphertext", sa.Text(), nullable=True),
        sa.Column("refresh_token_ciphertext", sa.Text(), nullable=True),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('connected', 'needs_reauth', 'removed')",
            name=op.f("ck_connections_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint(
            "app_user_id",
            "miro_team_id",
            name=op.f("uq_connections_app_user_id"),
        ),
    )
    op.create_index(op.f("ix_connections_app_user_id"), "connections", ["app_user_id"])
    op.create_index(op.f("ix_connections_key_id"), "connections", ["key_id"])
    op.create_index(
        op.f("ix_connections_refresh_issued_at"),
        "connections",
        ["refresh_issued_at"],
    )
    op.create_table(
        "pending_authorizations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=True),
        sa.Column("binding_hash", sa.String(length=64), nullable=True),
        sa.Column("launch_hash", sa.String(length=64), nullable=True),
        sa.Column("app_user_id", sa.String(length=255), nullable=False),
        sa.Column("action_kind", sa.String(length=100), nullable=True),
        sa.Column("action_params", sa.JSON(), nullable=True),
        sa.Column("action_idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("launch_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_authorizations")),
        sa.UniqueConstraint(
            "launch_hash", name=op.f("uq_pending_authorizations_launch_hash")
        ),
        sa.UniqueConstraint(
            "state_hash", name=op.f("uq_pending_authorizations_state_hash")
        ),
    )
    op.create_index(
        op.f("ix_pending_authorizations_expires_at"),
        "pending_authorizations",
        ["expires_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_pending_authorizations_expires_at"),
        table_name="pending_authorizations",
    )
    op.drop_table("pending_authorizations")
    op.drop_index(op.f("ix_connections_refresh_issued_at"), table_name="connections")
    op.drop_index(op.f("ix_connections_key_id"), table_name="connections")
    op.drop_index(op.f("ix_connections_app_user_id"), table_name="connections")
    op.drop_table("connections")
