"""Explanations a person can read: templates, windows, distance to compliance.

* :func:`render_template` fills a rule's ``explanation`` template (fields
  listed in ``docs/pack-format.md``) through the sandboxed renderer of
  :mod:`sellerpolicy.rules.template`. A field without a format spec is
  written for people (``1.35%``, ``2,000``); with a spec (``{value:.2%}``)
  the spec wins.
* :func:`window_dates` gives the inclusive dates of the orders a metric use
  counts: orders placed in ``[as_of - lag - window, as_of - lag)``.
* :func:`distance` computes, with exact integer arithmetic, how many orders
  separate a rate rule from the other outcome (:class:`Distance`).
* :func:`render_report` is the full text report of one decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Protocol

from sellerpolicy.engine.metrics.facts import Number, as_of_label
from sellerpolicy.rules.model import Compare, CompiledPack, Field, MetricUse, Op, Score
from sellerpolicy.rules.template import compile_template, render
from sellerpolicy.rules.windows import leaves_window
from sellerpolicy.rules.windows import window_bounds as calendar_bounds

from .daily_scores import DailyMean
from .decision import Decision, Distance, Outcome, RuleResult, ScoreResult

_OP_WORDS = {
    Op.GT: "above",
    Op.GTE: "at or above",
    Op.LT: "below",
    Op.LTE: "at or below",
    Op.EQ: "equal to",
}


class EvidenceLookup(Protocol):
    """Where the orders behind a rate come from (implemented by the metrics helper)."""

    def bad_order_dates(self, seller_id: str, metric_name: str) -> Sequence[date]:
        """The ``ordered_at`` dates of the orders counting against the seller.

        Those are the orders of the metric use's current window that make the
        rate worse: its numerator orders for a rate where high is bad (defects,
        cancels, late shipments), the orders outside its numerator for a rate
        where low is bad (``valid_tracking_rate``). Any order.
        """
        ...


# ---------------------------------------------------------------------------
# Numbers for people


def format_rate(value: float) -> str:
    """A fraction as a percentage with at most two decimals: ``1.35%``, ``1%``."""
    text = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def format_count(value: Number) -> str:
    """A whole number with thousands separators: ``2,000``."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def format_number(value: Number | None, *, rate: bool) -> str:
    """A metric value for people: a percentage for rates, else a plain number."""
    if value is None:
        return "n/a"
    if rate:
        return format_rate(float(value))
    if isinstance(value, int) or float(value).is_integer():
        return format_count(value)
    return f"{value:,.2f}"


@dataclass(frozen=True, slots=True)
class Human:
    """A template field: people's formatting by default, any format spec on request."""

    value: Number | None
    rate: bool = False

    def __format__(self, spec: str) -> str:
        if not spec:
            return format_number(self.value, rate=self.rate)
        if self.value is None:
            raise TypeError("a null number cannot take a format spec")
        return format(self.value, spec)

    def __str__(self) -> str:
        return format(self, "")


# ---------------------------------------------------------------------------
# Windows


def window_bounds(use: MetricUse, as_of: datetime) -> tuple[datetime, datetime]:
    """The half-open instant range ``[start, end)`` of orders a metric use counts
    (rolling or calendar months: :func:`sellerpolicy.rules.windows.window_bounds`)."""
    return calendar_bounds(use, as_of)


def window_dates(use: MetricUse, as_of: datetime) -> tuple[date, date]:
    """The first and last (inclusive) order dates a metric use counts."""
    start, end = window_bounds(use, as_of)
    return start.date(), (end - timedelta(microseconds=1)).date()


def window_days(use: MetricUse) -> Number:
    """The window length in days (a fraction for hour windows)."""
    days = use.window / timedelta(days=1)
    return int(days) if days.is_integer() else days


# ---------------------------------------------------------------------------
# Templates


def template_fields(
    result: RuleResult,
    *,
    title: str,
    seller_id: str,
    as_of: datetime,
    orders: Number | None,
    use: MetricUse | None,
    rate: bool,
) -> dict[str, object]:
    """The fields an explanation template may use (docs/pack-format.md)."""
    return {
        "value": Human(result.value, rate=rate),
        "threshold": Human(result.threshold, rate=rate),
        "num": Human(result.num),
        "den": Human(result.den),
        "metric": result.metric or "",
        "window_start": result.window_start.isoformat() if result.window_start else "",
        "window_end": result.window_end.isoformat() if result.window_end else "",
        "window_days": Human(window_days(use) if use else None),
        "rule": result.rule,
        "title": title,
        "seller_id": seller_id,
        "as_of": as_of_label(as_of),
        "orders": Human(orders),
    }


