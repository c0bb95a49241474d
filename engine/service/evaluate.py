"""``POST /v1/evaluations``: sellers' metric facts (or one seller's events) -> decisions.

The route resolves the pack once (``id@version``; or ``id`` -> the version
active at the request's ``as_of``, normally the active one, but the one
active back then for an ``as_of`` before the active version's activation:
an appeal is judged by the rules of its day; see
:meth:`~.state.ServiceState.select`), builds :class:`SellerFacts`, reads the sellers' escalation
history, calls :func:`~sellerpolicy.engine.evaluation.evaluate.evaluate` (no decision
logic here), appends every decision to the store with the exact pack version
and digest, and answers with the same JSON text it stored, plus
``pack_selection``: the version used and why.

Each request is one ``service`` run (:mod:`sellerpolicy.engine.store.runs`),
recorded and completed in the transaction that stores its decisions: a seller
evaluated again for the same pack version and ``as_of`` keeps one decision.
With an ``Idempotency-Key`` header the answer is kept in that transaction too
(:mod:`sellerpolicy.engine.store.idempotency`): a retry with the same key and
request gets the same answer (same run and decision ids) and stores nothing;
the same key with another request is a 422.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.engine.evaluation.packtest import fact_names
from sellerpolicy.engine.logs import get_logger
from sellerpolicy.engine.metrics.checks import fact_problems
from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant
from sellerpolicy.engine.store.idempotency import KEY_TTL, KeyTakenError, Remembered, request_hash
from sellerpolicy.engine.store.keys import ApiKey, Role
from sellerpolicy.engine.store.records import DecisionRecord, encode_json
from sellerpolicy.engine.store.runs import RunKind
from sellerpolicy.rules.diagnostics import PackError, SellerPolicyError
from sellerpolicy.rules.model import CompiledPack
from sellerpolicy.rules.suggest import did_you_mean

from .events import facts_from_events
from .lines import (
    JSON,
    NDJSON,
    RUN_ID_HEADER,
    SELECTION_HEADER,
    decision_lines,
    kept_lines,
    negotiate,
)
from .load import begin_write
from .models import EvaluationRequest, EvaluationResponse
from .offload import let_the_server_run
from .problems import FieldError, ProblemError, problem_responses
from .state import Selection, ServiceState, require, state_of

__all__ = ["Lines", "Prepared", "answer", "answer_lines", "finish", "prepare", "release", "router"]

router = APIRouter(tags=["evaluations"])

#: Batches of at most this many sellers are matched by ``ServiceState.small_backend``.
SMALL_BATCH = 8
#: :func:`release` frees this many items at a time.
RELEASE_STEP = 256
#: Sellers decided (and encoded) between two turns of the server's loop (a few ms of work).
DECIDE_STEP = 64
#: The fewest sellers (of one ``as_of``, with alike facts) decided on the columnar leg
#: (:mod:`.bulk`); for fewer, its fixed cost (about 9 ms) outweighs what it saves (the
#: per-decision path costs about 0.11 ms a seller: even at some 110 sellers).
BULK_SELLERS = 128


#: The NDJSON answer in OpenAPI: one ``Decision`` per line, the run id in a header.
_LINES_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"The decisions. With ``Accept: {NDJSON}``: one ``Decision`` per line "
        "(the bytes of ``sellerpolicy evaluate --out x.jsonl``), the run id in "
        f"``{RUN_ID_HEADER}`` and the reason for the pack version in ``{SELECTION_HEADER}``.",
        "content": {
            JSON: {},
            NDJSON: {"schema": {"$ref": "#/components/schemas/Decision"}},
        },
        "headers": {
            RUN_ID_HEADER: {
                "description": f"the run that stored the decisions ({NDJSON} answers)",
                "schema": {"type": "string"},
            },
            SELECTION_HEADER: {
                "description": f"why this pack version was used ({NDJSON} answers)",
                "schema": {"type": "string"},
            },
        },
    }
}


@router.post(
    "/v1/evaluations",
    operation_id="evaluate",
    response_model=EvaluationResponse,
    responses=_LINES_RESPONSE | problem_responses(400, 401, 403, 404, 406, 409, 413, 415, 422),
    summary="Evaluate sellers and store the decisions",
)
async def create_evaluation(
    body: EvaluationRequest,
    request: Request,
    _key: Annotated[ApiKey, Depends(require(Role.EVALUATOR))],
    explain: Annotated[ExplainLevel, Query(description="how much explaining")] = (
        ExplainLevel.SUMMARY
    ),
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=r"^[\x21-\x7e]{1,200}$",
            description="a retry with the same key and request gets the first answer and "
            f"stores nothing; keys are kept {KEY_TTL.total_seconds() / 3600:g} hours",
        ),
    ] = None,
) -> Response:
    """Evaluate, append the decisions to the store, return them in request order.

    ``Accept: application/x-ndjson`` streams one decision per line instead
    (an ``Accept`` allowing neither media type is a 406).
    """
    state = state_of(request)
    if negotiate(request.headers.get("accept")) == NDJSON:
        lines = await run_in_threadpool(answer_lines, state, body, explain, idempotency_key)
        return StreamingResponse(lines.pieces, media_type=NDJSON, headers=lines.headers())
    content = await run_in_threadpool(answer, state, body, explain, idempotency_key)
    return Response(content, media_type=JSON)


def answer(
    state: ServiceState,
    body: EvaluationRequest,
    explain: ExplainLevel,
    idempotency_key: str | None = None,
) -> bytes:
    """The whole blocking part of a request (one thread hop): the JSON of the answer."""
    once = None
    if idempotency_key is not None:
        once = (idempotency_key, request_hash(body.model_dump(mode="json"), explain=explain))
        kept = state.store.recall(idempotency_key)
        if kept is not None:
            return _replayed(kept, once[1])
    prepared = prepare(state, body, explain)
    try:
        return finish(state, prepared, once=once)
    except KeyTakenError as exc:  # a concurrent retry kept the key first: its answer stands
        kept = state.store.recall(exc.key)
        if kept is None or once is None:  # pragma: no cover - the key was kept a moment ago
            raise
        return _replayed(kept, once[1])
    finally:
        release(prepared.records)


@dataclass(frozen=True, slots=True)
class Lines:
    """An NDJSON answer: the run, why the pack version was used, the lines (stored already)."""

    run_id: str
    reason: str | None
    pieces: Iterator[bytes]

    def headers(self) -> dict[str, str]:
        """The answer's headers: its run id, and the reason the version was chosen."""
        found = {RUN_ID_HEADER: self.run_id}
        if self.reason is not None:
            found[SELECTION_HEADER] = self.reason
        return found


