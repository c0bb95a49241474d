"""eBay's Sell Analytics API responses read: seller standards profile, customer service.

:func:`read_seller_standards` reads a ``getSellerStandardsProfile`` response
(one profile) or a ``findSellerStandardsProfiles`` response (``standardsProfiles``,
the profile chosen by program and cycle) and returns each metric of the
profile its mapping knows as a
:class:`~sellerpolicy.engine.importers.reported.Reported` value: a RATE's
percentage with its numerator and denominator, a NUMBER's value, the
lookback window of each.

:func:`read_customer_service` reads a ``getCustomerServiceMetric`` response:
its type is known by its dimension (listing categories: item not as described;
shipping regions: item not received), its rate is ``TRANSACTION_COUNT /
COUNT`` summed over the dimensions, over the evaluation cycle's window.

Any key the mapping does not list, a value of the wrong type or a field the
mapping reads that is missing is a
:class:`~sellerpolicy.engine.importers.json_input.ReportError` naming the file
and the JSON path.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sellerpolicy.engine.formats.json_reports import (
    EbayServiceMapping,
    EbayStandardsMapping,
    RateScale,
)
from sellerpolicy.engine.importers.json_input import JNode, read_json
from sellerpolicy.engine.importers.reported import Reported

__all__ = ["EbayReport", "read_customer_service", "read_seller_standards"]


@dataclass(frozen=True, slots=True)
class EbayReport:
    """The metrics one response gave, how many of its metrics nothing reads, and notes."""

    reported: tuple[Reported, ...]
    ignored: int
    warnings: tuple[str, ...] = ()


def read_seller_standards(
    path: Path,
    seller_id: str,
    mapping: EbayStandardsMapping,
    *,
    program: str | None = None,
    cycle: str = "CURRENT",
) -> EbayReport:
    """The metrics of the chosen profile (program: the seller's default program unless
    given; cycle: CURRENT unless given)."""
    root = read_json(path)
    profile = _profile(root, mapping, program, cycle)
    profile.only(mapping.profile_keys, f"mapping {mapping.info.id}")
    reported: list[Reported] = []
    ignored = 0
    for node in profile.at("metrics").elements():
        node.only(mapping.metric_keys, f"mapping {mapping.info.id}")
        key = node.at("metricKey").text()
        if key in mapping.ignored:
            ignored += 1
            continue
        spec = mapping.metrics.get(key)
        if spec is None:
            raise node.at("metricKey").fail(
                f"unknown metricKey {key!r}: not in mapping {mapping.info.path.name}"
            )
        kind = node.at("type").text() if node.has("type") else spec.type
        if kind != spec.type:
            raise node.at("type").fail(f"is {kind!r}; {key} is a {spec.type} metric")
        window = None
        if node.has("lookbackStartDate") and node.has("lookbackEndDate"):
            window = (node.at("lookbackStartDate").instant(), node.at("lookbackEndDate").instant())
        value, num, den = _standards_value(node.at("value"), spec.type)
        reported.append(
            Reported(
                file=str(path),
                seller_id=seller_id,
                metric=spec.metric,
                source=f"{node.path}.value",
                definition=spec.definition,
                mapping=mapping.info.id,
                value=value,
                num=num,
                den=den,
                scale=mapping.rate_scale,
                window=window,
                marketplace=profile.at("program").text() if profile.has("program") else None,
            )
        )
    return EbayReport(tuple(reported), ignored)


def _profile(root: JNode, mapping: EbayStandardsMapping, program: str | None, cycle: str) -> JNode:
    """The profile of a single-profile response, or the one chosen from a list."""
    if root.has("standardsProfiles"):
        root.only(["standardsProfiles"], "a findSellerStandardsProfiles response")
        profiles = list(root.at("standardsProfiles").elements())
    else:
        profiles = [root]
    found = []
    for node in profiles:
        node.only(mapping.profile_keys, f"mapping {mapping.info.id}")
        its_program = node.at("program").choice(mapping.programs)
        its_cycle = node.at("cycle").at("cycleType").choice(mapping.cycles)
        default = node.has("defaultProgram") and node.at("defaultProgram").value is True
        wanted = its_program == program if program is not None else default or len(profiles) == 1
        if wanted and its_cycle == cycle:
            found.append(node)
    if len(found) != 1:
        which = f"program {program or 'the default one'}, cycle {cycle}"
        count = "no profile" if not found else f"{len(found)} profiles"
        raise root.fail(f"{count} of {which} (choose with --program and --cycle)")
    return found[0]


def _standards_value(node: JNode, kind: str) -> tuple[Decimal | None, int | None, int | None]:
    """A NUMBER's value, or a RATE's percentage with its numerator and denominator."""
    if kind == "NUMBER":
        return node.number(), None, None
    node.only(["value", "numerator", "denominator"], "a RATE value")
    value = node.at("value").number(strings=True) if node.has("value") else None
    return value, node.at("numerator").count(), node.at("denominator").count()


def read_customer_service(path: Path, seller_id: str, mapping: EbayServiceMapping) -> EbayReport:
    """The customer service rate of one response, with its counts summed over its
    dimensions, and a warning where a dimension's RATE is neither the fraction nor the
    percentage of its counts."""
    root = read_json(path)
    root.only(mapping.response_keys, f"mapping {mapping.info.id}")
    window = None
    if root.has("evaluationCycle"):
        cycle = root.at("evaluationCycle")
        cycle.only(mapping.cycle_keys, f"mapping {mapping.info.id}")
        if cycle.has("startDate") and cycle.has("endDate"):
            window = (cycle.at("startDate").instant(), cycle.at("endDate").instant())
    kind = None
    num = den = 0
    warnings: list[str] = []
    for node in root.at("dimensionMetrics").elements():
        node.only(mapping.dimension_keys, f"mapping {mapping.info.id}")
        key = node.at("dimension").at("dimensionKey").text()
        if key not in mapping.types:
            raise (
                node.at("dimension")
                .at("dimensionKey")
                .fail(f"unknown dimensionKey {key!r}: not in mapping {mapping.info.path.name}")
            )
        if kind is not None and key != kind:
            raise node.at("dimension").fail(f"mixes dimensions {kind} and {key}")
        kind = key
        counts: dict[str, int] = {}
        rate = None
        for metric in node.at("metrics").elements():
            metric.only(mapping.metric_keys, f"mapping {mapping.info.id}")
            name = metric.at("metricKey").text()
            if name == mapping.rate:
                rate = metric.at("value").number(strings=True)
            elif name in (mapping.numerator, mapping.denominator):
                counts[name] = metric.at("value").count(strings=True)
            else:
                raise metric.at("metricKey").fail(f"unknown metricKey {name!r}")
        if mapping.numerator not in counts or mapping.denominator not in counts:
            raise node.at("metrics").fail(
                f"needs both {mapping.numerator} and {mapping.denominator}"
            )
        n, d = counts[mapping.numerator], counts[mapping.denominator]
        if rate is not None and not _any_scale(rate, n, d):
            warnings.append(
                f"{path}: {node.path}: RATE {rate} is neither {n}/{d} nor that in percent"
            )
        num, den = num + n, den + d
    if kind is None:
        return EbayReport((), 0, tuple(warnings))
    spec = mapping.types[kind]
    reported = Reported(
        file=str(path),
        seller_id=seller_id,
        metric=spec.metric,
        source="$.dimensionMetrics",
        definition=spec.definition,
        mapping=mapping.info.id,
        num=num,
        den=den,
        scale=RateScale.FRACTION,
        window=window,
        marketplace=root.at("marketplaceId").text() if root.has("marketplaceId") else None,
        name=spec.name,
        knobs=spec.knobs,
    )
    return EbayReport((reported,), 0, tuple(warnings))


def _any_scale(rate: Decimal, num: int, den: int) -> bool:
    """Whether ``rate`` is ``num / den`` as a fraction or a percentage, to its digits."""
    if den == 0:
        return rate == 0
    exponent = rate.as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    half = Decimal(5) / Decimal(10) ** (digits + 1)
    exact = Decimal(num) / Decimal(den)
    return abs(exact - rate) <= half or abs(exact * 100 - rate) <= half
