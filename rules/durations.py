"""Durations as packs write them: ``72h``, ``60d``, ``7d`` (whole units only)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(?P<n>0|[1-9][0-9]{0,5})(?P<unit>[hd])$")


def parse_duration(text: str) -> timedelta:
    """Parse ``<n>h`` or ``<n>d``; raise ValueError naming the bad text."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (write hours as '72h' or days as '60d')")
    n = int(match["n"])
    return timedelta(hours=n) if match["unit"] == "h" else timedelta(days=n)


def format_duration(value: timedelta) -> str:
    """The shortest pack spelling of a whole number of hours (``60d``, ``72h``)."""
    hours, rest = divmod(int(value.total_seconds()), 3600)
    if rest:
        raise ValueError(f"not a whole number of hours: {value}")
    return f"{hours // 24}d" if hours % 24 == 0 and hours else f"{hours}h"
