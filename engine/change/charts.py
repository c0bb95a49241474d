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

from matplotlib.axes import Axes
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
