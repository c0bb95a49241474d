"""Pack versions, the audit trail, API keys; compact rule outcomes on decisions.

``pack_versions`` keeps every uploaded pack version (YAML text as sent, its
digest, author, state ``draft`` | ``active`` | ``retired``); at most one
version per pack is active (a partial unique index). ``audit`` records who
did what and when (uploads, activations, key changes). ``api_keys`` keeps a
SHA-256 hash of each key, never the key.

``decisions.rules`` holds every rule outcome of a decision as one compact
JSON list; from this revision on ``decision_rules`` only receives the rules
that fired (what escalation reads), so an append writes one row per decision
plus one per firing rule. Rows written before keep ``rules`` null and their
full ``decision_rules`` rows.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("state = 'active'")


def upgrade() -> None:
    """Create the pack, audit and key tables; add ``decisions.rules``; index by seller."""
    op.add_column("decisions", sa.Column("rules", sa.JSON(), nullable=True))
    op.create_index("ix_decisions_seller_as_of", "decisions", ["seller_id", "as_of"])
    op.create_table(
        "pack_versions",
        sa.Column("pack_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.CheckConstraint("state IN ('draft', 'active', 'retired')", name="ck_pack_state"),
    )
    op.create_index(
        "ux_pack_versions_one_active",
        "pack_versions",
        ["pack_id"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("from_version", sa.String(100), nullable=True),
        sa.Column("to_version", sa.String(100), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_subject_at", "audit", ["subject", "at"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "role IN ('reader', 'evaluator', 'editor', 'admin')", name="ck_api_key_role"
        ),
    )


def downgrade() -> None:
    """Drop the pack, audit and key tables, the seller index and ``decisions.rules``.

    Decisions appended since the upgrade keep only their firing rules in
    ``decision_rules``; their other outcomes stay in their documents.
    """
    op.drop_table("api_keys")
    op.drop_index("ix_audit_subject_at", table_name="audit")
    op.drop_table("audit")
    op.drop_index("ux_pack_versions_one_active", table_name="pack_versions")
    op.drop_table("pack_versions")
    op.drop_index("ix_decisions_seller_as_of", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("rules")
