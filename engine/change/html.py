"""The impact report as one self-contained HTML page a person can mail to a colleague.

Rendered with Jinja2 (autoescaping on: seller ids, rule ids and explanation
texts come from packs and data, never trusted as markup). Charts are SVG
drawn by :mod:`.charts`, embedded as ``data:`` images; the page loads
nothing from anywhere (its Content-Security-Policy says so), and works
offline.
"""

from __future__ import annotations

import base64
from functools import cache
from importlib.metadata import PackageNotFoundError, version

import jinja2

from .charts import ChartFormat, threshold_histogram
from .impact import ChangedSeller, ImpactReport, ThresholdChange

__all__ = ["render_html"]


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sellerpolicy.engine.change", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _format(value: float, percent: bool) -> str:
    return f"{value * 100:.4g}%" if percent else f"{value:,.6g}"


def _delta(before: int | None, after: int | None) -> str:
    if before is None or after is None or before == after:
        return ""
    return f"{after - before:+,}"


def _gained(seller: ChangedSeller) -> list[str]:
    had = {a["action"] for a in seller.before.actions}
    return [str(a["action"]) for a in seller.after.actions if a["action"] not in had]


def _lost(seller: ChangedSeller) -> list[str]:
    has = {a["action"] for a in seller.after.actions}
    return [str(a["action"]) for a in seller.before.actions if a["action"] not in has]


def _chart(change: ThresholdChange) -> str:
    svg = threshold_histogram(
        change.edges,
        change.counts,
        metric=change.metric,
        old=change.old,
        new=change.new,
        percent=change.percent,
        fmt=ChartFormat.SVG,
    )
    return base64.b64encode(svg).decode("ascii")


def _version() -> str:
    try:
        return version("sellerpolicy")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "(unknown version)"


def render_html(report: ImpactReport) -> str:
    """The report as a complete HTML document."""
    matrix = report.matrix
    size = len(matrix)
    worse = sum(matrix[i][j] for i in range(size) for j in range(size) if j > i)
    better = sum(matrix[i][j] for i in range(size) for j in range(size) if j < i)
    template = _environment().get_template("impact.html.j2")
    return template.render(
        r=report,
        labels=report.statuses,
        after=report.status_counts(after=True),
        worse=worse,
        better=better,
        charts=[(t, _chart(t)) for t in report.thresholds],
        fmt=_format,
        ops={"gt": ">", "gte": "\u2265", "lt": "<", "lte": "\u2264", "eq": "="},
        delta=_delta,
        new_actions=_gained,
        lost_actions=_lost,
        version=_version(),
    )
