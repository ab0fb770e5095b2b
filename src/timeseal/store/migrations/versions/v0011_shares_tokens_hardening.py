"""api token expiry and scopes

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-07 00:40:00.000000

``api_tokens.expires_at_ms`` and ``scope``: tokens made before this revision never expired
and could do everything; they keep scope ``full`` and expire :data:`LEGACY_TOKEN_LIFETIME`
after the migration runs (the owner then logs in again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scope")
        batch_op.drop_column("expires_at_ms")
