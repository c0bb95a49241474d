"""The population a policy change is judged on: one facts table per pack, row for row.

Two packs compared on "the same population" must see the same sellers with
the facts each of them reads. A population comes from:

* a source folder (or DuckDB file) of order events: loaded and validated
  once; metrics computed once for both packs when their metric uses agree,
  and once per pack when they do not (the same name with another window,
  lag or knob);
* a facts file written by ``sellerpolicy metrics``: it must hold every
  field either pack reads, or it is one :class:`FactsError` naming the
  field and the pack;
* the decision log (``replay``): the facts stored with each seller's
  latest decision of the pack id, so no raw data is needed;
* an Arrow table (the Python API).

Every table of a :class:`Population` holds ``seller_id`` and fact columns,
with the same sellers in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from sellerpolicy.engine.batch.facts_file import read_facts_columns, required_fields
from sellerpolicy.engine.errors import FactsError
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.rejects import Reject, write_rejects
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.replay import latest_facts
from sellerpolicy.rules.model import CompiledPack, MetricUse

__all__ = [
    "Population",
    "population_from_facts",
    "population_from_replay",
    "population_from_source",
    "population_from_table",
    "shared_uses",
]


@dataclass(frozen=True, slots=True)
class Population:
    """Facts for each pack (``tables[i]`` for ``packs[i]``), same sellers, same order."""

    tables: tuple[pa.Table, ...]
    origin: str  # "source data/", "facts facts.parquet", "replay sellerpolicy.db"
    rejects: int = 0
    rejects_path: Path | None = None

    @property
    def sellers(self) -> int:
        """How many sellers the population holds."""
        return self.tables[0].num_rows if self.tables else 0


def shared_uses(packs: Sequence[CompiledPack]) -> list[MetricUse] | None:
    """The union of the packs' metric uses, or None when two define one name differently."""
    by_name: dict[str, MetricUse] = {}
    for pack in packs:
        for use in pack.metrics:
            known = by_name.setdefault(use.name, use)
            if known != use:
                return None
    return list(by_name.values())


def population_from_source(
    source: Path,
    packs: Sequence[CompiledPack],
    as_of: datetime,
    *,
    rejects_path: Path | None = None,
) -> Population:
    """Metric facts of every seller of a source, for each pack; rejects written out.

    The source is validated and loaded once. Rejected rows go to
    ``rejects_path`` (written even when empty, as every run does).
    """
    with duckdb.connect() as con:
        report = load_source(source, con)
        if rejects_path is not None:
            write_rejects(report.rejects, rejects_path)
        union = shared_uses(packs)
        if union is not None:
            table = compute_metrics(con, union, as_of).table
            tables = tuple(table for _ in packs)
        else:
            # compute_metrics sorts by seller_id and covers the same sellers for any uses
            tables = tuple(compute_metrics(con, p.metrics, as_of).table for p in packs)
    return Population(tables, f"source {source}", report.reject_count, rejects_path)


def population_from_facts(
    path: Path,
    packs: Sequence[CompiledPack],
    as_of: datetime,
    *,
    rejects_path: Path | None = None,
) -> Population:
    """A facts file that holds every field each pack reads, read once.

    FactsError naming the file, the field and the pack when a pack reads a
    field the file lacks (the same checks as ``evaluate --facts``: format,
    one row per seller, ``as_of``). Rows whose numbers contradict each other
    are left out and written to ``rejects_path``.
    """
    if not packs:
        raise ValueError("a population is judged by at least one pack")
    rejected: list[Reject] = []
    schema, batches = read_facts_columns(
        path, packs[0], as_of, chunk_size=131_072, rejected=rejected
    )
    for pack in packs[1:]:
        _check_fields(schema.names, pack, f"{path}")
    table = pa.Table.from_batches(list(batches), schema=schema)
    if rejects_path is not None:
        write_rejects(rejected, rejects_path)
    return Population(tuple(table for _ in packs), f"facts {path}", len(rejected), rejects_path)


def population_from_replay(
    store: DecisionStore,
    packs: Sequence[CompiledPack],
    *,
    since: datetime | None = None,
) -> Population:
    """The facts stored with each seller's latest decision of the packs' id.

    Only decisions of complete runs count, at or after ``since`` if given.
    The last pack is the baseline, the one in force when those decisions
    were made: a fact it reads that no stored decision recorded was not
    measured then, and is null here too. FactsError when the log holds no
    decision of that pack id, or when another pack reads a fact the stored
    decisions never recorded (evaluate it from a source then).
    """
    ids = sorted({p.id for p in packs})
    table = latest_facts(store.engine, ids, since=since)
    where = f"the decision log {store.where}"
    if table.num_rows == 0:
        after = f" since {since.isoformat()}" if since is not None else ""
        raise FactsError(f"{where}: no decision of pack {' or '.join(map(repr, ids))}{after}")
    for name in required_fields(packs[-1]):
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.float64()))
    for pack in packs:
        _check_fields(table.column_names, pack, where)
    return Population(tuple(table for _ in packs), f"replay {store.where}")


def population_from_table(table: pa.Table, packs: Sequence[CompiledPack]) -> Population:
    """An Arrow table of facts (``seller_id`` and fact columns) that each pack can read."""
    for pack in packs:
        _check_fields(table.column_names, pack, "the facts table")
    return Population(tuple(table for _ in packs), "table")


def _check_fields(columns: Sequence[str], pack: CompiledPack, where: str) -> None:
    missing = [c for c in ("seller_id", *required_fields(pack)) if c not in columns]
    if missing:
        raise FactsError(
            f"{where}: missing field(s) {', '.join(missing)} that pack {pack.id!r} "
            f"{pack.version} reads (compute them from a source with --source)"
        )
