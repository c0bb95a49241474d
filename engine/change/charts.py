"""Charts of policy change: a metric's distribution with two thresholds, a threshold sweep.

Drawn with Matplotlib's object API on the Agg canvas (no ``pyplot``, no
global state: safe in a service thread) and returned as bytes: SVG, with
every glyph drawn as a path so the file needs no font and no network, or PNG.
SVG output is deterministic (fixed ids, no date), so a report built twice is
the same file.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from enum import StrEnum

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

__all__ = [
    "ChartFormat",
    "chart_format",
    "decision_counts_chart",
    "metric_timeline",
    "sweep_chart",
    "threshold_histogram",
]

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
    edges: Sequence[float],
    counts: Sequence[int],
    *,
    metric: str,
    old: float | None,
    new: float | None,
    percent: bool,
    fmt: ChartFormat = ChartFormat.SVG,
    title: str | None = None,
) -> bytes:
    """A metric's histogram (bin ``edges``, ``counts`` per bin), old and new thresholds marked."""
    figure = _figure()
    axes = figure.add_subplot()
    measured = sum(counts)
    if counts:
        axes.stairs(list(counts), list(edges), fill=True, color=_BARS)
        _clip_spikes(axes, edges, counts)
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
    axes.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:,.0f}"))
    axes.set_xlabel(metric)
    axes.set_ylabel("sellers")
    axes.set_title(title or f"{metric}: {measured:,} sellers measured", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    if old is not None or new is not None:
        axes.legend(frameon=False, fontsize=9)
    return _render(figure, fmt)


def _clip_spikes(axes: Axes, edges: Sequence[float], counts: Sequence[int]) -> None:
    """Cut the y axis above the ordinary bars when one or two bars tower over them.

    A rate is often exactly zero for most sellers; drawn to scale, that one
    bar flattens everything near the thresholds. The towering bars are cut
    at the top of the chart and labelled with their true count.
    """
    ranked = sorted(counts, reverse=True)
    ordinary = next((c for c in ranked[2:] if c > 0), 0) if len(ranked) > 2 else 0
    top = max(ordinary, ranked[1] if ranked[1] * 4 < ranked[0] else ordinary)
    if ordinary == 0 or ranked[0] <= 4 * max(top, 1):
        return
    limit = max(top * 1.35, 5)
    axes.set_ylim(0, limit)
    for k, count in enumerate(counts):
        if count > limit:
            middle = (edges[k] + edges[k + 1]) / 2
            axes.annotate(
                f"{count:,}",
                (middle, limit),
                xytext=(0, -2),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=8,
                color="white",
                rotation=90,
                bbox={"boxstyle": "square,pad=0.15", "fc": _BARS, "ec": "none"},
            )


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


# ---------------------------------------------------------------------------
# Workbench charts: a seller's metric over time, decisions counted by status and action.
# Drawn on axes placed by hand (no layout engine) with few ticks: a page draws
# several, and a small chart then takes about a tenth of the time.

_VALUE = "#0969da"  # blue: the seller's metric
_FIRED = "#a40e26"  # red: dates on which the rule fired
_STATUS_COLOURS = {"healthy": "#2da44e", "at_risk": "#bf8700", "critical": "#cf222e"}
_INK = "#57606a"


def _small_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100)
    figure.patch.set_facecolor("white")
    return figure


def _nan(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def metric_timeline(
    dates: Sequence[str],
    values: Sequence[float | None],
    thresholds: Sequence[tuple[str, Sequence[float | None]]],
    fired: Sequence[bool],
    *,
    percent: bool,
    fmt: ChartFormat = ChartFormat.SVG,
) -> bytes:
    """A metric's value on each evaluation date, against each rule's threshold.

    ``dates`` are the evaluation dates' labels (oldest first), ``values`` the
    metric on each (None: not measured, a gap); each threshold is a rule's
    label and its threshold on each date (a step where a pack version moved
    it); ``fired`` marks the dates on which a rule on this metric fired,
    drawn as red points.
    """
    figure = _small_figure(3.6, 1.9)
    axes = figure.add_axes((0.17, 0.16, 0.8, 0.78))
    xs = list(range(len(dates)))
    ys = _nan(values)
    axes.plot(xs, ys, color=_VALUE, linewidth=1.6, marker="o", markersize=3.5, zorder=3)
    hits = [(x, y) for x, y, f in zip(xs, ys, fired, strict=True) if f]
    if hits:
        axes.plot(*zip(*hits, strict=True), linestyle="none", marker="o", markersize=6,
                  color=_FIRED, zorder=4)  # fmt: skip
    for k, (_label, line) in enumerate(thresholds):
        axes.plot(xs, _nan(line), color=_OLD, linewidth=1.4, drawstyle="steps-mid",
                  linestyle="--" if k else "-", zorder=2)  # fmt: skip
    drawn = ys + [v for _label, line in thresholds for v in _nan(line)]
    seen = [v for v in drawn if not math.isnan(v)]
    if seen:
        low, high = min(seen), max(seen)
        pad = (high - low) * 0.15 or abs(high) * 0.1 or 0.01
        axes.set_ylim(max(low - pad, 0) if low >= 0 else low - pad, high + pad)
    axes.set_xlim(-0.5, max(len(xs) - 0.5, 0.5))
    ticks = sorted({0, len(xs) - 1, (len(xs) - 1) // 2}) if xs else []
    axes.set_xticks(ticks, [dates[t][5:] if len(dates[t]) == 10 else dates[t] for t in ticks])
    axes.yaxis.set_major_locator(MaxNLocator(4))
    axes.yaxis.set_major_formatter(_value_formatter(percent))
    axes.tick_params(labelsize=8, colors=_INK, length=3)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#eaeef2", linewidth=0.8, zorder=0)
    return _render(figure, fmt)


def decision_counts_chart(
    statuses: Sequence[tuple[str, int]],
    actions: Sequence[tuple[str, int]],
    *,
    fmt: ChartFormat = ChartFormat.SVG,
) -> bytes:
    """Decisions counted by status (left) and by enforced action (right), as bars."""
    rows = max(len(statuses), len(actions), 1)
    inches = 0.55 + 0.3 * rows
    figure = _small_figure(6.4, inches)
    for k, (items, title) in enumerate(
        ((statuses, "Decisions by status"), (actions, "Decisions by enforced action"))
    ):
        left = 0.18 + 0.5 * k
        axes = figure.add_axes((left, 0.08 / inches, 0.3, 0.28 * rows / inches))
        figure.text(left - 0.16, 1 - 0.12 / inches, title, fontsize=10, va="top")
        labels = [name for name, _n in items][::-1]
        counts = [n for _name, n in items][::-1]
        if items:
            colours = [_STATUS_COLOURS.get(name, _BARS) for name in labels]
            axes.barh(labels, counts, color=colours, height=0.7)
            top = max(counts) or 1
            for y, n in enumerate(counts):
                axes.text(n + top * 0.02, y, f"{n:,}", va="center", fontsize=8, color=_INK)
            axes.set_xlim(0, top * 1.3)
        else:
            axes.set_yticks([])
            axes.spines["left"].set_visible(False)
            figure.text(left - 0.16, 1 - 0.5 / inches, "none", fontsize=9, va="top", color=_INK)
        axes.set_xticks([])
        axes.set_ylim(len(items) - rows - 0.5, len(items) - 0.5)
        axes.tick_params(labelsize=9, colors="#1f2328", length=0)
        axes.spines[["top", "right", "bottom"]].set_visible(False)
    return _render(figure, fmt)
