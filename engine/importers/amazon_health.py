"""Amazon's Account Health report (``GET_V2_SELLER_PERFORMANCE_REPORT``, JSON) read.

:func:`read_account_health` walks one report by its mapping
(``formats/mappings/amazon-account-health-*.yaml``) and returns the metrics it
states as :class:`~sellerpolicy.engine.importers.reported.Reported` values, one
per metric read, for one marketplace of the account:

* every key is known: a metric object the mapping reads (under its name or a
  documented variant spelling, e.g. ``prefulfillmentCancelRate``), a key it
  ignores (counted), or the marketplace id; anything else is a
  :class:`~sellerpolicy.engine.importers.json_input.ReportError` naming the
  file and the JSON path, and so is a field of the wrong type or a field the
  mapping reads that is missing;
* a metric object the report lacks leaves its metrics out (null in the facts);
* each metric keeps its reporting window (``reportingDateRange``; its end is
  the window's last minute, so the window ends a minute later).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sellerpolicy.engine.formats.json_reports import AmazonHealthMapping, HealthObject, MetricRead
from sellerpolicy.engine.importers.json_input import JNode, read_json
from sellerpolicy.engine.importers.reported import Reported

__all__ = ["HealthReport", "read_account_health"]


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What one report gave: the metrics read, and how many fields nothing reads."""

    reported: tuple[Reported, ...]
    ignored: int
    marketplace: str
    marketplaces: tuple[str, ...]  # every marketplace of the report


def read_account_health(
    path: Path, seller_id: str, mapping: AmazonHealthMapping, marketplace: str | None = None
) -> HealthReport:
    """The metrics of account ``seller_id`` in ``marketplace`` (needed when the report
    has several). ReportError for anything the mapping does not allow."""
    root = read_json(path)
    root.only([mapping.metrics_key, *mapping.root_ignored], f"mapping {mapping.info.id}")
    ignored = sum(1 for key in mapping.root_ignored if root.has(key))
    items = list(root.at(mapping.metrics_key).elements())
    ids = tuple(item.at(mapping.marketplace_key).text() for item in items)
    if not items:
        raise root.at(mapping.metrics_key).fail("holds no marketplace")
    if marketplace is None and len(items) > 1:
        raise root.at(mapping.metrics_key).fail(
            f"holds marketplaces {', '.join(ids)}: choose one (--marketplace)"
        )
    chosen = ids[0] if marketplace is None else marketplace
    if chosen not in ids:
        raise root.at(mapping.metrics_key).fail(
            f"has no marketplace {chosen!r} (it has {', '.join(ids)})"
        )
    reported: list[Reported] = []
    for item, market in zip(items, ids, strict=True):
        found, skipped = _item(item, str(path), seller_id, market, mapping)
        if market == chosen:
            reported += found
            ignored += skipped
    return HealthReport(tuple(reported), ignored, chosen, ids)


def _item(
    item: JNode, file: str, seller: str, market: str, mapping: AmazonHealthMapping
) -> tuple[list[Reported], int]:
    """The metrics of one performanceMetrics item (every item is checked)."""
    read_keys = {k: o.key for o in mapping.objects for k in (o.key, *o.aliases)}
    ignored_keys = {k: i.key for i in mapping.ignored for k in (i.key, *i.aliases)}
    seen: dict[str, str] = {}
    reported: list[Reported] = []
    skipped = 0
    for key in item.fields():
        if key == mapping.marketplace_key:
            continue
        canonical = read_keys.get(key) or ignored_keys.get(key)
        if canonical is None:
            raise item.at(key).fail(
                f"unknown field {key!r}: not a key of {mapping.info.report_type} "
                f"{mapping.info.version} (mapping {mapping.info.path.name})"
            )
        if canonical in seen:
            raise item.at(key).fail(f"{key!r} and {seen[canonical]!r} are the same metric")
        seen[canonical] = key
        if key in ignored_keys:
            skipped += 1
            continue
        obj = next(o for o in mapping.objects if o.key == canonical)
        found, extra = _object(item.at(key), obj, file, seller, market, mapping)
        reported += found
        skipped += extra
    return reported, skipped


def _object(  # noqa: PLR0917 - one metric object and whose it is
    node: JNode,
    obj: HealthObject,
    file: str,
    seller: str,
    market: str,
    mapping: AmazonHealthMapping,
) -> tuple[list[Reported], int]:
    """The metrics of one metric object; the number of its fields nothing reads."""
    if obj.select is not None:
        node.only(["mfn", "afn"], f"the fulfillment types of {obj.key}")
        if not node.has(obj.select):
            return [], len(node.fields())
        skipped = len(node.fields()) - 1
        node = node.at(obj.select)
    else:
        skipped = 0
    window_key, start_key, end_key = mapping.window
    _check_fields(node, obj, window_key)
    window_node = node.at(window_key)
    window_node.only([start_key, end_key], f"the reporting window of {obj.key}")
    start = window_node.at(start_key).instant()
    end = window_node.at(end_key).instant()
    if mapping.end_is_last_minute:
        end += timedelta(minutes=1)
    if end <= start:
        raise window_node.fail(f"the window ends ({end:%Y-%m-%d %H:%M}) before it starts")
    reported = [
        _read(node, read, file=file, seller=seller, market=market, window=(start, end),
              mapping=mapping)
        for read in obj.reads
    ]  # fmt: skip
    return reported, skipped + len(obj.ignored)


def _check_fields(node: JNode, obj: HealthObject, window_key: str) -> None:
    """Refuse a field of the object that the mapping neither reads nor ignores."""
    paths = [window_key, *obj.ignored, *(f for read in obj.reads for f in read.fields)]
    _only_tree(node, paths, obj.key)


def _only_tree(node: JNode, paths: Sequence[str], where: str) -> None:
    heads: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        heads.setdefault(head, [])
        if rest:
            heads[head].append(rest)
    node.only(list(heads), f"the fields of {where}")
    for head, rests in heads.items():
        if rests and node.has(head) and node.at(head).is_object():
            _only_tree(node.at(head), rests, where)


def _read(
    node: JNode,
    read: MetricRead,
    *,
    file: str,
    seller: str,
    market: str,
    window: tuple[datetime, datetime],
    mapping: AmazonHealthMapping,
) -> Reported:
    """One metric of a metric object: its value as written, its counts, its window."""
    value = None
    if read.rate is not None:
        value = node.dotted(read.rate).number()
    elif read.count is not None:
        value = node.dotted(read.count).number()
        node.dotted(read.count).count()
    num = node.dotted(read.num).count() if read.num is not None else None
    den = node.dotted(read.den).count() if read.den is not None else None
    first = read.rate or read.num or read.count or ""
    return Reported(
        file=file,
        seller_id=seller,
        metric=read.metric,
        source=f"{node.path}.{first}",
        definition=read.definition,
        mapping=mapping.info.id,
        value=value,
        num=num,
        den=den,
        scale=mapping.rate_scale,
        window=window,
        marketplace=market,
    )
