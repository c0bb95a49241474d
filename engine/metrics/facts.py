"""Metric facts: the numbers one seller is judged on, as of one instant.

A facts record is what ``sellerpolicy metrics`` writes (data-contract.md):
``seller_id``, ``as_of``, ``orders``, one field per metric use of the pack
under the use's name, and ``<name>__num`` / ``<name>__den`` beside every rate
and average. ``None`` means "not measured" (an empty denominator), never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

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


def as_of_instant(value: date | datetime) -> datetime:
    """A date means 00:00 UTC of that day; a naive datetime is UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)


def as_of_label(instant: datetime) -> str:
    """``2026-11-01`` at midnight UTC, else the ISO UTC timestamp (data-contract.md)."""
    utc = instant.astimezone(UTC)
    if utc.time() == time.min:
        return utc.date().isoformat()
    return utc.isoformat().replace("+00:00", "Z")
