"""Boards recorded on their operations; credit grants in the pacing rows.

- `operations.finished_at`: when an operation ended. A done operation that made a board is
  now that board's record (listed newest `finished_at` first, index
  `ix_operations_user_finished`), so finishing the operation and recording the board is one
  statement. `web_boards` goes: each of its rows already had its operation (the board id,
  name and link are in the operation's result), whose `finished_at` becomes the row's
  `created_at`; a row without one (none are expected) becomes a done operation of its own.
- `pacing_budgets.last_grant`: the credits a statement granted to a process (read back
  through `RETURNING`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__: list[str] = []

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_operations = sa.table(
    "operations",
    sa.column("id", sa.String),
    sa.column("app_user_id", sa.String),
    sa.column("idempotency_key", sa.String),
    sa.column("kind", sa.String),
    sa.column("params", sa.JSON),
    sa.column("connection_id", sa.String),
    sa.column("miro_user_id", sa.String),
    sa.column("miro_team_id", sa.String),
    sa.column("state", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("created_board_id", sa.String),
    sa.column("result", sa.JSON),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("finished_at", sa.DateTime(timezone=True)),
)
_web_boards = sa.table(
    "web_boards",
    sa.column("app_user_id", sa.String),
    sa.column("board_id", sa.String),
    sa.column("name", sa.String),
    sa.column("view_link", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.add_column(
        "operations",
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    o, w = _operations, _web_boards
    op.execute(
        o.update()
        .where(o.c.state.in_(["done", "failed"]))
        .values(finished_at=o.c.updated_at)
    )
    recorded = (
        sa.select(w.c.created_at)
        .where(w.c.app_user_id == o.c.app_user_id, w.c.board_id == o.c.created_board_id)
        .scalar_subquery()
    )
    matched = sa.exists().where(
        w.c.app_user_id == o.c.app_user_id, w.c.board_id == o.c.created_board_id
    )
    op.execute(
        o.update()
        .where(o.c.state == "done", o.c.created_board_id.is_not(None), matched)
        .values(finished_at=recorded)
    )
    orphans = op.get_bind().execute(
        sa.select(w).where(
            ~sa.exists(sa.select(o.c.id).where(o.c.created_board_id == w.c.board_id))
        )
    )
    rows = [
        {
            "id": uuid.uuid4().hex,
            "app_user_id": row.app_user_id,
            "idempotency_key": f"migrated:{row.board_id}",
            "kind": "create_board",
            "params": {"name": row.name},
            "connection_id": "",
            "miro_user_id": "",
            "miro_team_id": "",
            "state": "done",
            "attempts": 1,
            "created_board_id": row.board_id,
            "result": {
                "board_id": row.board_id,
                "name": row.name,
                "view_link": row.view_link,
            },
            "started_at": row.created_at,
            "updated_at": row.created_at,
            "finished_at": row.created_at,
        }
        for row in orphans
    ]
    if rows:
        op.bulk_insert(_operations, rows)
    op.create_index(
        "ix_operations_user_finished", "operations", ["app_user_id", "finished_at"]
    )
    op.drop_index(op.f("ix_web_boards_app_user_id"), table_name="web_boards")
    op.drop_table("web_boards")
    op.add_column(
        "pacing_budgets",
        sa.Column("last_grant", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("pacing_budgets") as batch:
        batch.drop_column("last_grant")
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
    o = _operations
    boards = op.get_bind().execute(
        sa.select(o.c.app_user_id, o.c.created_board_id, o.c.result, o.c.finished_at)
        .where(
            o.c.state == "done",
            o.c.created_board_id.is_not(None),
            o.c.kind.in_(["create_board", "copy_board"]),
        )
        .order_by(o.c.finished_at, o.c.id)
    )
    rows = [
        {
            "app_user_id": row.app_user_id,
            "board_id": row.created_board_id,
            "name": str((row.result or {}).get("name") or "")[:255],
            "view_link": str((row.result or {}).get("view_link") or "")[:2048],
            "created_at": row.finished_at,
        }
        for row in boards
    ]
    if rows:
        op.bulk_insert(_web_boards, rows)
    op.drop_index("ix_operations_user_finished", table_name="operations")
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("finished_at")