def render_template(template: str, fields: Mapping[str, object]) -> str | None:
    """Fill a template with the sandboxed renderer of :mod:`sellerpolicy.rules.template`.

    ``None`` only for a template that does not validate (a pack that skipped
    validation); a validated one always renders, at most
    :data:`~sellerpolicy.rules.template.MAX_RENDERED` characters long.
    """
    parsed = compile_template(template)
    return None if parsed is None else render(parsed, fields)


def describe(result: RuleResult, *, rate: bool) -> str:
    """A plain sentence for a rule without a usable template, or that did not fire."""
    value = format_number(result.value, rate=rate)
    text = f"{result.metric} is {value}"
    if result.num is not None and result.den is not None:
        text += f" ({format_count(result.num)} of {format_count(result.den)})"
    if result.op is not None and result.threshold is not None:
        threshold = format_number(result.threshold, rate=rate)
        text += f"; the rule fires {_OP_WORDS[result.op]} {threshold}"
    return text


def _things(count: int, noun: str) -> str:
    """``1 bad order``, ``2 bad orders``: counts read as a person writes them."""
    return f"{format_count(count)} {noun}{'' if count == 1 else 's'}"


def describe_distance(d: Distance, *, unit: str = "order") -> str:
    """The distance to the other outcome, in words (``unit``: order or message)."""
    if d.excess is None and d.good_needed is None:
        if d.headroom is None:
            return f"no number of bad {unit}s makes this rule fire"
        return f"the window can absorb {_things(d.headroom, f'more bad {unit}')}"
    parts: list[str] = []
    if d.excess is not None:
        leave = f"{_things(d.excess, f'bad {unit}')} must leave the window"
        if d.clears_on is not None:
            leave += f" (earliest {d.clears_on.isoformat()} if nothing new goes wrong)"
        parts.append(leave)
    if d.good_needed is not None:
        parts.append(f"{_things(d.good_needed, f'good {unit}')} must be added")
    return " or ".join(parts)


# ---------------------------------------------------------------------------
# Distance to compliance (exact)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _headroom(n: int, d: int, p: int, q: int, strict: bool) -> int | None:
    """Largest k with (n+k)/(d+k) not firing at ``> p/q`` (strict) or ``>= p/q``.

    (n+k)/(d+k) < p/q  <=>  k < (p*d - q*n) / (q - p); ``<=`` likewise.
    """
    if p >= q:
        return None  # adding bad orders never reaches (or passes) 100%
    a, b = p * d - q * n, q - p
    return a // b if strict else _ceil_div(a, b) - 1


def _excess(n: int, d: int, p: int, q: int, strict: bool) -> int | None:
    """Smallest k with (n-k)/(d-k) not firing, keeping the window non-empty.

    (n-k)/(d-k) < p/q  <=>  k > (q*n - p*d) / (q - p).
    """
    if n >= d or p >= q or (p == 0 and not strict):
        return None  # removing bad orders cannot clear it
    a, b = q * n - p * d, q - p
    return _ceil_div(a, b) if strict else a // b + 1


def _good_needed(n: int, d: int, p: int, q: int, strict: bool) -> int | None:
    """Smallest k with n/(d+k) not firing: k > (q*n - p*d) / p."""
    if p == 0:
        return None  # a positive rate stays positive
    a = q * n - p * d
    return _ceil_div(a, p) if strict else a // p + 1


def distance(
    op: Op,
    threshold: float,
    num: int,
    den: int,
    *,
    fired: bool,
    bad_dates: Sequence[date] | None = None,
    use: MetricUse | None = None,
    exact: Fraction | None = None,
) -> Distance | None:
    """Orders between a rate leaf ``num/den <op> threshold`` and the other outcome.

    A rule firing on a low rate (``lt``/``lte``) is the mirror of one firing
    on a high *bad-order* rate: ``num/den < t`` iff ``(den-num)/den > 1-t``,
    so both directions share the arithmetic of ``gt``/``gte``, done on
    integers only. The threshold is taken as written
    (``Fraction(repr(0.01)) == 1/100``), which matches float comparisons of
    correctly rounded rates (``exact`` passes it ready-made). ``eq`` leaves
    have no distance. ``clears_on`` needs the dates of the bad orders and the
    metric use.
    """
    if op is Op.EQ or den <= 0:
        return None
    t = exact if exact is not None else Fraction(repr(threshold))
    p, q = t.numerator, t.denominator
    if op in (Op.GT, Op.GTE):
        bad, strict = num, op is Op.GT
    else:
        bad, p, strict = den - num, q - p, op is Op.LT
    if not fired:
        return Distance(headroom=_headroom(bad, den, p, q, strict))
    excess = _excess(bad, den, p, q, strict)
    good_needed = _good_needed(bad, den, p, q, strict)
    if excess is None and good_needed is None:
        return None  # nothing countable clears it (a threshold of 0% or 100%)
    clears = None
    if excess is not None and bad_dates is not None and use is not None:
        clears = clears_on(bad_dates, excess, use)
    return Distance(excess=excess, good_needed=good_needed, clears_on=clears)