def answer_lines(
    state: ServiceState,
    body: EvaluationRequest,
    explain: ExplainLevel,
    idempotency_key: str | None = None,
) -> Lines:
    """:func:`answer` as NDJSON: the decisions are stored here, the lines encoded as sent.

    A retry with an ``Idempotency-Key`` gets the kept answer, one decision per
    line (the key keeps the JSON answer, whichever type the first request took).
    """
    once = None
    if idempotency_key is not None:
        once = (idempotency_key, request_hash(body.model_dump(mode="json"), explain=explain))
        kept = state.store.recall(idempotency_key)
        if kept is not None:
            return Lines(*kept_lines(_replayed(kept, once[1]).decode()))
    prepared = prepare(state, body, explain)
    try:
        run_id = str(uuid.uuid4())
        content = None if once is None else _answer(prepared, run_id)
        _store(state, prepared, run_id, wait=True, once=once, content=content)
    except KeyTakenError as exc:  # a concurrent retry kept the key first: its answer stands
        release(prepared.records)
        again = state.store.recall(exc.key)
        if again is None or once is None:  # pragma: no cover - the key was kept a moment ago
            raise
        return Lines(*kept_lines(_replayed(again, once[1]).decode()))
    except BaseException:
        release(prepared.records)
        raise
    reason = None if prepared.selection is None else prepared.selection.reason
    return Lines(run_id, reason, _sent(prepared.records))


def _sent(records: list[DecisionRecord]) -> Iterator[bytes]:
    """The lines of ``records``, freeing them once sent (or once the client is gone)."""
    try:
        yield from decision_lines(r.document_json for r in records)
    finally:
        release(records)


def _replayed(kept: Remembered, hashed: str) -> bytes:
    """The kept answer of a retried request; a 422 when the key came with another request."""
    if kept.request_hash != hashed:
        message = "this Idempotency-Key was used with another request; use a new key"
        field = FieldError("header.Idempotency-Key", message)
        raise ProblemError(422, "idempotency_key_reused", message, [field])
    return kept.response.encode()


