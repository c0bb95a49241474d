"""Metric windows: rolling durations, or whole calendar months.

A use's window is ``[as_of - lag - window, as_of - lag)`` for a rolling window
(``window: 60d``). A calendar window (``window: {months: 3, align: month_end}``)
is the last ``months`` whole calendar months (UTC) that ended at or before
``as_of - lag``: at ``as_of`` 2026-11-15 (or 2026-11-01 00:00) with 3 months it
is ``[2026-08-01, 2026-11-01)``, August to October. Both the metric SQL and the
explanations take their bounds from here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Protocol

from .durations import format_duration, parse_duration

__all__ = [
    "DAYS_PER_MONTH",
    "add_months",
    "daily_instants",
    "leaves_window",
    "month_start",
    "parse_window",
    "previous_bounds",
    "window_bounds",
    "window_json",
    "window_text",
]

#: The nominal length of one month of a calendar window (``MetricUse.window``, the
#: ``window_days`` of explanations); its real bounds come from :func:`window_bounds`.
DAYS_PER_MONTH = 30


class Windowed(Protocol):
    """What a window is computed from (a ``MetricUse``)."""

    @property
    def window(self) -> timedelta: ...
    @property
    def lag(self) -> timedelta: ...
    @property
    def months(self) -> int | None: ...


def month_start(instant: datetime) -> datetime:
    """00:00 on the first day of ``instant``'s month (its time zone kept)."""
    return instant.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(first: datetime, months: int) -> datetime:
    """The first of a month ``first`` (a month start) moved by ``months`` months."""
    index = first.year * 12 + first.month - 1 + months
    return first.replace(year=index // 12, month=index % 12 + 1)


def window_bounds(use: Windowed, as_of: datetime) -> tuple[datetime, datetime]:
    """The half-open range ``[start, end)`` of instants a metric use counts."""
    end = as_of - use.lag
    if use.months is None:
        return end - use.window, end
    end = month_start(end)
    return add_months(end, -use.months), end


def daily_instants(use: Windowed, as_of: datetime) -> list[datetime]:
    """The end (next midnight) of each whole day of ``use``'s window at ``as_of``.

    ``as_of`` is naive UTC. A calendar window's days are its months' days; a
    rolling one's are the whole days inside it (an ``as_of`` at 15:00 leaves
    the first, partial day out).
    """
    start, end = window_bounds(use, as_of)
    day = timedelta(days=1)
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if first < start:
        first += day
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return [first + day * (k + 1) for k in range((last - first) // day)]


def previous_bounds(use: Windowed, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The window before ``[start, end)``: as long, or as many calendar months."""
    if use.months is None:
        return start - (end - start), start
    return add_months(start, -use.months), start


def leaves_window(day: date, use: Windowed, tz: object = None) -> datetime:
    """The first evaluation instant at which an order of ``day`` is out of the window.

    Rolling: midnight of the next day plus window and lag. Calendar: the first
    of the month ``months + 1`` months after the order's month, plus lag.
    """
    midnight = datetime.combine(day, time.min, tzinfo=tz)  # type: ignore[arg-type]
    if use.months is None:
        return midnight + timedelta(days=1) + use.window + use.lag
    return add_months(month_start(midnight), use.months + 1) + use.lag


def parse_window(raw: object) -> tuple[timedelta, int | None]:
    """``(window, months)`` of a pack's ``window``: ``60d``, or ``{months: 3, align: month_end}``.

    Raises ValueError for anything else (the schema refuses it first).
    """
    if isinstance(raw, str):
        return parse_duration(raw), None
    if (
        isinstance(raw, dict)
        and set(raw) == {"months", "align"}
        and raw["align"] == "month_end"
        and isinstance(raw["months"], int)
        and not isinstance(raw["months"], bool)
        and raw["months"] >= 1
    ):
        return timedelta(days=DAYS_PER_MONTH * raw["months"]), raw["months"]
    raise ValueError(f"not a window: {raw!r} (write '60d' or {{months: 3, align: month_end}})")


def window_json(use: Windowed) -> object:
    """A use's window as a pack writes it (``60d`` or ``{months, align}``)."""
    if use.months is None:
        return format_duration(use.window)
    return {"months": use.months, "align": "month_end"}


def window_text(use: Windowed) -> str:
    """``60d``, or ``3 calendar months`` (one month: ``1 calendar month``)."""
    if use.months is None:
        return format_duration(use.window)
    return f"{use.months} calendar month{'s' if use.months != 1 else ''}"
