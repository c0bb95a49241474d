"""The metric catalog: names, kinds and knobs, as the domain defines them.

Names here are fixed by the data contract. Each metric lists the knobs that
apply to it (a knob applies only to the metrics that list it) and the
catalog defaults; docs/metrics.md defines every metric and knob. A knob set
on a metric use wins over the same knob set for the whole pack, which wins
over these defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType


class MetricKind(StrEnum):
    """How a metric's value is formed and what thresholds make sense for it."""

    COUNT = "count"  # a whole number (orders)
    RATE = "rate"  # num / den, in 0..1; null when den == 0
    AVERAGE = "average"  # sum / count of 1..5 ratings; null with none
    AMOUNT = "amount"  # a money sum (gross_sales)
    GROWTH = "growth"  # (current - previous) / previous; any real number
    SCORE = "score"  # the mean of a score's daily totals (points), from 0 to its weights' sum


class Knob(StrEnum):
    """Every knob of the catalog."""

    NEGATIVE_MAX_RATING = "negative_max_rating"
    CLAIM_STATUSES = "claim_statuses"
    CHARGEBACK_KINDS = "chargeback_kinds"
    CANCEL_INITIATORS = "cancel_initiators"
    LATE_BASIS = "late_basis"
    LATE_AFTER = "late_after"
    LATE_GRACE = "late_grace"
    RESPONSE_LIMIT = "response_limit"
    DISPUTE_KINDS = "dispute_kinds"
    RETURN_REASONS = "return_reasons"
    REQUIRE_VALID_TRACKING = "require_valid_tracking"


CLAIM_STATUSES = ("open", "granted", "refunded", "denied", "withdrawn")
CHARGEBACK_KINDS = ("service", "fraud")
CANCEL_INITIATORS = ("seller", "buyer", "marketplace")
DISPUTE_KINDS = ("not_received", "not_as_described", "other")
RETURN_REASONS = (
    "not_as_described",
    "damaged",
    "wrong_item",
    "arrived_late",
    "changed_mind",
    "other",
)


class LateBasis(StrEnum):
    """How a late shipment is decided (docs/metrics.md, ``late_shipment_rate``)."""

    SHIP_BY = "ship_by"
    HOURS_AFTER_ORDER = "hours_after_order"