def release(items: list[Any]) -> None:
    """Empty ``items`` (holding the last references to them) a few at a time.

    Freeing 10,000 decisions at once is one step of about 20 ms that no other
    thread can interrupt (the event loop's included); a few at a time, the
    interpreter may switch threads between steps.
    """
    while items:
        del items[-RELEASE_STEP:]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request's decisions, made and encoded, not stored yet."""

    pack: CompiledPack
    records: list[DecisionRecord]
    selection: Selection | None = None  # which version was used, and why


def prepare(state: ServiceState, body: EvaluationRequest, explain: ExplainLevel) -> Prepared:
    """Resolve the pack, read the history, decide: everything but the write."""
    selection = state.select(body.pack, _as_of(body))
    stored, pack = selection.stored, selection.pack
    try:
        facts = _facts(body, pack)
        records = _decide(state, pack, facts, explain)
    except PackError as exc:
        errors = [FieldError.of(d) for d in exc.diagnostics]
        raise ProblemError(422, "invalid_pack", f"pack {stored.ref} cannot run", errors) from exc
    except StoreError as exc:  # the server's fault, not the request's; its URL stays in the log
        get_logger().error("store_error", error=str(exc))
        message = "the decision store cannot be read right now; retry later"
        raise ProblemError(503, "store_unavailable", message) from exc
    except SellerPolicyError as exc:
        raise ProblemError(422, "invalid_input", str(exc)) from exc
    return Prepared(pack, records, selection)


def finish(
    state: ServiceState,
    prepared: Prepared,
    *,
    wait: bool = True,
    once: tuple[str, str] | None = None,
) -> bytes:
    """Store the decisions under a new run id, count them: the JSON of the answer (UTF-8).

    ``wait=False`` (SQLite): raise :class:`~.store.StoreBusyError`, having
    stored and counted nothing, when another connection holds the write lock.
    The answer is joined once from its decisions' encoded texts: no step
    copies all of it more than once (10,000 decisions are some 25 MB).
    ``once`` (an idempotency key and the request's hash): the answer is kept
    with the decisions; :class:`KeyTakenError` when another request kept the
    key first (then nothing was stored). Past the request's deadline
    (:func:`.load.begin_write`), or once the app has stopped, a problem is
    raised and nothing is stored; a write made while the service drains is
    logged (``stored_during_shutdown``, with its run id).
    """
    run_id = str(uuid.uuid4())
    content = _answer(prepared, run_id)
    _store(state, prepared, run_id, wait=wait, once=once, content=content)
    return content


def _store(
    state: ServiceState,
    prepared: Prepared,
    run_id: str,
    *,
    wait: bool,
    once: tuple[str, str] | None,
    content: bytes | None,
) -> None:
    """Store the decisions under ``run_id`` (and ``content``, the JSON answer, with ``once``)."""
    pack, records = prepared.pack, prepared.records
    whole_run = (RunKind.SERVICE, min((r.as_of for r in records), default=datetime.now(UTC)))
    kept = None if once is None or content is None else (once[0], once[1], content.decode())
    if state.closed:
        raise ProblemError(503, "shutting_down", "the service has stopped; retry elsewhere")
    begin_write()  # a 504 past the deadline: then nothing is stored
    state.store.append(
        pack, records, run_id=run_id, wait=wait, whole_run=whole_run, idempotency=kept
    )
    if state.draining:  # its client may be gone by the time the answer is sent
        get_logger(component="service").info(
            "stored_during_shutdown", run_id=run_id, decisions=len(records)
        )
    for (pack_id, status), count in Counter((pack.id, r.status) for r in records).items():
        state.metrics.decisions.labels(pack_id, status).inc(count)


def _answer(prepared: Prepared, run_id: str) -> bytes:
    """The JSON of the answer: run id, pack version (and why), decisions in request order."""
    pack, records, selection = prepared.pack, prepared.records, prepared.selection
    envelope: dict[str, object] = {
        "run_id": run_id,
        "pack": {"id": pack.id, "version": pack.version, "digest": pack.digest},
    }
    if selection is not None:
        envelope["pack_selection"] = {"version": pack.version, "reason": selection.reason}
    head = encode_json(envelope)
    parts = [(head[:-1] + ',"decisions":[').encode()]
    separator = b""
    for record in records:
        parts.append(separator + record.document_json.encode())
        separator = b","
    parts.append(b"]}")
    return b"".join(parts)


