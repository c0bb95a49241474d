"""The per-order relation of the metric SQL, and the SQL text it is written with.

Owns the text helpers every spliced value goes through (:func:`ts`,
:func:`interval`, :func:`quote`, :func:`ident`, :func:`str_list`,
:func:`safe`), metric windows (:class:`Window`, :func:`window_of`), the
``__`` prefix of hidden helper columns, and :class:`Joins`: the event
columns the per-order relation needs. The per-metric SQL built on them is in
:mod:`sellerpolicy.engine.metrics.sql`.

The per-order relation is the ``orders`` table in the union of the windows,
left-joined only with the event tables the uses need, each event table
pre-aggregated once per order (one flag column per distinct knob value: two
uses with the same ``claim_statuses`` share a column).

All timestamps are naive UTC (``engine/sources/tables.py``); ``as_of`` and
window bounds are literals. Every predicate is null-safe (never SQL
``NULL``), so that ``NOT`` of a predicate is its complement.
"""
# ruff: noqa: S608  (string-built SQL: every spliced value is quoted, see above)

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sellerpolicy.rules.model import MetricUse
from sellerpolicy.rules.windows import add_months, window_bounds

__all__ = [
    "DSR_COLUMNS",
    "HIDDEN",
    "REMOVAL_DELAY",
    "Joins",
    "Window",
    "ident",
    "interval",
    "quote",
    "safe",
    "str_list",
    "ts",
    "window_of",
]

#: A feedback removal reaches the metrics once it is this old at ``as_of``.
REMOVAL_DELAY = timedelta(hours=48)
#: The detailed seller rating metrics and their ``ratings`` columns.
DSR_COLUMNS = {
    "dsr_item_as_described": "item_as_described",
    "dsr_communication": "communication",
    "dsr_shipping_speed": "shipping_speed",
}
#: Prefix of helper columns that never reach the output.
HIDDEN = "__"


def ts(value: datetime) -> str:
    """A naive UTC datetime as a DuckDB timestamp literal."""
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


def interval(value: timedelta) -> str:
    """A duration as an exact DuckDB interval."""
    return f"to_microseconds({value // timedelta(microseconds=1)})"


def ident(name: str) -> str:
    """A SQL identifier (output column names come from packs)."""
    return '"' + name.replace('"', '""') + '"'


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def str_list(values: Iterable[str]) -> str:
    """``('a', 'b')`` in sorted order; ``(NULL)`` (matches nothing) when empty."""
    items = sorted(values)
    return "(" + (", ".join(quote(v) for v in items) if items else "NULL") + ")"


def safe(expr: str) -> str:
    """A predicate with SQL ``NULL`` read as false."""
    return f"coalesce({expr}, false)"


@dataclass(frozen=True, slots=True)
class Window:
    """``[start, end)`` in naive UTC; ``months``: a calendar window of that many months."""

    start: datetime
    end: datetime
    months: int | None = None

    def contains(self, column: str) -> str:
        """The predicate ``column`` in the window."""
        return f"({column} >= {ts(self.start)} AND {column} < {ts(self.end)})"

    def previous(self) -> Window:
        """The window just before this one: as long, or as many calendar months."""
        if self.months is None:
            return Window(self.start - (self.end - self.start), self.start)
        return Window(add_months(self.start, -self.months), self.start, self.months)


def window_of(use: MetricUse, as_of: datetime) -> Window:
    """The use's window at a naive UTC ``as_of``: ``[as_of - lag - window, as_of - lag)``,
    or whole calendar months (:func:`sellerpolicy.rules.windows.window_bounds`)."""
    start, end = window_bounds(use, as_of)
    return Window(start, end, use.months)


