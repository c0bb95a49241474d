"""The shared evaluation case corpus (``tests/cases/*.yaml``), run against every back end.

Each YAML file names a shipped pack (``pack: amazon``) or carries a small
pack inline (``pack_inline``), an ``as_of``, optional ``exemptions``, and
``cases``: facts for one seller (``facts`` + ``expect``) or several
(``sellers``), with optional escalation ``history``. Every case runs through
:func:`~sellerpolicy.engine.evaluation.evaluate.evaluate` with the plain-Python, the
durable-rules and the vectorized back ends, and through the bulk columnar
path; each must meet the expectations and all must give the same decisions
(``decision_id`` aside).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from sellerpolicy.engine.columnar.backend import VectorBackend
from sellerpolicy.engine.columnar.decisions import decisions_from_batch, evaluate_table
from sellerpolicy.engine.evaluation.backends.durable import DurableBackend
from sellerpolicy.engine.evaluation.backends.python import PythonBackend
from sellerpolicy.engine.evaluation.decision import Decision
from sellerpolicy.engine.evaluation.evaluate import Firing, HistoryFromRecords, evaluate
from sellerpolicy.engine.metrics.facts import SellerFacts, as_of_instant
from sellerpolicy.rules import CompiledPack, Exemption, load_pack, resolve_pack

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Case:
    """One case of the corpus, with what its file sets for every case."""

    file: str
    name: str
    doc: Mapping[str, Any]
    sellers: tuple[Mapping[str, Any], ...]
    history: tuple[Mapping[str, Any], ...]


def _cases() -> list[Any]:
    params = []
    for path in sorted(HERE.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            sellers = case.get("sellers") or [{"facts": case["facts"], "expect": case["expect"]}]
            item = Case(
                path.name, case["name"], doc, tuple(sellers), tuple(case.get("history", ()))
            )
            params.append(pytest.param(item, id=f"{path.stem}: {case['name']}"))
    return params


def _pack(doc: Mapping[str, Any], tmp_path: Path) -> CompiledPack:
    if "pack" in doc:
        return load_pack(resolve_pack(doc["pack"]))
    target = tmp_path / "pack.yaml"
    target.write_text(yaml.safe_dump(doc["pack_inline"], sort_keys=False), encoding="utf-8")
    return load_pack(target)


def _seller_ids(case: Case) -> list[str]:
    return [s.get("seller_id", f"S{i}") for i, s in enumerate(case.sellers)]


def _facts(case: Case, as_of: datetime) -> list[SellerFacts]:
    names = list(dict.fromkeys(k for s in case.sellers for k in s["facts"]))
    return [
        SellerFacts(sid, as_of, {n: s["facts"].get(n) for n in names})
        for sid, s in zip(_seller_ids(case), case.sellers, strict=True)
    ]


Runner = Callable[..., list[Decision]]


def _by_backend(backend: object) -> Runner:
    def run(pack: CompiledPack, facts: list[SellerFacts], **kw: Any) -> list[Decision]:
        return evaluate(pack, facts, backend=backend, **kw)  # type: ignore[arg-type]

    return run


def _bulk(pack: CompiledPack, facts: list[SellerFacts], **kw: Any) -> list[Decision]:
    rows = [{"seller_id": f.seller_id, **f.values} for f in facts]
    table = evaluate_table(pack, pa.Table.from_pylist(rows), facts[0].as_of, **kw)
    return decisions_from_batch(table, pack)


RUNNERS: dict[str, Runner] = {
    "python": _by_backend(PythonBackend()),
    "durable": _by_backend(DurableBackend()),
    "vector": _by_backend(VectorBackend()),
    "bulk": _bulk,
}


def _json(decision: Decision) -> dict[str, Any]:
    out = decision.to_json()
    del out["decision_id"]
    return out


def _check(decision: Decision, expect: Mapping[str, Any]) -> None:
    where = f"seller {decision.seller_id}"
    if "status" in expect:
        assert decision.status.label == expect["status"], where
    if "actions" in expect:
        got = [a.to_json() for a in decision.actions]
        want = expect["actions"]
        assert len(got) == len(want), f"{where}: {got}"
        for g, w in zip(got, want, strict=True):
            assert {k: g[k] for k in w} == dict(w), f"{where}: {got}"
    for rule, outcome in expect.get("rules", {}).items():
        assert decision.rule(rule).outcome.value == outcome, f"{where} {rule}"
    for rule, reason in expect.get("reasons", {}).items():
        assert decision.rule(rule).reason == reason, f"{where} {rule}"
    for rule, text in expect.get("explanations", {}).items():
        assert decision.rule(rule).explanation == text, f"{where} {rule}"
    for rule, streak in expect.get("streaks", {}).items():
        assert decision.rule(rule).streak == streak, f"{where} {rule}"
    for score, grade in expect.get("grades", {}).items():
        assert decision.score(score).grade == grade, f"{where} {score}"
    for score, total in expect.get("totals", {}).items():
        assert decision.score(score).total == total, f"{where} {score}"
    for score, reason in expect.get("score_reasons", {}).items():
        assert decision.score(score).reason == reason, f"{where} {score}"


@pytest.mark.parametrize("case", _cases())
def test_case_holds_on_every_back_end(case: Case, tmp_path: Path) -> None:
    """Every back end and the bulk path meet the case's expectations and agree exactly."""
    pack = _pack(case.doc, tmp_path)
    as_of = as_of_instant(date.fromisoformat(str(case.doc["as_of"])))
    facts = _facts(case, as_of)
    exemptions = [
        Exemption(
            id=e["id"],
            pack=pack.id,
            seller_id=e["seller_id"],
            rules=tuple(e["rules"]),
            reason="corpus",
            approver="corpus@example.com",
            expires=date.fromisoformat(str(e["expires"])),
        )
        for e in case.doc.get("exemptions", ())
    ]
    records = [
        Firing(sid, h["rule"], date.fromisoformat(str(h["as_of"])))
        for sid in _seller_ids(case)
        for h in case.history
    ]
    history = HistoryFromRecords(records, pack)
    results = {
        name: run(pack, facts, history=history, exemptions=exemptions)
        for name, run in RUNNERS.items()
    }
    for name, decisions in results.items():
        for decision, seller in zip(decisions, case.sellers, strict=True):
            try:
                _check(decision, seller["expect"])
            except AssertionError as exc:
                raise AssertionError(f"back end {name}: {exc}") from exc
    reference = [_json(d) for d in results["python"]]
    for name, decisions in results.items():
        assert [_json(d) for d in decisions] == reference, f"back end {name} disagrees"


def test_corpus_is_not_empty() -> None:
    """The corpus holds cases from several files, so the parametrized test cannot pass vacuously."""
    cases = _cases()
    assert len(cases) >= 20
    assert len({c.values[0].file for c in cases}) >= 5
