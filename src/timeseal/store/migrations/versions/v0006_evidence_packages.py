"""evidence packages

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 14:48:43.615095
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_packages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("package_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["evidence_cases.id"], name=op.f("evidence_packages_case_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["accounts.id"], name=op.f("evidence_packages_owner_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["evidence_records.id"], name=op.f("evidence_packages_record_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("evidence_packages_pkey")),
        sa.UniqueConstraint("owner_id", "fingerprint", name=op.f("evidence_packages_owner_id_key")),
    )


def downgrade() -> None:
    op.drop_table("evidence_packages")
