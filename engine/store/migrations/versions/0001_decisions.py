"""The decision tables: ``decisions`` and ``decision_rules`` (append-only).

Stores created before migrations existed (``create_all``) already hold these
tables with this exact shape: the revision then only records itself.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the decision tables unless a pre-migration store already has them."""
    if sa.inspect(op.get_bind()).has_table("decisions"):
        return
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(36), primary_key=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("seller_id", sa.String(200), nullable=False),
        sa.Column("pack_id", sa.String(200), nullable=False),
        sa.Column("pack_version", sa.String(100), nullable=False),
        sa.Column("pack_digest", sa.String(80), nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
    )
    op.create_index("ix_decisions_run_id", "decisions", ["run_id"])
    op.create_index(
        "ix_decisions_pack_seller_as_of", "decisions", ["pack_id", "seller_id", "as_of"]
    )
    op.create_table(
        "decision_rules",
        sa.Column(
            "decision_id",
            sa.String(36),
            sa.ForeignKey("decisions.decision_id"),
            primary_key=True,
        ),
        sa.Column("rule_id", sa.String(200), primary_key=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("fired", sa.Boolean(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    """Drop the decision tables (and every decision in them)."""
    op.drop_table("decision_rules")
    op.drop_table("decisions")
