"""Mappings of JSON reports to metric facts: Amazon Account Health, eBay's Analytics API.

Each report's structure is fixed by its reader (``engine.importers``); its
mapping is the data: the keys it may hold (any other is refused), the keys
that carry metrics and which fields give each metric's rate, numerator,
denominator or count (:class:`MetricRead`), documented variant spellings
(aliases), the keys read by nothing (ignored, counted in a warning), and the
scale of rates (a fraction or a percentage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from sellerpolicy.engine.formats.document import COMMON_KEYS, MappingInfo, Node, read_info
from sellerpolicy.rules.catalog import CATALOG, MetricKind

__all__ = [
    "AmazonHealthMapping",
    "EbayServiceMapping",
    "EbayServiceType",
    "EbayStandardsMapping",
    "HealthObject",
    "IgnoredKey",
    "MetricRead",
    "RateScale",
    "StandardsMetric",
    "read_amazon_health",
    "read_ebay_service",
    "read_ebay_standards",
]


class RateScale(StrEnum):
    """How a report writes a rate: 0.009, or 0.9 for 0.9%, or undocumented."""

    FRACTION = "fraction"
    PERCENT = "percent"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MetricRead:
    """Which fields of a metric object give one catalog metric (dotted paths)."""

    metric: str
    definition: str
    rate: str | None = None
    num: str | None = None
    den: str | None = None
    count: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields read, in the order rate, num, den, count."""
        return tuple(f for f in (self.rate, self.num, self.den, self.count) if f is not None)


@dataclass(frozen=True, slots=True)
class HealthObject:
    """A metric object of an Account Health item, e.g. ``lateShipmentRate``."""

    key: str
    aliases: tuple[str, ...]
    select: str | None  # the sub-object read (``mfn``), when there is one per kind
    reads: tuple[MetricRead, ...]
    ignored: tuple[str, ...]  # dotted fields of the object read by nothing


@dataclass(frozen=True, slots=True)
class IgnoredKey:
    """A key read by nothing, with its documented variant spellings."""

    key: str
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AmazonHealthMapping:
    """The Account Health report (``GET_V2_SELLER_PERFORMANCE_REPORT``)."""

    info: MappingInfo
    metrics_key: str
    root_ignored: tuple[str, ...]
    marketplace_key: str
    window: tuple[str, str, str]  # the window object's key, its start and end keys
    end_is_last_minute: bool
    rate_scale: RateScale
    objects: tuple[HealthObject, ...]
    ignored: tuple[IgnoredKey, ...]


@dataclass(frozen=True, slots=True)
class StandardsMetric:
    """A metricKey of eBay's seller standards profile and the catalog metric it gives."""

    key: str
    metric: str
    type: str  # NUMBER | RATE
    definition: str


@dataclass(frozen=True, slots=True)
class EbayStandardsMapping:
    """eBay's seller standards profile (Sell Analytics API)."""

    info: MappingInfo
    profile_keys: tuple[str, ...]
    metric_keys: tuple[str, ...]
    programs: tuple[str, ...]
    cycles: tuple[str, ...]
    rate_scale: RateScale
    metrics: Mapping[str, StandardsMetric]
    ignored: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EbayServiceType:
    """A customer service metric type, known by its dimension key."""

    dimension_key: str
    type: str
    metric: str
    name: str
    knobs: Mapping[str, tuple[str, ...]]
    definition: str


@dataclass(frozen=True, slots=True)
class EbayServiceMapping:
    """eBay's customer service metric response (Sell Analytics API)."""

    info: MappingInfo
    response_keys: tuple[str, ...]
    dimension_keys: tuple[str, ...]
    metric_keys: tuple[str, ...]
    cycle_keys: tuple[str, ...]
    types: Mapping[str, EbayServiceType]
    numerator: str
    denominator: str
    rate: str
    rate_scale: RateScale


def _read(node: Node) -> MetricRead:
    node.keys(["metric", "definition"], ["rate", "num", "den", "count"])
    metric = node.at("metric").metric()
    parts = {k: node.at(k).text() for k in ("rate", "num", "den", "count") if node.has(k)}
    kind = CATALOG[metric].kind
    if kind is MetricKind.RATE:
        if ("num" in parts) != ("den" in parts):
            raise node.fail("a rate reads both num and den, or neither")
        if "count" in parts or not ("rate" in parts or "num" in parts):
            raise node.fail("a rate reads rate, and/or num and den")
    elif set(parts) != {"count"}:
        raise node.fail(f"{metric} is a {kind.value}: read it with count")
    return MetricRead(metric, node.at("definition").text(), **parts)


def _aliases(node: Node) -> tuple[str, ...]:
    return node.at("aliases").texts() if node.has("aliases") else ()


