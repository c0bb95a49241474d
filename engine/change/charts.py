"""Charts of policy change: a metric's distribution with two thresholds, a threshold sweep.

Drawn with Matplotlib's object API on the Agg canvas (no ``pyplot``, no
global state: safe in a service thread) and returned as bytes: SVG, with
every glyph drawn as a path so the file needs no font and no network, or PNG.
SVG output is deterministic (fixed ids, no date), so a report built twice is
the same file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

__all__ = ["ChartFormat", "chart_format", "sweep_chart", "threshold_histogram"]

_OLD = "#9a6700"  # amber: the threshold in force
_NEW = "#0969da"  # blue: the proposed threshold
_BARS = "#8c959f"
_BINS = 40


class ChartFormat(StrEnum):
    """The file formats a chart is written in."""

    SVG = "svg"
    PNG = "png"


def chart_format(name: str) -> ChartFormat:
    """The chart format of a file name (``.svg`` or ``.png``); ValueError otherwise."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    try:
        return ChartFormat(suffix)
    except ValueError:
        raise ValueError(f"{name}: a chart is written as .svg or .png") from None


def _figure() -> Figure:
    figure = Figure(figsize=(7.2, 3.4), dpi=100, layout="constrained")
    figure.patch.set_facecolor("white")
    return figure


def _render(figure: Figure, fmt: ChartFormat) -> bytes:
    buffer = io.BytesIO()
    if fmt is ChartFormat.SVG:
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    else:
        figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def _value_formatter(percent: bool) -> FuncFormatter:
    if percent:
        return FuncFormatter(lambda x, _pos: f"{x * 100:.3g}%")
    return FuncFormatter(lambda x, _pos: f"{x:,.6g}")


def _label(value: float, percent: bool) -> str:
    return f"{value * 100:.4g}%" if percent else f"{value:,.6g}"


def threshold_histogram(
    values: np.ndarray,
    *,
    metric: str,
    old: float | None,
    new: float | None,
    percent: bool,
    fmt: ChartFormat = ChartFormat.SVG,
    title: str | None = None,
) -> bytes:
    """How a metric is spread over a population, with the old and new thresholds marked.

    ``values`` holds the metric of every seller measured (NaN for the
    unmeasured, left out). The range covers both thresholds; the few
    sellers beyond the 99.5th percentile are gathered in the last bin so a
    handful of outliers do not squeeze the rest into one bar.
    """
    finite = values[np.isfinite(values)]
    marks = [t for t in (old, new) if t is not None]
    figure = _figure()
    axes = figure.add_subplot()
    if finite.size:
        low = min(float(finite.min()), *marks) if marks else float(finite.min())
        high_data = float(np.quantile(finite, 0.995))
        high = max(high_data, *marks) if marks else high_data
        if high <= low:
            high = low + (abs(low) or 1.0) * 0.1
        span = high - low
        low, high = low - span * 0.02, high + span * 0.05
        axes.hist(np.clip(finite, low, high), bins=_BINS, range=(low, high), color=_BARS)
    else:
        axes.text(
            0.5,
            0.5,
            "no seller measured",
            ha="center",
            va="center",
            transform=axes.transAxes,
            color="#57606a",
        )
    if old is not None:
        axes.axvline(old, color=_OLD, linewidth=2, label=f"old threshold {_label(old, percent)}")
    if new is not None:
        axes.axvline(
            new,
            color=_NEW,
            linewidth=2,
            linestyle="--",
            label=f"new threshold {_label(new, percent)}",
        )
    axes.xaxis.set_major_formatter(_value_formatter(percent))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(metric)
    axes.set_ylabel("sellers")
    axes.set_title(title or f"{metric}: {finite.size:,} sellers measured", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    if marks:
        axes.legend(frameon=False, fontsize=9)
    return _render(figure, fmt)


def sweep_chart(
    thresholds: Sequence[float],
    counts: Sequence[int],
    *,
    current: float | None,
    metric: str,
    title: str,
    percent: bool,
    fmt: ChartFormat = ChartFormat.SVG,
) -> bytes:
    """Sellers a rule fires on as its threshold moves, with the current threshold marked."""
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot(list(thresholds), list(counts), color=_NEW, marker="o", markersize=3, linewidth=1.5)
    if current is not None:
        axes.axvline(
            current, color=_OLD, linewidth=2, label=f"current threshold {_label(current, percent)}"
        )
        axes.legend(frameon=False, fontsize=9)
    axes.xaxis.set_major_formatter(_value_formatter(percent))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:,.0f}"))
    axes.set_xlabel(f"{metric} threshold")
    axes.set_ylabel("sellers the rule fires on")
    axes.set_ylim(bottom=0)
    axes.set_title(title, fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    return _render(figure, fmt)
