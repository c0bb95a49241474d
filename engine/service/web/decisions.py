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

import base64
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

from sellerpolicy.engine.batch.sinks import neutralise_formulas
from sellerpolicy.engine.change.charts import decision_counts_chart
from sellerpolicy.engine.service.state import ServiceState, state_of
from sellerpolicy.engine.store.browse import COUNT_LIMIT, STATUSES, DecisionFilter
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.records import StoredDecision, encode_json
from sellerpolicy.engine.store.sessions import Session
from sellerpolicy.rules.model import ACTIONS

from .render import page, security_headers
from .sellers import ID_LIMIT, browser_of
from .session import require_page

__all__ = ["MAX_OFFSET", "PAGE_SIZE", "router"]

router = APIRouter(include_in_schema=False)

Reader = Annotated[Session, Depends(require_page(Role.READER))]

#: Decisions per page of the list.
PAGE_SIZE = 50
#: The list pages no further than this many decisions (the export has them all).
MAX_OFFSET = 10_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$")  # a rule id or an action
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


@lru_cache(maxsize=64)
def _chart_uri(statuses: tuple[tuple[str, int], ...], actions: tuple[tuple[str, int], ...]) -> str:
    """The counts chart as a data URI (remembered: a day's counts rarely change)."""
    svg = decision_counts_chart(statuses, actions)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


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
    chart = None
    if not counts.limited and counts.total:
        chart = _chart_uri(tuple(counts.by_status.items()), tuple(counts.by_action.items()))
    context |= {
        "counts": counts,
        "rows": rows[:PAGE_SIZE],
        "more": len(rows) > PAGE_SIZE and offset + PAGE_SIZE < MAX_OFFSET,
        "chart": chart,
        "offset": offset,
    }
    return page(request, "decisions.html.j2", context, session=session)


@router.get("/decisions/export")
def decisions_export(
    request: Request,
    session: Reader,
    kind: Annotated[str, Query(alias="format", max_length=20)] = "csv",
) -> Response:
    """Every decision of the filter, streamed as CSV or JSON lines."""
    query = _query(request)
    errors = list(query.errors)
    if kind not in ("csv", "jsonl"):
        errors.append(f"format: {kind!r} is not csv or jsonl")
    if errors:
        message = "; ".join(errors)
        return page(request, "error.html.j2", {"message": message}, session=session,
                    status_code=400)  # fmt: skip
    chunks = browser_of(request).export(query.chosen)
    span = "-".join(d.isoformat() for d in (query.chosen.as_of_from, query.chosen.as_of_to) if d)
    name = f"decisions{'-' + span if span else ''}.{kind}"
    headers = security_headers() | {"content-disposition": f'attachment; filename="{name}"'}
    if kind == "jsonl":
        return StreamingResponse(
            _jsonl(chunks), media_type="application/x-ndjson; charset=utf-8", headers=headers
        )
    return StreamingResponse(_csv(chunks), media_type="text/csv; charset=utf-8", headers=headers)


def _jsonl(chunks: Iterator[list[StoredDecision]]) -> Iterator[bytes]:
    """Each decision's stored document, one per line."""
    for chunk in chunks:
        yield "".join(encode_json(d.document) + "\n" for d in chunk).encode()


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _csv(chunks: Iterator[list[StoredDecision]]) -> Iterator[bytes]:
    """One row per decision; formula-like text cells neutralised (a leading ``'``)."""
    schema = pa.schema([(name, pa.string()) for name in _CSV_COLUMNS])
    header = True
    for chunk in chunks:
        columns: dict[str, list[str]] = {name: [] for name in _CSV_COLUMNS}
        for d in chunk:
            fired = [r for r in d.rules if r.fired]
            values = (
                d.decision_id, d.seller_id, d.pack_id, d.pack_version, _iso(d.as_of), d.status,
                ";".join(dict.fromkeys(a for r in fired for a in r.actions)),
                ";".join(r.rule_id for r in fired), _iso(d.evaluated_at), d.run_id,
            )  # fmt: skip
            for name, value in zip(_CSV_COLUMNS, values, strict=True):
                columns[name].append(value)
        table = neutralise_formulas(pa.table(columns, schema=schema))
        buffer = io.BytesIO()
        pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=header))
        header = False
        yield buffer.getvalue()
