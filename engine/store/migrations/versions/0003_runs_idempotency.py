"""Runs with their state, and idempotency keys of evaluation requests.

``runs`` records every run that writes decisions: its kind (``batch``,
``distributed``, ``service``), pack version and digest, ``as_of``, and its
state: ``started`` until every decision is written, then ``complete`` (or
``failed``). Decisions of a run that is not complete are no history for
escalation, and when a run completes, the decisions that other runs of the
same kind, pack version and ``as_of`` made for its sellers are deleted: the
store keeps one decision per seller, pack version, ``as_of`` and run kind.
Decisions written before this revision have no run row and count as complete.

``idempotency_keys`` keeps, for an ``Idempotency-Key`` header of ``POST
/v1/evaluations``, a hash of the request and the answer sent, written in the
transaction that stores the decisions.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``runs`` and ``idempotency_keys``."""
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("pack_id", sa.String(200), nullable=False),
        sa.Column("pack_version", sa.String(100), nullable=False),
        sa.Column("pack_digest", sa.String(80), nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_runs_key", "runs", ["pack_id", "pack_version", "as_of", "kind"])
    op.create_index("ix_runs_state", "runs", ["state"])
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    """Drop ``idempotency_keys`` and ``runs``."""
    op.drop_table("idempotency_keys")
    op.drop_table("runs")
