"""Pack approvals, scheduled activations and the activation history.

``pack_approvals`` records each approval of a pack version: who approved it
(an admin other than its uploader), their comment, when, and an optional
``impact`` (JSON text: a report of the version against the active one). One
approval per approver and version.

``pack_versions.activate_at`` (with ``scheduled_by``) holds a pending
scheduled activation: the version becomes the active one at that instant.
At most one version per pack has one (a partial unique index).

``pack_activations`` records every activation with the instant from which
the version was in force, so that an evaluation for a past ``as_of`` can use
the version active then. It is backfilled from the ``audit`` rows whose
action is ``activate``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("state = 'active'")
_SCHEDULED = sa.text("activate_at IS NOT NULL")


def upgrade() -> None:
    """Create ``pack_approvals`` and ``pack_activations`` (backfilled); add the schedule."""
    op.create_table(
        "pack_approvals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pack_id", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=True),
        sa.UniqueConstraint("pack_id", "version", "approver", name="uq_pack_approval"),
    )
    op.create_table(
        "pack_activations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pack_id", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_pack_activations_pack_at", "pack_activations", ["pack_id", "at"])
    op.add_column("pack_versions", sa.Column("activate_at", sa.DateTime(), nullable=True))
    op.add_column("pack_versions", sa.Column("scheduled_by", sa.String(200), nullable=True))
    op.create_index(
        "ux_pack_versions_one_scheduled",
        "pack_versions",
        ["pack_id"],
        unique=True,
        sqlite_where=_SCHEDULED,
        postgresql_where=_SCHEDULED,
    )
    op.execute(
        "INSERT INTO pack_activations (pack_id, version, at, actor, detail) "
        "SELECT subject, to_version, at, actor, detail FROM audit "
        "WHERE action = 'activate' AND to_version IS NOT NULL ORDER BY id"
    )


def downgrade() -> None:
    """Drop the schedule columns, ``pack_activations`` and ``pack_approvals``.

    The partial unique index of 0002 on ``pack_versions`` is dropped and made
    again around the column drop (SQLite rebuilds the table for it).
    """
    op.drop_index("ux_pack_versions_one_scheduled", table_name="pack_versions")
    op.drop_index("ux_pack_versions_one_active", table_name="pack_versions")
    with op.batch_alter_table("pack_versions") as batch:
        batch.drop_column("scheduled_by")
        batch.drop_column("activate_at")
    op.create_index(
        "ux_pack_versions_one_active",
        "pack_versions",
        ["pack_id"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.drop_index("ix_pack_activations_pack_at", table_name="pack_activations")
    op.drop_table("pack_activations")
    op.drop_table("pack_approvals")
