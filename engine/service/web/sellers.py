"""Workbench pages: find a seller, and a seller's decisions, timeline and metrics.

``/sellers`` searches seller ids by prefix (an index range, see
:mod:`sellerpolicy.engine.store.browse`). ``/sellers/{id}`` shows, for each
pack that judged the seller, the current decision (latest ``as_of``) with
every rule's outcome, explanation and distance to compliance, the timeline
of decisions (status, enforced actions, each firing rule's place on its
escalation ladder from the stored streak) and each metric a rule compares to
a threshold as a small chart over time (:mod:`.seller_history`). The charts
are images served by ``/sellers-chart``: the page answers before they are
drawn, the browser fetches them side by side, and a chart drawn once is
remembered (:func:`_drawn`). Each chart has its values as a table beside it.

The pack version that made a decision, when the pack store has it, adds the
rule titles, remediation, ladders and which metrics are rates (in %).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from sellerpolicy.engine.change.charts import metric_timeline
from sellerpolicy.engine.service.state import ServiceState, state_of
from sellerpolicy.engine.store.browse import DecisionBrowser
from sellerpolicy.engine.store.browse_sellers import SellerBrowser
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.packs import PackNotFoundError
from sellerpolicy.engine.store.records import StoredDecision
from sellerpolicy.engine.store.sessions import Session
from sellerpolicy.rules.model import CompiledPack

from .render import page, security_headers
from .seller_history import MetricSeries, pack_histories
from .session import require_page

__all__ = [
    "HISTORY_LIMIT",
    "ID_LIMIT",
    "SEARCH_LIMIT",
    "browser_of",
    "router",
    "sellers_of",
]

router = APIRouter(include_in_schema=False)

Reader = Annotated[Session, Depends(require_page(Role.READER))]

#: Sellers listed by a search.
SEARCH_LIMIT = 50
#: A seller's newest decisions a seller page reads (every pack together).
HISTORY_LIMIT = 400
#: The longest seller id, pack id or metric name a page accepts.
ID_LIMIT = 200


@cache
def _browser(state: ServiceState) -> DecisionBrowser:
    return DecisionBrowser(state.store.engine, state.store.where)


@cache
def _sellers(state: ServiceState) -> SellerBrowser:
    return SellerBrowser(state.store.engine, state.store.where)


def browser_of(request: Request) -> DecisionBrowser:
    """The decision browser of the app serving ``request``."""
    return _browser(state_of(request))


def sellers_of(request: Request) -> SellerBrowser:
    """The seller browser of the app serving ``request``."""
    return _sellers(state_of(request))


def _compiled(state: ServiceState) -> Callable[[StoredDecision], CompiledPack | None]:
    """A lookup of the pack version that made a decision (None when not stored)."""
    found: dict[tuple[str, str], CompiledPack | None] = {}

    def compiled(decision: StoredDecision) -> CompiledPack | None:
        key = (decision.pack_id, decision.pack_version)
        if key not in found:
            try:
                found[key] = state.compiled.get(state.packs.get(*key))
            except PackNotFoundError:
                found[key] = None
        return found[key]

    return compiled


def _bad_request(request: Request, session: Session, message: str) -> Response:
    return page(request, "error.html.j2", {"message": message}, session=session, status_code=400)


@router.get("/sellers", response_class=HTMLResponse)
def sellers_page(request: Request, session: Reader, q: str = "") -> Response:
    """Sellers whose id starts with ``q`` (all sellers, in order, when it is empty)."""
    prefix = q.strip()
    if len(prefix) > ID_LIMIT:
        return _bad_request(request, session, f"a seller id has at most {ID_LIMIT} characters")
    hits = sellers_of(request).sellers(prefix, limit=SEARCH_LIMIT + 1)
    shown = hits[:SEARCH_LIMIT]
    context = {
        "q": prefix,
        "hits": shown,
        "packs": sorted({pack_id for hit in shown for pack_id, _as_of, _status in hit.current}),
        "more": len(hits) > SEARCH_LIMIT,
    }
    return page(request, "sellers.html.j2", context, session=session)


@router.get("/sellers-chart", include_in_schema=False)
async def seller_chart(
    request: Request,
    _session: Reader,
    seller: Annotated[str, Query(min_length=1, max_length=ID_LIMIT)],
    pack: Annotated[str, Query(min_length=1, max_length=ID_LIMIT)],
    metric: Annotated[str, Query(min_length=1, max_length=ID_LIMIT)],
) -> Response:
    """One metric of a seller under one pack over time, as SVG (404 when there is none)."""
    found = await run_in_threadpool(_seller_series, request, seller, pack, metric)
    if found is None:
        return Response("no such chart", status_code=404, headers=security_headers())
    svg = await run_in_threadpool(_drawn, found)
    headers = security_headers() | {"cache-control": "private, max-age=60"}
    return Response(svg, media_type="image/svg+xml", headers=headers)


def _seller_series(request: Request, seller: str, pack: str, metric: str) -> MetricSeries | None:
    state = state_of(request)
    decisions = [
        d
        for d in sellers_of(request).seller_decisions(seller, limit=HISTORY_LIMIT)
        if d.pack_id == pack
    ]
    for history in pack_histories(decisions, _compiled(state)):
        for item in history.series:
            if item.metric == metric:
                return item
    return None


@lru_cache(maxsize=512)
def _drawn(series: MetricSeries) -> bytes:
    """The chart of a series (remembered: the same values draw the same chart)."""
    return metric_timeline(
        series.days,
        series.values,
        [(rule, line) for rule, line in series.thresholds],
        series.fired,
        percent=series.percent,
    )


@router.get("/sellers/{seller_id:path}", response_class=HTMLResponse)
def seller_page(request: Request, seller_id: str, session: Reader) -> Response:
    """A seller: per pack, the current decision, the timeline and the metrics' charts."""
    if not seller_id or len(seller_id) > ID_LIMIT:
        return _bad_request(request, session, f"a seller id has 1 to {ID_LIMIT} characters")
    state = state_of(request)
    decisions = sellers_of(request).seller_decisions(seller_id, limit=HISTORY_LIMIT + 1)
    if not decisions:
        missing = {"message": f"No decision is stored for seller {seller_id}."}
        return page(request, "error.html.j2", missing, session=session, status_code=404)
    histories = pack_histories(decisions[:HISTORY_LIMIT], _compiled(state))
    context: dict[str, object] = {
        "seller_id": seller_id,
        "histories": histories,
        "truncated": len(decisions) > HISTORY_LIMIT,
        "history_limit": HISTORY_LIMIT,
        "chart_url": lambda pack_id, metric: (
            "/sellers-chart?" + urlencode({"seller": seller_id, "pack": pack_id, "metric": metric})
        ),
    }
    return page(request, "seller.html.j2", context, session=session)
