"""Thresholds as packs write them: ``0.01``, ``1%``, ``0.5%`` (one fraction each)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def is_percent(value: object) -> bool:
    """Whether ``value`` is written as a percent string (``'1%'``)."""
    return isinstance(value, str) and value.endswith("%")


def to_fraction(value: float | str) -> float:
    """The number a threshold means: ``'1%'`` and ``0.01`` both give ``0.01``.

    Percent strings are divided exactly (``'1.1%'`` is ``0.011``, not
    ``0.011000000000000001``). Raises ValueError on anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a threshold: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if is_percent(value):
        try:
            return float(Decimal(value[:-1]) / 100)
        except InvalidOperation:
            pass
    raise ValueError(f"not a threshold: {value!r} (write 0.01 or '1%')")