def read_amazon_health(root: Node) -> AmazonHealthMapping:
    """The Account Health mapping of a parsed document."""
    own = (
        "metrics_key",
        "root_ignored",
        "marketplace_key",
        "window",
        "rate_scale",
        "objects",
        "ignored",
    )
    root.keys(["kind", "id", "version", "report_type", "title", "documentation", *own], COMMON_KEYS)
    info = read_info(root, "amazon-account-health")
    window = root.at("window")
    window.keys(["key", "start", "end", "end_is_last_minute"])
    last_minute = window.at("end_is_last_minute").value
    if not isinstance(last_minute, bool):
        raise window.at("end_is_last_minute").fail("must be true or false")
    objects = []
    for key, node in root.at("objects").items():
        node.keys(["reads"], ["aliases", "select", "ignored"])
        reads = tuple(_read(r) for r in node.at("reads").elements())
        ignored = node.at("ignored").texts() if node.has("ignored") else ()
        select = node.at("select").text() if node.has("select") else None
        objects.append(HealthObject(key, _aliases(node), select, reads, ignored))
    ignored_keys = []
    for node in root.at("ignored").elements():
        node.keys(["key"], ["aliases"])
        ignored_keys.append(IgnoredKey(node.at("key").text(), _aliases(node)))
    _distinct_keys(root, [o.key for o in objects] + [i.key for i in ignored_keys])
    return AmazonHealthMapping(
        info=info,
        metrics_key=root.at("metrics_key").text(),
        root_ignored=root.at("root_ignored").texts(),
        marketplace_key=root.at("marketplace_key").text(),
        window=(window.at("key").text(), window.at("start").text(), window.at("end").text()),
        end_is_last_minute=last_minute,
        rate_scale=RateScale(root.at("rate_scale").choice(tuple(RateScale))),
        objects=tuple(objects),
        ignored=tuple(ignored_keys),
    )


def _distinct_keys(root: Node, keys: list[str]) -> None:
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise root.fail(f"key {key!r} is both read and ignored, or listed twice")


def read_ebay_standards(root: Node) -> EbayStandardsMapping:
    """The seller standards profile mapping of a parsed document."""
    own = ("profile_keys", "metric_keys", "programs", "cycles", "rate_scale", "metrics", "ignored")
    root.keys(["kind", "id", "version", "report_type", "title", "documentation", *own], COMMON_KEYS)
    info = read_info(root, "ebay-seller-standards")
    metrics = {}
    for key, node in root.at("metrics").items():
        node.keys(["metric", "type", "definition"])
        metric = node.at("metric").metric()
        kind = node.at("type").choice(("NUMBER", "RATE"))
        if (kind == "RATE") != (CATALOG[metric].kind is MetricKind.RATE):
            raise node.at("type").fail(f"{metric} is a {CATALOG[metric].kind.value}")
        metrics[key] = StandardsMetric(key, metric, kind, node.at("definition").text())
    ignored = root.at("ignored").texts()
    _distinct_keys(root, [*metrics, *ignored])
    return EbayStandardsMapping(
        info=info,
        profile_keys=root.at("profile_keys").texts(),
        metric_keys=root.at("metric_keys").texts(),
        programs=root.at("programs").texts(),
        cycles=root.at("cycles").texts(),
        rate_scale=RateScale(root.at("rate_scale").choice(tuple(RateScale))),
        metrics=MappingProxyType(metrics),
        ignored=ignored,
    )


def read_ebay_service(root: Node) -> EbayServiceMapping:
    """The customer service metric mapping of a parsed document."""
    own = (
        "response_keys",
        "dimension_keys",
        "metric_keys",
        "cycle_keys",
        "types",
        "numerator",
        "denominator",
        "rate",
        "rate_scale",
    )
    root.keys(["kind", "id", "version", "report_type", "title", "documentation", *own], COMMON_KEYS)
    info = read_info(root, "ebay-customer-service-metric")
    types = {}
    for key, node in root.at("types").items():
        node.keys(["type", "metric", "name", "knobs", "definition"])
        metric = node.at("metric").metric()
        if CATALOG[metric].kind is not MetricKind.RATE:
            raise node.at("metric").fail(f"{metric} is not a rate")
        knobs = {k: v.texts() for k, v in node.at("knobs").items()}
        name = node.at("name").text()
        types[key] = EbayServiceType(
            key, node.at("type").text(), metric, name, MappingProxyType(knobs),
            node.at("definition").text(),
        )  # fmt: skip
    return EbayServiceMapping(
        info=info,
        response_keys=root.at("response_keys").texts(),
        dimension_keys=root.at("dimension_keys").texts(),
        metric_keys=root.at("metric_keys").texts(),
        cycle_keys=root.at("cycle_keys").texts(),
        types=MappingProxyType(types),
        numerator=root.at("numerator").text(),
        denominator=root.at("denominator").text(),
        rate=root.at("rate").text(),
        rate_scale=RateScale(root.at("rate_scale").choice(tuple(RateScale))),
    )
