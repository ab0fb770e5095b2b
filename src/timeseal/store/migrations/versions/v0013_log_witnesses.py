"""log witnesses

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 07:20:00.000000

Each witness's last cosigned size and last attempt (issue 18, point 9): ``/healthz`` shows
them, and the sequencer catches a witness up after an outage even while the log is idle.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_witnesses",
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("key_label", sa.String(length=255), nullable=False),
        sa.Column("cosigned_size", sa.BigInteger(), nullable=True),
        sa.Column("cosigned_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("tried_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("url", name=op.f("log_witnesses_pkey")),
    )


def downgrade() -> None:
    op.drop_table("log_witnesses")
