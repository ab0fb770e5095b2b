"""public lookup indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 16:41:27.258600
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_records", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_records_content", ["content_sha256"], unique=False)
        batch_op.create_index("ix_evidence_records_supersedes", ["supersedes"], unique=False)
        batch_op.create_index("ix_evidence_records_token", ["token_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_records", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_records_token")
        batch_op.drop_index("ix_evidence_records_supersedes")
        batch_op.drop_index("ix_evidence_records_content")
