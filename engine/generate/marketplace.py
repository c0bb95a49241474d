"""A believable synthetic marketplace: every input table of the data contract.

:func:`generate` simulates ``sellers`` accounts over ``days`` days before
``as_of`` and writes ``orders``, ``feedback``, ``claims``, ``chargebacks``,
``messages``, ``disputes``, ``ratings``, ``returns`` and ``sellers`` (Parquet,
CSV or JSONL) to a folder
that ``engine.sources.load_source`` reads. Everything is vectorized with NumPy
and written by DuckDB, so 10 M orders take seconds, and the same seed gives the
same files.

The model: each seller has an archetype (healthy, late shipper, high defects,
canceller, poor tracking, slow responder, dispute-prone, tiny/new) that sets
its probabilities; order volumes are heavy-tailed (log-normal), with weekly
seasonality and a rising trend; new sellers start late in the period. Events
follow their order (feedback weeks later, some updated or removed; claims,
chargebacks, messages, disputes, detailed ratings) and only those that happened
before ``as_of`` are written. Text formats write some sellers' timestamps with
UTC offsets and some deadlines date-only.

A share of deliberately broken rows (``broken_share``, default 0.1 %) is
inserted at random places; :attr:`GenerateSummary.injected` lists each with the
reject code the loader must give it.

This module owns :func:`generate` and what it returns; the archetypes, the
sellers and their orders are drawn in ``generate.world``, the event tables in
``generate.events``, the optional inputs (tracking uploads, returns, seller
accounts) in ``generate.accounts``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np

from sellerpolicy.engine.generate.accounts import draw_optional
from sellerpolicy.engine.generate.events import draw_events
from sellerpolicy.engine.generate.files import US_DAY, inject_broken, write_table
from sellerpolicy.engine.generate.world import draw_orders
from sellerpolicy.engine.sources.tables import Format

__all__ = ["GenerateSummary", "InjectedRow", "generate"]


@dataclass(frozen=True, slots=True)
class InjectedRow:
    """A deliberately broken row: where it is and the reject code it must get."""

    table: str
    row: int  # 1-based data row in the written file
    code: str


@dataclass(frozen=True, slots=True)
class GenerateSummary:
    """What :func:`generate` wrote."""

    out: Path
    format: Format
    seed: int
    rows: Mapping[str, int]  # rows written per table, broken ones included
    injected: tuple[InjectedRow, ...]
    seconds: float

    @property
    def orders(self) -> int:
        """Order rows written."""
        return self.rows["orders"]


def generate(
    *,
    sellers: int,
    days: int,
    seed: int,
    as_of: date,
    out: Path,
    fmt: Format = Format.PARQUET,
    orders_per_seller_day: float = 1.0,
    broken_share: float = 0.001,
    on_table: Callable[[str, int], None] | None = None,
) -> GenerateSummary:
    """Simulate the marketplace and write one file per table into ``out``.

    ``on_table(table, rows)`` is called after each table is written (for
    progress). Raises ``ValueError`` for impossible arguments.
    """
    if (
        sellers < 1
        or not 1 <= days <= 30_000
        or orders_per_seller_day <= 0
        or not 0 <= broken_share < 0.5
    ):
        raise ValueError(
            "need sellers >= 1, 1 <= days <= 30000, orders_per_seller_day > 0,"
            " 0 <= broken_share < 0.5"
        )
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    end = int(datetime.combine(as_of, datetime.min.time(), UTC).timestamp()) * 1_000_000
    world, orders = draw_orders(rng, sellers, days, orders_per_seller_day, end)
    events = draw_events(rng, world, orders)
    uploaded, optional = draw_optional(
        np.random.default_rng([seed, 17]), world, orders, end - days * US_DAY
    )
    tables = {"orders": {**orders, "tracking_uploaded_at": uploaded}, **events, **optional}
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    injected: list[InjectedRow] = []
    for table, cols in tables.items():
        merged, broken = inject_broken(rng, table, cols, broken_share, fmt)
        write_table(table, merged, world.seller_offset, fmt, out)
        rows[table] = len(merged["seller_id"])
        injected.extend(InjectedRow(table, r + 1, code) for r, code in broken)
        if on_table is not None:
            on_table(table, rows[table])
    return GenerateSummary(
        out=out,
        format=fmt,
        seed=seed,
        rows=MappingProxyType(rows),
        injected=tuple(injected),
        seconds=time.perf_counter() - started,
    )