def _as_of(body: EvaluationRequest) -> list[tuple[str, datetime]]:
    """Each distinct ``as_of`` instant of the request, with the field that gives it."""
    if body.events is not None:
        if body.events.as_of is not None:
            return [("events.as_of", _instant(body.events.as_of))]
        if body.as_of is None:
            raise _missing_as_of("events.as_of")
        return [("as_of", _instant(body.as_of))]
    found: dict[datetime, str] = {}
    common = None if body.as_of is None else _instant(body.as_of)
    for index, seller in enumerate(body.sellers or ()):
        if seller.as_of is not None:
            found.setdefault(_instant(seller.as_of), f"sellers[{index}].as_of")
        elif common is not None:
            found.setdefault(common, "as_of")
        else:
            raise _missing_as_of(f"sellers[{index}].as_of")
    return [(field, at) for at, field in found.items()]


def _facts(body: EvaluationRequest, pack: CompiledPack) -> list[SellerFacts]:
    if body.events is not None:
        when = body.events.as_of or body.as_of
        if when is None:
            raise _missing_as_of("events.as_of")
        return [facts_from_events(pack, body.events.seller_id, body.events.tables, _instant(when))]
    known = fact_names(pack)
    errors: list[FieldError] = []
    found: list[SellerFacts] = []
    for index, seller in enumerate(body.sellers or ()):
        when = seller.as_of or body.as_of
        if when is None:
            raise _missing_as_of(f"sellers[{index}].as_of")
        for name in seller.facts:
            if name not in known:
                hint = did_you_mean(name, sorted(known))
                errors.append(
                    FieldError(
                        f"sellers[{index}].facts.{name}",
                        f"{name!r} is no metric fact of pack {pack.id}"
                        + (f" ({hint})" if hint else ""),
                        json_path=f"$.sellers[{index}].facts.{name}",
                    )
                )
        found.append(SellerFacts(seller.seller_id, _instant(when), dict(seller.facts)))
    if errors:
        detail = f"{len(errors)} unknown fact(s): see errors"
        raise ProblemError(422, "unknown_facts", detail, errors[:100])
    for index, seller in enumerate(body.sellers or ()):
        for problem in fact_problems(seller.facts, pack):
            where = f"sellers[{index}].facts.{problem.field}"
            message = f"{problem.field} {problem.message}"
            errors.append(FieldError(where, message, json_path=f"$.{where}"))
    if errors:
        detail = f"{len(errors)} contradictory fact(s): see errors"
        raise ProblemError(422, "contradictory_facts", detail, errors[:100])
    return found


def _decide(
    state: ServiceState, pack: CompiledPack, facts: list[SellerFacts], explain: ExplainLevel
) -> list[DecisionRecord]:
    """Decisions, encoded, in request order; sellers sharing an ``as_of`` share one history read.

    Sellers the columnar leg takes (:func:`.bulk.plan`: at least
    :data:`BULK_SELLERS` of one ``as_of`` with alike facts) are decided
    and rendered in bulk (:func:`.bulk.bulk_records`: the same records); the
    others :data:`DECIDE_STEP` at a time (the back ends decide each seller
    alike in any batch). The server's loop runs between steps
    (:func:`~.offload.let_the_server_run`).
    """
    groups: dict[datetime, list[int]] = defaultdict(list)
    for index, seller in enumerate(facts):
        groups[seller.as_of].append(index)
    decided: dict[int, DecisionRecord] = {}
    for as_of, indexes in groups.items():
        history = state.store.history(pack, [facts[i].seller_id for i in indexes], as_of)
        rest = indexes
        if len(indexes) >= BULK_SELLERS:
            from .bulk import bulk_records, plan  # noqa: PLC0415 (the columnar leg: load on demand)

            batches, rest = plan(facts, indexes, BULK_SELLERS)
            for batch in batches:
                records = bulk_records(pack, batch, as_of, history=history, explain=explain)
                decided.update(zip(batch.indexes, records, strict=True))
        for start in range(0, len(rest), DECIDE_STEP):
            step = rest[start : start + DECIDE_STEP]
            batch_facts = [facts[i] for i in step]
            backend = state.small_backend if len(batch_facts) <= SMALL_BATCH else state.backend
            results = evaluate(pack, batch_facts, backend=backend, history=history, explain=explain)
            decided.update(zip(step, map(DecisionRecord.of, results), strict=True))
            if start + DECIDE_STEP < len(rest):
                let_the_server_run()
    return [decided[i] for i in range(len(facts))]


def _instant(value: date | datetime) -> datetime:
    return as_of_instant(value)


def _missing_as_of(field: str) -> ProblemError:
    message = "give as_of here or at the top of the request"
    return ProblemError(422, "invalid_request", message, [FieldError(field, message)])
