"""Service-mode flows remember how they end: `pending_authorizations.display`.

`redirect` (the browser goes to the return URL with `miro_result`) or `popup` (the flow
ends on a service page that posts the result to the window that opened it). No existing
column can carry it: the return URL is the host's and must stay exactly as given, and a
flow without an action has no parameters. Existing flows end as before (`redirect`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision: str = "0008"
# Rebase onto 0007 at merge (written concurrently with it).
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "pending_authorizations",
        sa.Column(
            "display", sa.String(length=10), server_default="redirect", nullable=False
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("pending_authorizations") as batch:
        batch.drop_column("display")
