"""Metric facts: the numbers one seller is judged on, as of one instant.

A facts record is what ``sellerpolicy metrics`` writes (docs/data-contract.md):
``seller_id``, ``as_of``, ``orders``, one field per metric use of the pack
under the use's name, and ``<name>__num`` / ``<name>__den`` beside every rate
and average. ``None`` means "not measured" (an empty denominator), never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sellerpolicy.engine.errors import AsOfError

Number = int | float


@dataclass(frozen=True, slots=True)
class SellerFacts:
    """One seller's metric facts at ``as_of`` (an aware UTC datetime)."""

    seller_id: str
    as_of: datetime
    values: Mapping[str, Number | None]

    def get(self, name: str) -> Number | None:
        """The value of a fact, ``None`` when it is null or absent."""
        return self.values.get(name)


#: The ``as_of`` instants evaluated: far enough from the calendar's ends that
#: every window, lag and comparison window of a pack is a valid date.
AS_OF_MIN = datetime(1900, 1, 1, tzinfo=UTC)
AS_OF_MAX = datetime(9000, 1, 1, tzinfo=UTC)


def as_of_instant(value: date | datetime) -> datetime:
    """A date means 00:00 UTC of that day; a naive datetime is UTC.

    Raises :class:`~sellerpolicy.engine.errors.AsOfError` (a ``ValueError``)
    outside ``[AS_OF_MIN, AS_OF_MAX)``.
    """
    try:
        if isinstance(value, datetime):
            instant = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        else:
            instant = datetime.combine(value, time.min, tzinfo=UTC)
    except OverflowError:  # a timestamp whose offset crosses year 1 or 9999
        instant = datetime.min.replace(tzinfo=UTC)
    if not AS_OF_MIN <= instant < AS_OF_MAX:
        raise AsOfError(
            f"as_of {value.isoformat()} is out of range: sellerpolicy evaluates from "
            f"{AS_OF_MIN.date()} to before {AS_OF_MAX.date()}"
        )
    return instant


def check_as_of(value: date | datetime) -> date | datetime:
    """``value`` itself when :func:`as_of_instant` accepts it (a validator for models)."""
    as_of_instant(value)
    return value


def as_of_label(instant: datetime) -> str:
    """``2026-11-01`` at midnight UTC, else the ISO UTC timestamp (docs/data-contract.md)."""
    utc = instant.astimezone(UTC)
    if utc.time() == time.min:
        return utc.date().isoformat()
    return utc.isoformat().replace("+00:00", "Z")
