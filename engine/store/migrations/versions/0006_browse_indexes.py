"""Indexes for browsing decisions by day: the workbench's decision list, counts and export.

``ix_decisions_as_of_browse`` orders ``decisions`` newest ``as_of`` first,
then by pack id, pack version, seller id and decision id, and carries the
status: the decision list reads a page of a day range in this order without
sorting, and the counts by status over a range read the index alone.

``ix_decisions_fired_browse`` is the same index over the decisions in which
a rule fired only (about one in six): the rows whose ``rules`` list holds a
fired rule (``,true,`` in its compact JSON: ``[rule, outcome, fired,
actions]``), and the rows written before 0002 (no ``rules``; their rules are
all in ``decision_rules``). The rule and action filters and the counts by
action look decisions up in ``decision_rules`` by its primary key (decision
id first); through this index they look up only the decisions that can
match, not every decision of the range. A query uses it by repeating its
``WHERE`` text exactly (:data:`FIRED`).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The rows of ``ix_decisions_fired_browse``: decisions in which a rule fired.
FIRED = "CAST(rules AS TEXT) LIKE '%,true,%' OR rules IS NULL"
_COLUMNS = ["pack_id", "pack_version", "seller_id", "decision_id", "status"]


def upgrade() -> None:
    """Create ``ix_decisions_as_of_browse`` and ``ix_decisions_fired_browse``."""
    op.create_index("ix_decisions_as_of_browse", "decisions", [sa.text("as_of DESC"), *_COLUMNS])
    op.create_index(
        "ix_decisions_fired_browse",
        "decisions",
        [sa.text("as_of DESC"), *_COLUMNS],
        sqlite_where=sa.text(FIRED),
        postgresql_where=sa.text(FIRED),
    )


def downgrade() -> None:
    """Drop both indexes."""
    op.drop_index("ix_decisions_fired_browse", table_name="decisions")
    op.drop_index("ix_decisions_as_of_browse", table_name="decisions")
