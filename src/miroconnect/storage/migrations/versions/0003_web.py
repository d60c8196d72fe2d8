"""Web layer: reference-app accounts and the boards made through miroconnect.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_web_accounts_username")),
    )
    op.create_table(
        "web_boards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_user_id", sa.String(length=255), nullable=False),
        sa.Column("board_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("view_link", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_boards")),
        sa.UniqueConstraint(
            "app_user_id", "board_id", name=op.f("uq_web_boards_app_user_id")
        ),
    )
    op.create_index(
        op.f("ix_web_boards_app_user_id"), "web_boards", ["app_user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_web_boards_app_user_id"), table_name="web_boards")
    op.drop_table("web_boards")
    op.drop_table("web_accounts")
