"""Initial schema: the TSA's serial epochs and issuance journal, the Merkle log's tables.

Exactly the tables ``metadata.create_all`` made before there were migrations
(``timeseal.store.issuance``, ``timeseal.store.log``), so that such a database is stamped
with this revision rather than migrated.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 12:27:18
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("log_entries_pkey")),
        sa.UniqueConstraint("leaf_index", name=op.f("log_entries_leaf_index_key")),
    )
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.create_index("ix_log_entries_leaf_hash", ["leaf_hash"], unique=False)

    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("edge", sa.LargeBinary(), nullable=False),
        sa.Column("checkpoint", sa.LargeBinary(), nullable=False),
        sa.Column("cosigned_checkpoint", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("log_state_pkey")),
    )
    op.create_table(
        "log_tiles",
        sa.Column("path", sa.String(length=96), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("log_tiles_pkey")),
    )
    op.create_table(
        "tsa_issuance_journal",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("serial_number", sa.String(length=40), nullable=False),
        sa.Column("gen_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("hash_algorithm", sa.String(length=16), nullable=False),
        sa.Column("message_imprint", sa.LargeBinary(), nullable=False),
        sa.Column("policy", sa.String(length=255), nullable=False),
        sa.Column("token_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("tsa_issuance_journal_pkey")),
        sa.UniqueConstraint("serial_number", name=op.f("tsa_issuance_journal_serial_number_key")),
    )
    op.create_table(
        "tsa_serial_epochs",
        sa.Column("epoch", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("epoch", name=op.f("tsa_serial_epochs_pkey")),
    )


def downgrade() -> None:
    op.drop_table("tsa_serial_epochs")
    op.drop_table("tsa_issuance_journal")
    op.drop_table("log_tiles")
    op.drop_table("log_state")
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_log_entries_leaf_hash")

    op.drop_table("log_entries")
