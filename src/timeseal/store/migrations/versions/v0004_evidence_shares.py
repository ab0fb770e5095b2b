"""evidence share links

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 13:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_shares",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("token_hint", sa.String(length=8), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("code_salt", sa.LargeBinary(length=16), nullable=True),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("code_failures", sa.Integer(), nullable=False),
        sa.Column("code_window_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("evidence_shares_pkey")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["accounts.id"], name=op.f("evidence_shares_owner_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["evidence_records.id"], name=op.f("evidence_shares_record_id_fkey")
        ),
        sa.UniqueConstraint("token_hash", name=op.f("evidence_shares_token_hash_key")),
    )
    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.create_index(
            "ix_evidence_shares_owner_record", ["owner_id", "record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_shares_owner_record")

    op.drop_table("evidence_shares")
