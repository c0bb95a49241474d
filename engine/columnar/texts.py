"""Explanation texts of the bulk decision path, rendered only for the rows that carry them.

Field by field over all firing rows at once when a rule's template is plain;
otherwise row by row through the shared functions of
:mod:`sellerpolicy.engine.evaluation.explain` (the differential test checks both agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sellerpolicy.engine.evaluation.decision import Outcome, RuleResult
from sellerpolicy.engine.evaluation.explain import (
    describe,
    format_number,
    render_template,
    template_fields,
    window_dates,
    window_days,
)
from sellerpolicy.engine.evaluation.plans import RulePlan
from sellerpolicy.engine.metrics.facts import Number, as_of_label
from sellerpolicy.rules.template import MAX_RENDERED, Literal, bounded, compile_template

from .kernels import Columns

Dates = tuple[date, date]


def _row_result(
    plan: RulePlan, row: int, columns: Columns, fired: bool, window: Dates
) -> RuleResult:
    """The shared :class:`RuleResult` of one row (the exact, slow path)."""

    def get(name: str | None) -> Number | None:
        if name is None:
            return None
        values, present = columns.raw(name)
        return values[row].item() if present[row] else None

    counts = plan.count_facts
    return RuleResult(
        rule=plan.rule.id,
        outcome=Outcome.MATCHED if fired else Outcome.NOT_MATCHED,
        mode=plan.mode,
        metric=plan.leaf.metric,
        op=plan.leaf.op,
        value=get(plan.value_fact),
        threshold=plan.leaf.threshold,
        num=get(counts[0] if counts else None),
        den=get(counts[1] if counts else None),
        window_start=window[0],
        window_end=window[1],
    )


def _column(columns: Columns, name: str | None, rows: npt.NDArray[np.int64]) -> list[Number | None]:
    if name is None:
        return [None] * rows.size
    values, present = columns.raw(name)
    picked: list[Number | None] = values[rows].tolist()
    if not present[rows].all():
        picked = [v if ok else None for v, ok in zip(picked, present[rows].tolist(), strict=True)]
    return picked


def render_fired(
    plan: RulePlan,
    rows: npt.NDArray[np.int64],
    columns: Columns,
    sellers: pa.Array,
    as_of: datetime,
) -> dict[int, str]:
    """The explanation of each firing row: the rule's template, else the plain sentence.

    Field by field over all rows at once when the template is plain
    (``{name}`` / ``{name:spec}``); any other template, or a field that
    cannot take its spec, goes row by row through the shared functions.
    """
    if rows.size == 0:
        return {}
    window = window_dates(plan.use, as_of)
    counts = plan.count_facts or (None, None)
    size = rows.size
    human: dict[str, tuple[str | None, bool]] = {  # read only if the template names them
        "value": (plan.value_fact, plan.rate_value),
        "num": (counts[0], False),
        "den": (counts[1], False),
        "orders": ("orders", False),
    }
    constant: dict[str, tuple[Number | None, bool]] = {
        "threshold": (plan.leaf.threshold, plan.rate_value),
        "window_days": (window_days(plan.use), False),
    }
    text: dict[str, str] = {
        "metric": plan.leaf.metric,
        "window_start": window[0].isoformat(),
        "window_end": window[1].isoformat(),
        "rule": plan.rule.id,
        "title": plan.rule.title,
        "as_of": as_of_label(as_of),
    }
    template = compile_template(plan.rule.explanation)
    try:
        if template is None:
            raise LookupError(plan.rule.explanation)
        # the same text in every row (adjacent ones merged), or one text per row
        pieces: list[str | list[str]] = []
        for part in template.parts:
            piece: str | list[str]
            if isinstance(part, Literal):
                piece = part.text
            elif part.name in constant:
                number, rate = constant[part.name]
                spec = part.spec
                piece = format(_must(number), spec) if spec else format_number(number, rate=rate)
            elif part.name in human:
                name, rate = human[part.name]
                numbers, spec = _column(columns, name, rows), part.spec
                if spec and None in numbers:
                    raise TypeError("a null number cannot take a format spec")
                piece = (
                    [format(v, spec) for v in numbers]
                    if spec
                    else _human_strings(numbers, rate=rate)
                )
            elif part.name == "seller_id":
                piece = [format(v, part.spec or "") for v in _sellers(sellers, rows)]
            else:
                piece = format(text[part.name], part.spec or "")
            if isinstance(piece, str) and pieces and isinstance(pieces[-1], str):
                pieces[-1] += piece
            else:
                pieces.append(piece)
        rendered = [
            line if len(line) <= MAX_RENDERED else bounded(line) for line in _joined(pieces, size)
        ]
        return dict(zip(rows.tolist(), rendered, strict=True))
    except (LookupError, ValueError, TypeError, OverflowError):
        pass
    out: dict[int, str] = {}
    for row, seller in zip(rows.tolist(), _sellers(sellers, rows), strict=True):
        result = _row_result(plan, row, columns, True, window)
        fields = template_fields(
            result,
            title=plan.rule.title,
            seller_id=seller,
            as_of=as_of,
            orders=result_orders(columns, row),
            use=plan.use,
            rate=plan.rate_value,
        )
        rendered_row = render_template(plan.rule.explanation, fields)
        out[row] = (
            rendered_row if rendered_row is not None else describe(result, rate=plan.rate_value)
        )
    return out


def _sellers(sellers: pa.Array, rows: npt.NDArray[np.int64]) -> list[str]:
    picked: list[str] = sellers.take(pa.array(rows)).to_pylist()
    return picked


def _joined(pieces: Sequence[str | list[str]], size: int) -> list[str]:
    """Row by row, the concatenation of ``pieces`` (a text for every row, or one per row)."""
    varying = [p for p in pieces if not isinstance(p, str)]
    if not varying:
        return ["".join(p for p in pieces if isinstance(p, str))] * size
    # one %-format per row: the constants escaped in it, each varying piece a %s
    layout = "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in pieces)
    return [layout % values for values in zip(*varying, strict=True)]


def _human_strings(numbers: Sequence[Number | None], *, rate: bool) -> list[str]:
    """``format_number`` of each value; whole ``int`` values take a direct path with equal text."""
    if not rate and set(map(type, numbers)) <= {int}:
        return [f"{v:,}" for v in numbers]
    return [format_number(v, rate=rate) for v in numbers]


def _must(value: Number | None) -> Number:
    if value is None:
        raise TypeError("a null number cannot take a format spec")
    return value


def result_orders(columns: Columns, row: int) -> Number | None:
    """The ``orders`` fact of one row."""
    values, present = columns.raw("orders")
    return values[row].item() if present[row] else None


def describe_rows(
    plan: RulePlan, rows: npt.NDArray[np.int64], columns: Columns, as_of: datetime
) -> list[str]:
    """The plain sentence of each (assessed, not firing) row, for ``explain=full``."""
    window = window_dates(plan.use, as_of)
    return [
        describe(_row_result(plan, row, columns, False, window), rate=plan.rate_value)
        for row in rows.tolist()
    ]
