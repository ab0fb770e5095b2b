"""upload received

An upload may be sealed without its staging only once its own bytes were hashed, matched and
handed to the blob store (``received_at_ms``): before, a blob that merely existed under the
declared SHA-256 was enough, and a tus DELETE raced against a final PATCH sealed another
account's file into the attacker's (issue 12).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_at_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence_uploads", schema=None) as batch_op:
        batch_op.drop_column("received_at_ms")
