"""Workbench pages: stored decisions filtered, counted, charted, paged and exported.

``/decisions`` filters by pack, version, status, enforced action, firing
rule and ``as_of`` range; counts the matches by status and by action (a
chart and a table); lists a page of them, newest first, each seller linking
to its page; and links the export of the whole filtered set,
``/decisions/export?format=csv|jsonl&...``, streamed in chunks (JSON lines:
each stored decision document as it was written; CSV: one row per decision,
text cells a spreadsheet would run as formulas neutralised as the batch CSV
output does).

Without dates the range is the latest ``as_of`` day that has decisions (the
page says so): a day is what a page can count fast on a store of millions of
decisions, and counts stop at
:data:`~sellerpolicy.engine.store.browse.COUNT_LIMIT` decisions (wider
ranges are listed and exported, not counted). Query parameters are checked;
a bad one is a 400 page naming it, with the form to fix it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlencode

import pyarrow as pa
import pyarrow.csv as pa_csv
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from sellerpolicy.engine.batch.sinks import neutralise_formulas
from sellerpolicy.engine.change.charts import decision_counts_chart
from sellerpolicy.engine.service.state import ServiceState, state_of
from sellerpolicy.engine.store.browse import (
    COUNT_LIMIT,
    STATUSES,
    DecisionCounts,
    DecisionFilter,
    DecisionRow,
)
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.sessions import Session
from sellerpolicy.rules.model import ACTIONS

from .render import page, security_headers
from .sellers import ID_LIMIT, browser_of
from .session import require_page

__all__ = ["MAX_OFFSET", "PAGE_SIZE", "chart_link", "parse_query", "router"]

router = APIRouter(include_in_schema=False)

Reader = Annotated[Session, Depends(require_page(Role.READER))]

#: Decisions per page of the list.
PAGE_SIZE = 50
#: The list pages no further than this many decisions (the export has them all).
MAX_OFFSET = 10_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")  # a rule id, an action, a status
_MAX_BARS = 40
_FIELDS = ("pack", "version", "status", "action", "rule", "from", "to")
_CSV_COLUMNS = (
    "decision_id", "seller_id", "pack_id", "pack_version", "as_of", "status",
    "actions", "fired_rules", "evaluated_at", "run_id",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Filters:
    """The checked query of a decisions page or export."""

    chosen: DecisionFilter
    page: int
    defaulted: bool  # no dates were given: the range is the latest as_of day
    errors: tuple[str, ...]
    raw: dict[str, str]

    def link(self, **changes: str | int | None) -> str:
        """The query string of this filter with ``changes`` (None drops a field)."""
        values: dict[str, Any] = {k: v for k, v in self.raw.items() if v}
        for key, value in changes.items():
            if value is None or value == "":
                values.pop(key, None)
            else:
                values[key] = value
        return urlencode(values)


def _day(text: str, name: str, errors: list[str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(f"{name}: {text!r} is not a date (YYYY-MM-DD)")
        return None


def parse_query(params: dict[str, str], latest: date | None) -> Filters:
    """Check the page's parameters; a missing range becomes the latest day ``latest``."""
    raw = {k: params.get(k, "").strip() for k in (*_FIELDS, "page")}
    errors: list[str] = []
    for key in ("pack", "version", "rule", "action"):
        if len(raw[key]) > ID_LIMIT:
            errors.append(f"{key}: at most {ID_LIMIT} characters")
    for key in ("rule", "action"):
        if raw[key] and not _NAME.match(raw[key]):
            errors.append(f"{key}: {raw[key]!r} is not a {key} name")
    if raw["status"] and raw["status"] not in STATUSES:
        errors.append(f"status: {raw['status']!r} is not one of {', '.join(STATUSES)}")
    first, last = _day(raw["from"], "from", errors), _day(raw["to"], "to", errors)
    if first and last and first > last:
        errors.append(f"from {first} is after to {last}")
    page_number = 1
    if raw["page"]:
        if not raw["page"].isdigit() or not 1 <= int(raw["page"]) <= MAX_OFFSET // PAGE_SIZE:
            errors.append(f"page: a whole number from 1 to {MAX_OFFSET // PAGE_SIZE}")
        else:
            page_number = int(raw["page"])
    defaulted = not raw["from"] and not raw["to"] and latest is not None and not errors
    if defaulted:
        first = last = latest
        raw["from"] = raw["to"] = latest.isoformat() if latest else ""
    chosen = DecisionFilter(
        pack_id=raw["pack"] or None,
        pack_version=raw["version"] or None,
        status=raw["status"] or None,
        rule_id=raw["rule"] or None,
        action=raw["action"] or None,
        as_of_from=first,
        as_of_to=last,
    )
    return Filters(chosen, page_number, defaulted, tuple(errors), raw)