@dataclass
class Joins:
    """The per-order columns the uses need, each defined once.

    Event flag columns are named by registration order (``cl_0``, ``cb_1``...);
    a knob value asked for twice returns the same column. Derived flags
    (``f_0``...: windows, late, cancelled, defects) are per-order predicates
    computed once in the per-order relation and shared by every use that
    asks for the same predicate.
    """

    as_of: datetime
    _claims: dict[frozenset[str] | None, str] = field(default_factory=dict)
    _chargebacks: dict[frozenset[str], str] = field(default_factory=dict)
    _disputes: dict[str, str] = field(default_factory=dict)
    _returns: dict[frozenset[str], str] = field(default_factory=dict)
    feedback: bool = False
    messages: bool = False
    ratings: bool = False
    _derived: dict[str, str] = field(default_factory=dict)

    def derive(self, predicate: str) -> str:
        """A per-order flag column holding ``predicate`` (``true`` stays a literal)."""
        if predicate == "true":
            return predicate
        return self._derived.setdefault(predicate, f"f_{len(self._derived)}")

    def derived(self) -> list[tuple[str, str]]:
        """``(column, predicate)`` of every derived flag, in registration order."""
        return [(name, predicate) for predicate, name in self._derived.items()]

    def claim(self, statuses: frozenset[str] | None) -> str:
        """Flag: the order has a claim filed before as_of with one of ``statuses`` (None: any)."""
        return self._claims.setdefault(statuses, f"cl_{len(self._claims)}")

    def chargeback(self, kinds: frozenset[str]) -> str:
        """Flag: the order has a chargeback filed before as_of of one of ``kinds``."""
        return self._chargebacks.setdefault(kinds, f"cb_{len(self._chargebacks)}")

    def dispute(self, condition: str) -> str:
        """Flag: the order has a dispute opened before as_of satisfying ``condition``."""
        return self._disputes.setdefault(condition, f"dp_{len(self._disputes)}")

    def returned(self, reasons: frozenset[str]) -> str:
        """Flag: the order has a return requested before as_of for one of ``reasons``."""
        return self._returns.setdefault(reasons, f"rn_{len(self._returns)}")

    def rating(self) -> str:
        """Effective feedback rating column (NULL when none)."""
        self.feedback = True
        return "eff_rating"

    def message(self) -> str:
        """Flag: a buyer message about the order was received before as_of."""
        self.messages = True
        return "has_message"

    def dsr(self, column: str) -> tuple[str, str]:
        """Sum and count of one detailed rating made before as_of."""
        self.ratings = True
        return f"rt_{column}_sum", f"rt_{column}_n"

    def ctes(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """``(cte name, cte sql, [(column, default)])`` for each event table needed."""
        a = ts(self.as_of)
        out: list[tuple[str, str, list[tuple[str, str]]]] = []
        if self.feedback:
            removed_before = ts(self.as_of - REMOVAL_DELAY)
            out.append(
                (
                    "fb",
                    "SELECT order_id, CASE WHEN bool_or(event = 'removed' AND \"at\" <= "
                    f"{removed_before}) OR NOT bool_or(event = 'left') THEN NULL ELSE "
                    "coalesce(arg_min(rating, \"at\") FILTER (WHERE event = 'updated'), "
                    "arg_min(rating, \"at\") FILTER (WHERE event = 'left')) END AS eff_rating "
                    f'FROM feedback WHERE "at" < {a} GROUP BY order_id',
                    [("eff_rating", "NULL")],
                )
            )
        if self._claims:
            cols = [
                (name, "true" if st is None else f"bool_or(status IN {str_list(st)})")
                for st, name in self._claims.items()
            ]
            out.append(_flag_cte("cl", "claims", f"filed_at < {a}", cols))
        if self._chargebacks:
            cols = [
                (name, f"bool_or(kind IN {str_list(kinds)})")
                for kinds, name in self._chargebacks.items()
            ]
            out.append(_flag_cte("cb", "chargebacks", f"filed_at < {a}", cols))
        if self._disputes:
            cols = [(name, f"bool_or({safe(cond)})") for cond, name in self._disputes.items()]
            out.append(_flag_cte("dp", "disputes", f"opened_at < {a}", cols))
        if self._returns:
            cols = [
                (name, f"bool_or(reason IN {str_list(reasons)})")
                for reasons, name in self._returns.items()
            ]
            out.append(_flag_cte("rn", "returns", f"requested_at < {a}", cols))
        if self.messages:
            out.append(
                _flag_cte(
                    "mo",
                    "messages",
                    f"order_id IS NOT NULL AND received_at < {a}",
                    [("has_message", "true")],
                )
            )
        if self.ratings:
            cols = []
            for column in DSR_COLUMNS.values():
                cols.append((f"rt_{column}_sum", f"sum({column})::BIGINT"))
                cols.append((f"rt_{column}_n", f"count({column})"))
            sql = ", ".join(f"{expr} AS {name}" for name, expr in cols)
            out.append(
                (
                    "rt",
                    f"SELECT order_id, {sql} FROM ratings WHERE rated_at < {a} GROUP BY order_id",
                    [(name, "0") for name, _ in cols],
                )
            )
        return out


def _flag_cte(
    name: str, table: str, where: str, cols: list[tuple[str, str]]
) -> tuple[str, str, list[tuple[str, str]]]:
    sql = ", ".join(f"{expr} AS {col}" for col, expr in cols)
    return (
        name,
        f"SELECT order_id, {sql} FROM {table} WHERE {where} GROUP BY order_id",
        [(col, "false") for col, _ in cols],
    )
