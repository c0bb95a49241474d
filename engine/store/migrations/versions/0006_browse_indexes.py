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
action read each decision's ``rules`` there, not every decision of the range.
On SQLite the index also holds ``rules`` itself: it is the row's last column,
after the decision document, so reading it from the table walks the row's
overflow pages, while from the index it costs nothing. On PostgreSQL it is
read from the table (cheaply: the large document is stored apart), and a
B-tree entry there could not hold the list of a pack with very many rules.
A query uses the index by repeating its ``WHERE`` text exactly (:data:`FIRED`).

``ix_decisions_without_rules`` holds the decisions written before 0002 (no
``rules`` list), which those pages read from ``decision_rules`` instead: on
a store younger than that it is empty, and asking whether there are any is
one lookup.

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
_WITHOUT_RULES = "rules IS NULL"
_COLUMNS = ["pack_id", "pack_version", "seller_id", "decision_id", "status"]


def upgrade() -> None:
    """Create ``ix_decisions_as_of_browse``, its fired twin and the index of old rows."""
    op.create_index("ix_decisions_as_of_browse", "decisions", [sa.text("as_of DESC"), *_COLUMNS])
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_index(
        "ix_decisions_fired_browse",
        "decisions",
        [sa.text("as_of DESC"), *_COLUMNS, *(["rules"] if sqlite else [])],
        sqlite_where=sa.text(FIRED),
        postgresql_where=sa.text(FIRED),
    )
    op.create_index(
        "ix_decisions_without_rules",
        "decisions",
        [sa.text("as_of DESC")],
        sqlite_where=sa.text(_WITHOUT_RULES),
        postgresql_where=sa.text(_WITHOUT_RULES),
    )


def downgrade() -> None:
    """Drop the three indexes."""
    op.drop_index("ix_decisions_without_rules", table_name="decisions")
    op.drop_index("ix_decisions_fired_browse", table_name="decisions")
    op.drop_index("ix_decisions_as_of_browse", table_name="decisions")
