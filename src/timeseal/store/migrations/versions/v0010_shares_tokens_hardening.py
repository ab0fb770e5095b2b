"""token expiry and scopes, share privacy, per-client access-code throttle, aggregated views

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:40:00.000000

- ``api_tokens.expires_at_ms`` and ``scope``: tokens made before this revision never expired
  and could do everything; they keep scope ``full`` and expire
  :data:`LEGACY_TOKEN_LIFETIME` after the migration runs (the owner then logs in again).
- ``evidence_shares.show_ip_location``: whether a link shares IP addresses and exact
  locations; false for existing links (the safe default).
- ``evidence_custody.share_id``, ``view_day``, ``last_at_ms``, ``views``: one row per link,
  record, client and day for share views (unique), with first/last time and a count;
  existing rows count 1.
- ``share_code_failures``: wrong access codes per link and client, for the back-off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LEGACY_TOKEN_LIFETIME = dt.timedelta(days=90)


def upgrade() -> None:
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    expires_ms = now_ms + int(LEGACY_TOKEN_LIFETIME.total_seconds() * 1000)

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("scope", sa.String(length=8), nullable=True))
    op.execute(
        sa.text("UPDATE api_tokens SET expires_at_ms = :expires, scope = 'full'").bindparams(
            expires=expires_ms
        )
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at_ms", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("scope", existing_type=sa.String(length=8), nullable=False)

    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.add_column(sa.Column("show_ip_location", sa.Boolean(), nullable=True))
    op.execute(sa.text("UPDATE evidence_shares SET show_ip_location = :no").bindparams(no=False))
    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.alter_column("show_ip_location", existing_type=sa.Boolean(), nullable=False)

    with op.batch_alter_table("evidence_custody", schema=None) as batch_op:
        batch_op.add_column(sa.Column("share_id", ID, nullable=True))
        batch_op.add_column(sa.Column("view_day", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_at_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("views", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("evidence_custody_share_id_fkey"), "evidence_shares", ["share_id"], ["id"]
        )
    op.execute(sa.text("UPDATE evidence_custody SET views = 1"))
    with op.batch_alter_table("evidence_custody", schema=None) as batch_op:
        batch_op.alter_column("views", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(
            "ix_evidence_custody_share_view",
            ["record_id", "share_id", "view_day", "client_ip"],
            unique=True,
        )

    op.create_table(
        "share_code_failures",
        sa.Column("share_id", ID, nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_ms", sa.BigInteger(), nullable=False),
        sa.Column("blocked_until_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["share_id"], ["evidence_shares.id"], name=op.f("share_code_failures_share_id_fkey")
        ),
        sa.PrimaryKeyConstraint("share_id", "client", name=op.f("share_code_failures_pkey")),
    )


def downgrade() -> None:
    op.drop_table("share_code_failures")
    with op.batch_alter_table("evidence_custody", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_custody_share_view")
        batch_op.drop_constraint(op.f("evidence_custody_share_id_fkey"), type_="foreignkey")
        batch_op.drop_column("views")
        batch_op.drop_column("last_at_ms")
        batch_op.drop_column("view_day")
        batch_op.drop_column("share_id")
    with op.batch_alter_table("evidence_shares", schema=None) as batch_op:
        batch_op.drop_column("show_ip_location")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scope")
        batch_op.drop_column("expires_at_ms")
