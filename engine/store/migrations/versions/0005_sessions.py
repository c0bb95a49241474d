"""Workbench sessions: a signed-in browser, tied to the API key it signed in with.

``sessions`` keeps the SHA-256 of each session token (the cookie holds the
token, the database never does), the key it belongs to, the session's CSRF
token and its expiry. Expired rows are deleted as new sessions are made.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``sessions``."""
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])


def downgrade() -> None:
    """Drop ``sessions``."""
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_table("sessions")
