"""database identity

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:30:00.000000

A one-row table holding the database's UUID; the data directory records it in config.json
and refuses to run on another database (issue 12, point 5). Existing databases get their id
here, like new ones.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "database_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("database_id", sa.String(length=36), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("database_identity_pkey")),
    )
    op.bulk_insert(
        table,
        [{"id": 1, "database_id": str(uuid.uuid4()), "created_at_ms": int(time.time() * 1000)}],
    )


def downgrade() -> None:
    op.drop_table("database_identity")
