"""Client layer: shared rate-limit balances, one row per connection key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pacing_budgets",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("metered", sa.Boolean(), nullable=False),
        sa.Column("credit_limit", sa.Integer(), nullable=True),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("reset_at", sa.Float(), nullable=False),
        sa.Column("seen_remaining", sa.Integer(), nullable=True),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("in_flight_at", sa.Float(), nullable=False),
        sa.Column("probe_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_pacing_budgets")),
    )


def downgrade() -> None:
    op.drop_table("pacing_budgets")
