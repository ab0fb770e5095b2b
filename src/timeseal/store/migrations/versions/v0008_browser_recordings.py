"""browser recordings

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 17:12:21.658887
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("mime_type", sa.String(length=127), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("declared", sa.Text(), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sealed_through", sa.Integer(), nullable=True),
        sa.Column("first_token_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_token_ms", sa.BigInteger(), nullable=True),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_chunk_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("joined_sha256", sa.LargeBinary(length=32), nullable=True),
        sa.Column("joined_size", sa.BigInteger(), nullable=True),
        sa.Column("end_link", sa.LargeBinary(length=32), nullable=True),
        sa.Column("end_tsr", sa.LargeBinary(), nullable=True),
        sa.Column("end_token_ms", sa.BigInteger(), nullable=True),
        sa.Column("evidence_number", sa.String(length=24), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["evidence_cases.id"], name=op.f("recordings_case_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["accounts.id"], name=op.f("recordings_owner_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("recordings_pkey")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index("ix_recordings_activity", ["state", "last_chunk_at_ms"], unique=False)
        batch_op.create_index("ix_recordings_owner", ["owner_id", "evidence_number"], unique=False)

    op.create_table(
        "recording_chunks",
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("link", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tsr", sa.LargeBinary(), nullable=True),
        sa.Column("token_ms", sa.BigInteger(), nullable=True),
        sa.Column("received_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name=op.f("recording_chunks_recording_id_fkey")
        ),
        sa.PrimaryKeyConstraint("recording_id", "chunk_index", name=op.f("recording_chunks_pkey")),
    )


def downgrade() -> None:
    op.drop_table("recording_chunks")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_owner")
        batch_op.drop_index("ix_recordings_activity")

    op.drop_table("recordings")
