"""login codes per client; drop the dead lock columns

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00.000000

- ``login_codes``: one code per (number, client) instead of one per number in
  ``auth_phones``, so a stranger's code request no longer replaces the owner's code
  (issue 12). Every code stored in ``auth_phones`` moves over, live or not (a used or expired
  one still answers "used" or "expired" until it is purged), under the client key
  ``migrated``, which no client has: the next code its asker gets sits beside it, and it
  expires within ``code_ttl``.
- ``auth_phones`` keeps only the number's lock row: ``code_*`` and the number lock's
  ``failures`` and ``locked_until_ms`` (always 0 since issue 12) go.
- ``evidence_shares.code_failures`` and ``code_window_ms``: the link-wide lock they kept went
  in issue 12 (``share_code_failures`` counts per client); nothing read them.

Downgrading drops the codes (at most minutes old: their owners ask again).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MIGRATED_CLIENT = "migrated"


def upgrade() -> None:
    op.create_table(
        "login_codes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("client_key", sa.String(length=80), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sent_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("login_codes_pkey")),
        sa.UniqueConstraint("phone", "client_key", name=op.f("login_codes_phone_key")),
    )
    op.execute(
        sa.text(
            "INSERT INTO login_codes (phone, client_key, code_hash, sent_at_ms, expires_at_ms,"
            " attempts, used_at_ms)"
            " SELECT phone, :client, code_hash, code_sent_at_ms, code_expires_at_ms,"
            " code_attempts, code_used_at_ms FROM auth_phones"
            " WHERE code_hash IS NOT NULL AND code_sent_at_ms IS NOT NULL"
            " AND code_expires_at_ms IS NOT NULL"
        ).bindparams(client=MIGRATED_CLIENT)
    )
    with op.batch_alter_table("auth_phones", schema=None) as batch_op:
        for column in (
            "code_hash",
            "code_sent_at_ms",
            "code_expires_at_ms",
            "code_attempts",
            "code_used_at_ms",
            "failures",
            "locked_until_ms",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.drop_column("code_failures")
        batch_op.drop_column("code_window_ms")


def downgrade() -> None:
    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code_failures", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("code_window_ms", sa.BigInteger(), nullable=True))
    op.execute(
        sa.text("UPDATE evidence_shares SET code_failures = 0, code_window_ms = created_at_ms")
    )
    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.alter_column("code_failures", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("code_window_ms", existing_type=sa.BigInteger(), nullable=False)

    with op.batch_alter_table("auth_phones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code_hash", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("code_sent_at_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("code_expires_at_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("code_attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("code_used_at_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("locked_until_ms", sa.BigInteger(), nullable=True))
    op.execute(
        sa.text("UPDATE auth_phones SET code_attempts = 0, failures = 0, locked_until_ms = 0")
    )
    with op.batch_alter_table("auth_phones", schema=None) as batch_op:
        for column, kind in (
            ("code_attempts", sa.Integer()),
            ("failures", sa.Integer()),
            ("locked_until_ms", sa.BigInteger()),
        ):
            batch_op.alter_column(column, existing_type=kind, nullable=False)
    op.drop_table("login_codes")
