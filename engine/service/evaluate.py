"""``POST /v1/evaluations``: sellers' metric facts (or one seller's events) -> decisions.

The route resolves the pack once (``id`` -> its active version, or
``id@version``), builds :class:`SellerFacts`, reads the sellers' escalation
history, calls :func:`~sellerpolicy.engine.evaluation.evaluate.evaluate` (no decision
logic here), appends every decision to the store with the exact pack version
and digest, and answers with the same JSON text it stored.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sellerpolicy.engine.evaluation.decision import Decision
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.engine.evaluation.explain import ExplainLevel
from sellerpolicy.engine.evaluation.packtest import fact_names
from sellerpolicy.engine.metrics.checks import fact_problems
from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant
from sellerpolicy.engine.store.keys import ApiKey, Role
from sellerpolicy.engine.store.records import DecisionRecord, encode_json
from sellerpolicy.rules.diagnostics import PackError, SellerPolicyError
from sellerpolicy.rules.model import CompiledPack
from sellerpolicy.rules.suggest import did_you_mean

from .events import facts_from_events
from .models import EvaluationRequest, EvaluationResponse
from .problems import FieldError, ProblemError, problem_responses
from .state import ServiceState, require, state_of

__all__ = ["Prepared", "answer", "finish", "prepare", "router"]

router = APIRouter(tags=["evaluations"])

#: Batches of at most this many sellers are matched by ``ServiceState.small_backend``.
SMALL_BATCH = 8


@router.post(
    "/v1/evaluations",
    response_model=EvaluationResponse,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
    summary="Evaluate sellers and store the decisions",
)
async def create_evaluation(
    body: EvaluationRequest,
    request: Request,
    _key: Annotated[ApiKey, Depends(require(Role.EVALUATOR))],
    explain: Annotated[ExplainLevel, Query(description="how much explaining")] = (
        ExplainLevel.SUMMARY
    ),
) -> Response:
    """Evaluate, append the decisions to the store, return them in request order."""
    text = await run_in_threadpool(answer, state_of(request), body, explain)
    return Response(text, media_type="application/json")


def answer(state: ServiceState, body: EvaluationRequest, explain: ExplainLevel) -> str:
    """The whole blocking part of a request (one thread hop): the JSON text of the answer."""
    return finish(state, prepare(state, body, explain))


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request's decisions, made and encoded, not stored yet."""

    pack: CompiledPack
    records: list[DecisionRecord]


def prepare(state: ServiceState, body: EvaluationRequest, explain: ExplainLevel) -> Prepared:
    """Resolve the pack, read the history, decide: everything but the write."""
    stored, pack = state.resolve(body.pack)
    try:
        facts = _facts(body, pack)
        decisions = _evaluate(state, pack, facts, explain)
    except PackError as exc:
        errors = [FieldError.of(d) for d in exc.diagnostics]
        raise ProblemError(422, "invalid_pack", f"pack {stored.ref} cannot run", errors) from exc
    except SellerPolicyError as exc:
        raise ProblemError(422, "invalid_input", str(exc)) from exc
    return Prepared(pack, [DecisionRecord.of(d) for d in decisions])


def finish(state: ServiceState, prepared: Prepared, *, wait: bool = True) -> str:
    """Store the decisions under a new run id, count them: the JSON text of the answer.

    ``wait=False`` (SQLite): raise :class:`~.store.StoreBusyError`, having
    stored and counted nothing, when another connection holds the write lock.
    """
    pack, records = prepared.pack, prepared.records
    run_id = str(uuid.uuid4())
    state.store.append(pack, records, run_id=run_id, wait=wait)
    for (pack_id, status), count in Counter((pack.id, r.status) for r in records).items():
        state.metrics.decisions.labels(pack_id, status).inc(count)
    head = encode_json(
        {"run_id": run_id, "pack": {"id": pack.id, "version": pack.version, "digest": pack.digest}}
    )
    return head[:-1] + ',"decisions":[' + ",".join(r.document_json for r in records) + "]}"


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


def _evaluate(
    state: ServiceState, pack: CompiledPack, facts: list[SellerFacts], explain: ExplainLevel
) -> list[Decision]:
    """Decisions in request order; sellers sharing an ``as_of`` share one history read."""
    groups: dict[datetime, list[int]] = defaultdict(list)
    for index, seller in enumerate(facts):
        groups[seller.as_of].append(index)
    decided: dict[int, Decision] = {}
    for as_of, indexes in groups.items():
        batch = [facts[i] for i in indexes]
        history = state.store.history(pack, [f.seller_id for f in batch], as_of)
        backend = state.small_backend if len(batch) <= SMALL_BATCH else state.backend
        results = evaluate(pack, batch, backend=backend, history=history, explain=explain)
        decided.update(zip(indexes, results, strict=True))
    return [decided[i] for i in range(len(facts))]


def _instant(value: date | datetime) -> datetime:
    return as_of_instant(value)


def _missing_as_of(field: str) -> ProblemError:
    message = "give as_of here or at the top of the request"
    return ProblemError(422, "invalid_request", message, [FieldError(field, message)])