@dataclass(frozen=True, slots=True)
class Options:
    """What the filter's lists offer: the packs, versions, rules and actions known."""

    packs: list[str]
    versions: list[str]
    rules: list[str]
    actions: list[str]


def _options(state: ServiceState, pack_ids: list[str], chosen: DecisionFilter) -> Options:
    """Packs with decisions or stored; the stored versions, rules and actions (of the
    chosen pack, else of all); a value asked for stays in its list."""
    stored = state.packs.versions()
    packs = {*pack_ids, *(v.pack_id for v in stored)}
    versions: set[str] = set()
    rules: set[str] = set()
    actions: set[str] = set(ACTIONS)
    for version in stored:
        if chosen.pack_id is None or version.pack_id == chosen.pack_id:
            versions.add(version.version)
            compiled = state.compiled.get(version)
            rules.update(rule.id for rule in compiled.rules)
            actions.update(compiled.status_map)
    for value, known in (
        (chosen.pack_id, packs),
        (chosen.pack_version, versions),
        (chosen.rule_id, rules),
        (chosen.action, actions),
    ):
        if value is not None:
            known.add(value)
    return Options(sorted(packs), sorted(versions, reverse=True), sorted(rules), sorted(actions))


def chart_link(counts: DecisionCounts) -> str:
    """The URL of the counts chart: the counts travel in it, the chart needs no query."""
    pairs = [("s", f"{name}:{n}") for name, n in counts.by_status.items()]
    pairs += [("a", f"{name}:{n}") for name, n in counts.by_action.items()]
    return "/decisions/chart.svg?" + urlencode(pairs)


Bars = tuple[tuple[str, int], ...]


def _bars(values: list[str]) -> Bars | None:
    """``name:count`` pairs as bars; None when one is not a name and a whole count."""
    bars = []
    for value in values[:_MAX_BARS]:
        name, _, count = value.rpartition(":")
        if not _NAME.match(name) or len(name) > 60 or not count.isdigit() or len(count) > 15:
            return None
        bars.append((name, int(count)))
    return tuple(bars)


@lru_cache(maxsize=128)
def _counts_svg(statuses: Bars, actions: Bars) -> bytes:
    """The counts chart (remembered: the same counts draw the same chart)."""
    return decision_counts_chart(statuses, actions)


@router.get("/decisions/chart.svg")
async def counts_chart(request: Request, _session: Reader) -> Response:
    """The bars of given counts (``s=status:n``, ``a=action:n``), as SVG."""
    statuses = _bars(request.query_params.getlist("s"))
    actions = _bars(request.query_params.getlist("a"))
    if statuses is None or actions is None:
        return Response("not a count: name:number", status_code=400, headers=security_headers())
    svg = await run_in_threadpool(_counts_svg, statuses, actions)
    headers = security_headers() | {"cache-control": "private, max-age=86400"}
    return Response(svg, media_type="image/svg+xml", headers=headers)


def _query(request: Request) -> Filters:
    latest = browser_of(request).latest_days(1)
    return parse_query(dict(request.query_params), latest[0] if latest else None)