def clears_on(bad_dates: Sequence[date], excess: int, use: MetricUse) -> date | None:
    """The first evaluation date on which ``excess`` bad orders have left the window.

    An order placed on day D (any time) is out of the window of an
    evaluation at instant E once ``E - lag - window > D 23:59:59.999999``,
    so from midnight ``D+1 + window + lag`` on (the next midnight for hour
    windows); for a calendar window of ``m`` months, from the first of the month
    ``m + 1`` months after D's month, plus lag. ``None`` when fewer bad orders
    are known than must leave.
    """
    if excess <= 0 or len(bad_dates) < excess:
        return None
    day = sorted(bad_dates)[excess - 1]
    gone = leaves_window(day, use, UTC)
    return gone.date() if gone.time() == time.min else gone.date() + timedelta(days=1)


def leaf_distance(
    leaf: Compare,
    num: Number | None,
    den: Number | None,
    *,
    fired: bool,
    bad_dates: Sequence[date] | None,
    use: MetricUse,
    exact: Fraction | None = None,
) -> Distance | None:
    """The distance of a rate-value leaf with whole counts; ``None`` for any other leaf."""
    if leaf.field is not Field.VALUE or num is None or den is None:
        return None
    if not float(num).is_integer() or not float(den).is_integer():
        return None
    return distance(
        leaf.op,
        leaf.threshold,
        int(num),
        int(den),
        fired=fired,
        bad_dates=bad_dates,
        use=use,
        exact=exact,
    )


# ---------------------------------------------------------------------------
# Scores and reports


def explain_score(
    score: Score, result: ScoreResult, rates: frozenset[str], mean: DailyMean | None = None
) -> str:
    """A score's grade explained dimension by dimension (``mean``: graded on the mean of
    its daily totals, the dimensions shown as they stand on the evaluation date)."""
    if result.total is None:
        return f"{score.title}: not assessed ({result.reason})"
    lines = [f"{score.title}: {result.total:g} points, grade {result.grade}"]
    if mean is not None:
        lines += [mean.line(), f"  dimensions on {mean.on.isoformat()}:"]
    indent = "    " if mean is not None else "  "
    for dim in result.dimensions:
        value = format_number(dim.value, rate=dim.metric in rates)
        earns = (
            f"earns {dim.points:g} of {dim.weight:g} points"
            if dim.points is not None
            else f"earns none of {dim.weight:g} points (no data or no band)"
        )
        lines.append(f"{indent}{dim.dimension}: {dim.metric} {value} {earns}")
    grade = next((g for g in score.grades if g.grade == result.grade), None)
    if grade is not None and not grade.confirmed:
        note = f": {grade.note}" if grade.note else ""
        lines.append(f"  grade cut-offs unconfirmed{note}")
    return "\n".join(lines)


def render_report(decision: Decision, pack: CompiledPack) -> str:
    """The full text report of one decision: status, actions, every rule, every score."""
    head = (
        f"Seller {decision.seller_id}: {decision.status.label} "
        f"({decision.pack} {decision.pack_version}, as of {decision.as_of})"
    )
    lines = [head, "", "Actions:"]
    if not decision.actions:
        lines.append("  none")
    for item in decision.actions:
        flag = ""
        if item.exemption is not None:
            flag = f" [exempt: {item.exemption}]"
        elif not item.enforced:
            flag = " [shadow: not enforced]"
        lines.append(f"  {item.action} ({item.severity_label}, {item.rule}){flag}")
        if item.explanation:
            lines.append(f"    {item.explanation}")
    lines += ["", "Rules:"]
    for result in decision.rules:
        rule = pack.rule(result.rule)
        lines.append(f"  {rule.id}: {result.outcome.value} ({rule.title})")
        text = result.reason if result.reason else result.explanation
        if text:
            lines.append(f"    {text}")
        if result.distance is not None:
            use = pack.metric(result.metric) if result.metric else None
            unit = "message" if use and use.metric == "message_response_rate" else "order"
            lines.append(f"    {describe_distance(result.distance, unit=unit)}")
        if rule.remediation and result.outcome is Outcome.MATCHED:
            lines.append(f"    what to do: {rule.remediation}")
    if decision.scores:
        lines += ["", "Scores:"]
        for score_result in decision.scores:
            if score_result.explanation:
                lines += ["  " + line for line in score_result.explanation.splitlines()]
    return "\n".join(lines)