@dataclass(frozen=True, slots=True)
class Knobs:
    """Fully resolved knob values of one metric use (every knob has a value).

    Knobs that do not apply to a metric keep their defaults and are ignored by
    its computation.
    """

    negative_max_rating: int = 2
    claim_statuses: frozenset[str] = frozenset(CLAIM_STATUSES)
    chargeback_kinds: frozenset[str] = frozenset({"service"})
    cancel_initiators: frozenset[str] = frozenset({"seller"})
    late_basis: LateBasis = LateBasis.SHIP_BY
    late_after: timedelta = timedelta(hours=48)
    late_grace: timedelta = timedelta(0)
    response_limit: timedelta = timedelta(hours=24)
    dispute_kinds: frozenset[str] = frozenset(DISPUTE_KINDS)
    return_reasons: frozenset[str] = frozenset(RETURN_REASONS)
    require_valid_tracking: bool = False


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One catalog entry."""

    name: str
    kind: MetricKind
    knobs: frozenset[Knob]
    defaults: Mapping[Knob, object]
    doc: str


def _spec(
    name: str,
    kind: MetricKind,
    doc: str,
    knobs: Mapping[Knob, object] | None = None,
) -> MetricSpec:
    knobs = knobs or {}
    return MetricSpec(name, kind, frozenset(knobs), MappingProxyType(dict(knobs)), doc)


_ODR_KNOBS: dict[Knob, object] = {
    Knob.NEGATIVE_MAX_RATING: 2,
    Knob.CLAIM_STATUSES: frozenset(CLAIM_STATUSES),
    Knob.CHARGEBACK_KINDS: frozenset({"service"}),
}

CATALOG: Mapping[str, MetricSpec] = MappingProxyType(
    {
        s.name: s
        for s in (
            _spec("orders", MetricKind.COUNT, "orders placed in the window"),
            _spec(
                "negative_feedback_rate",
                MetricKind.RATE,
                "orders whose effective feedback rating is <= negative_max_rating",
                {Knob.NEGATIVE_MAX_RATING: 2},
            ),
            _spec(
                "claim_rate",
                MetricKind.RATE,
                "orders with a guarantee claim whose status is counted",
                {Knob.CLAIM_STATUSES: frozenset(CLAIM_STATUSES)},
            ),
            _spec(
                "chargeback_rate",
                MetricKind.RATE,
                "orders with a chargeback of a counted kind",
                {Knob.CHARGEBACK_KINDS: frozenset({"service"})},
            ),
            _spec(
                "order_defect_rate",
                MetricKind.RATE,
                "orders with negative feedback, a counted claim or a counted chargeback (once)",
                _ODR_KNOBS,
            ),
            _spec(
                "pre_fulfillment_cancel_rate",
                MetricKind.RATE,
                "orders cancelled before shipment by a counted initiator",
                {Knob.CANCEL_INITIATORS: frozenset({"seller"})},
            ),
            _spec(
                "late_shipment_rate",
                MetricKind.RATE,
                "orders confirmed late or unconfirmed past the deadline",
                {
                    Knob.LATE_BASIS: LateBasis.SHIP_BY,
                    Knob.LATE_AFTER: timedelta(hours=48),
                    Knob.LATE_GRACE: timedelta(0),
                },
            ),
            _spec(
                "valid_tracking_rate",
                MetricKind.RATE,
                "shipped orders with valid tracking, among shipped orders",
            ),
            _spec(
                "tracking_on_time_rate",
                MetricKind.RATE,
                "shipped orders with a ship_by whose tracking was uploaded by ship_by",
                {Knob.REQUIRE_VALID_TRACKING: False},
            ),
            _spec(
                "on_time_delivery_rate",
                MetricKind.RATE,
                "orders delivered by the promise, among those delivered or past it",
            ),
            _spec("refund_rate", MetricKind.RATE, "orders the seller refunded"),
            _spec(
                "return_rate",
                MetricKind.RATE,
                "orders with a return requested for a counted reason",
                {Knob.RETURN_REASONS: frozenset(RETURN_REASONS)},
            ),
            _spec(
                "perfect_order_rate",
                MetricKind.RATE,
                "orders with no claim, cancel, late shipment, message, negative feedback, "
                "refund or counted chargeback (catalog defaults: it has no knobs)",
            ),
            _spec(
                "message_response_rate",
                MetricKind.RATE,
                "messages answered within the limit, among messages due",
                {Knob.RESPONSE_LIMIT: timedelta(hours=24)},
            ),
            _spec(
                "transaction_defect_rate",
                MetricKind.RATE,
                "orders cancelled pre-fulfillment by a counted initiator or with a counted claim",
                {
                    Knob.CANCEL_INITIATORS: frozenset({"seller"}),
                    Knob.CLAIM_STATUSES: frozenset({"granted"}),
                },
            ),
            _spec(
                "dispute_rate",
                MetricKind.RATE,
                "orders with a dispute of a counted kind",
                {Knob.DISPUTE_KINDS: frozenset(DISPUTE_KINDS)},
            ),
            _spec(
                "completed_dispute_rate",
                MetricKind.RATE,
                "orders with a dispute of a counted kind opened in the window, among orders "
                "delivered or disputed in the window",
                {Knob.DISPUTE_KINDS: frozenset(DISPUTE_KINDS)},
            ),
            _spec(
                "escalated_dispute_rate",
                MetricKind.RATE,
                "orders with a dispute escalated to arbitration",
            ),
            _spec(
                "seller_fault_dispute_rate",
                MetricKind.RATE,
                "orders with an escalated dispute ruled seller-responsible",
            ),
            _spec("dsr_item_as_described", MetricKind.AVERAGE, "average item-as-described rating"),
            _spec("dsr_communication", MetricKind.AVERAGE, "average communication rating"),
            _spec("dsr_shipping_speed", MetricKind.AVERAGE, "average shipping-speed rating"),
            _spec(
                "positive_feedback_rate",
                MetricKind.RATE,
                "orders rated 4-5 among orders with effective feedback",
            ),
            _spec("gross_sales", MetricKind.AMOUNT, "sum of amount of non-cancelled orders"),
            _spec(
                "sales_growth_rate",
                MetricKind.GROWTH,
                "gross sales growth against the previous window of equal length",
            ),
            _spec(
                "account_age_days",
                MetricKind.COUNT,
                "whole days from the seller's account_opened_at to as_of (sellers table)",
            ),
        )
    }
)

#: Metrics read as of the evaluation date: their window and lag mean nothing.
AS_OF_ONLY = frozenset({"account_age_days"})

#: Metrics whose window defaults to the ODR window when the pack does not say.
ODR_FAMILY = frozenset({"orders", "negative_feedback_rate", "claim_rate", "chargeback_rate"})
DEFAULT_WINDOW = timedelta(days=30)


def has_counts(kind: MetricKind) -> bool:
    """Whether the value is a share or mean of counted things (orders, ratings).

    Their ``__den`` is a volume (what ``min_orders`` checks) and their counts
    give the distance to compliance in orders.
    """
    return kind in (MetricKind.RATE, MetricKind.AVERAGE)


def counts_in_facts(kind: MetricKind) -> bool:
    """Whether facts carry ``<name>__num`` and ``<name>__den`` beside the value.

    Rates and averages (:func:`has_counts`); growth: ``__num`` is the current
    window's sum minus the previous one's, ``__den`` the previous window's sum,
    so that the value is ``__num / __den`` like every rate; a daily-average
    score: ``__num`` the sum of its daily totals, ``__den`` the days it was
    assessed.
    """
    return has_counts(kind) or kind in (MetricKind.GROWTH, MetricKind.SCORE)


#: The metric of the use a score with ``daily_average`` reads its grade from: the
#: mean of the score's daily totals over the window (``engine.metrics.daily``). It is
#: not in :data:`CATALOG`: packs do not declare it, the score does.
DAILY_SCORE = "daily_score_average"