@router.get("/decisions", response_class=HTMLResponse)
def decisions_page(request: Request, session: Reader) -> Response:
    """The filter, the counts by status and action, and a page of matching decisions."""
    state = state_of(request)
    browser = browser_of(request)
    query = _query(request)
    context: dict[str, Any] = {
        "query": query,
        "options": _options(state, browser.pack_ids(), query.chosen),
        "statuses": STATUSES,
        "count_limit": COUNT_LIMIT,  # read at each request (tests lower it)
        "page_size": PAGE_SIZE,
        "max_offset": MAX_OFFSET,
    }
    if query.errors:
        context |= {"counts": None, "rows": [], "chart": None, "more": False}
        return page(request, "decisions.html.j2", context, session=session, status_code=400)
    counts = browser.counts(query.chosen, limit=COUNT_LIMIT)
    offset = (query.page - 1) * PAGE_SIZE
    rows = browser.rows(query.chosen, offset=offset, limit=PAGE_SIZE + 1)
    chart = chart_link(counts) if not counts.limited and counts.total else None
    bars = max(len(counts.by_status), len(counts.by_action), 1)
    context |= {
        "counts": counts,
        "rows": rows[:PAGE_SIZE],
        "more": len(rows) > PAGE_SIZE and offset + PAGE_SIZE < MAX_OFFSET,
        "chart": chart,
        "chart_height": round((0.55 + 0.3 * bars) * 96),  # as decision_counts_chart draws
        "offset": offset,
    }
    return page(request, "decisions.html.j2", context, session=session)


@router.get("/decisions/export")
def decisions_export(
    request: Request,
    session: Reader,
    kind: Annotated[str, Query(alias="format")] = "csv",
) -> Response:
    """Every decision of the filter, streamed as CSV or JSON lines."""
    query = _query(request)
    errors = list(query.errors)
    if kind not in ("csv", "jsonl"):
        errors.append(f"format: {kind[:20]!r} is not csv or jsonl")
    if errors:
        message = "; ".join(errors)
        return page(request, "error.html.j2", {"message": message}, session=session,
                    status_code=400)  # fmt: skip
    chunks = browser_of(request).export(query.chosen, documents=kind == "jsonl")
    span = "-".join(d.isoformat() for d in (query.chosen.as_of_from, query.chosen.as_of_to) if d)
    name = f"decisions{'-' + span if span else ''}.{kind}"
    headers = security_headers() | {"content-disposition": f'attachment; filename="{name}"'}
    if kind == "jsonl":
        return StreamingResponse(
            _jsonl(chunks), media_type="application/x-ndjson; charset=utf-8", headers=headers
        )
    return StreamingResponse(_csv(chunks), media_type="text/csv; charset=utf-8", headers=headers)


def _jsonl(chunks: Iterator[list[DecisionRow]]) -> Iterator[bytes]:
    """Each decision's stored document, one per line, as stored."""
    for chunk in chunks:
        yield "".join(f"{row.document}\n" for row in chunk).encode()


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _csv(chunks: Iterator[list[DecisionRow]]) -> Iterator[bytes]:
    """One row per decision; formula-like text cells neutralised (a leading ``'``)."""
    schema = pa.schema([(name, pa.string()) for name in _CSV_COLUMNS])
    header = True
    for chunk in chunks:
        columns: dict[str, list[str]] = {name: [] for name in _CSV_COLUMNS}
        for row in chunk:
            values = (
                row.decision_id, row.seller_id, row.pack_id, row.pack_version, _iso(row.as_of),
                row.status, ";".join(row.actions), ";".join(r.rule_id for r in row.fired),
                _iso(row.evaluated_at), row.run_id,
            )  # fmt: skip
            for name, value in zip(_CSV_COLUMNS, values, strict=True):
                columns[name].append(value)
        table = neutralise_formulas(pa.table(columns, schema=schema))
        buffer = io.BytesIO()
        pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=header))
        header = False
        yield buffer.getvalue()
