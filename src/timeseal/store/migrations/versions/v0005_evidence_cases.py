"""evidence cases

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 14:30:08.824534
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_cases",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["accounts.id"], name=op.f("evidence_cases_owner_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("evidence_cases_pkey")),
    )
    with op.batch_alter_table("evidence_cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_evidence_cases_owner", ["owner_id", "updated_at_ms"], unique=False
        )

    op.create_table(
        "evidence_case_items",
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("added_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["evidence_cases.id"], name=op.f("evidence_case_items_case_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["evidence_records.id"], name=op.f("evidence_case_items_record_id_fkey")
        ),
        sa.PrimaryKeyConstraint("case_id", "record_id", name=op.f("evidence_case_items_pkey")),
    )
    with op.batch_alter_table("evidence_case_items", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_case_items_record", ["record_id"], unique=False)

    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(
            "ix_evidence_shares_owner_case", ["owner_id", "case_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("evidence_shares_case_id_fkey"), "evidence_cases", ["case_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("evidence_shares_case_id_fkey"), type_="foreignkey")
        batch_op.drop_index("ix_evidence_shares_owner_case")
        batch_op.drop_column("case_id")

    with op.batch_alter_table("evidence_case_items", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_case_items_record")

    op.drop_table("evidence_case_items")
    with op.batch_alter_table("evidence_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_cases_owner")

    op.drop_table("evidence_cases")
