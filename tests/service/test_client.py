"""sellerpolicy.client against a running ``sellerpolicy serve``: every method returns the
typed objects of the answer, and errors raise ProblemError carrying the problem document."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from servicekit import fixture_texts, free_port, healthy_facts, pack_text, start_serve, stop

from sellerpolicy.client import (
    Action,
    Client,
    Decision,
    PackVersion,
    ProblemError,
    StoredDecision,
)
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import KeyStore, Role

PACK = "walmart-seller-performance"


def _breach() -> dict[str, float | int]:
    return {**healthy_facts(), "cancellation_rate": 0.05, "cancellation_rate__num": 60}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[Role, str]]]:
    """A real ``sellerpolicy serve`` on a fresh SQLite store, and a key per role."""
    folder: Path = tmp_path_factory.mktemp("client")
    store = str(folder / "client.db")
    with DecisionStore(store) as opened:
        keys_store = KeyStore(opened.engine, opened.where)
        keys = {role: keys_store.create(role, actor="test")[1] for role in Role}
    port = free_port()
    process = start_serve(store, port, log=folder / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}", keys
    finally:
        stop(process)


def test_evaluate_and_read_the_decisions_back(running: tuple[str, dict[Role, str]]) -> None:
    """evaluate() gives typed decisions; seller_decisions() pages, decision() reads one."""
    base, keys = running
    seller = f"C-{uuid.uuid4().hex[:8]}"
    with Client(base, api_key=keys[Role.EVALUATOR]) as client:
        for as_of in ("2026-10-15", "2026-11-15"):
            evaluation = client.evaluate(
                PACK,
                sellers=[{"seller_id": seller, "facts": _breach()}],
                as_of=as_of,
                explain="full",
            )
        assert evaluation.pack_id == PACK
        decision = evaluation.decisions[0]
        assert isinstance(decision, Decision)
        assert decision.status == "at_risk"
        assert decision.as_of == "2026-11-15"
        assert all(isinstance(a, Action) for a in decision.actions)
        assert [a.action for a in decision.actions] == ["restrict_listings"]  # a second month
        assert decision.actions[0].enforced is True
        assert decision.rules[0].outcome == "matched"

        page = client.seller_decisions(seller, limit=1)
        assert len(page.decisions) == 1
        assert page.next_cursor is not None
        every = list(client.iter_seller_decisions(seller, limit=1))
        assert [d.as_of for d in every] == ["2026-11-15", "2026-10-15"]
        stored = client.decision(decision.decision_id)
        assert isinstance(stored, StoredDecision)
        assert stored.decision == decision
        assert stored.as_of == decision.as_of


def test_pack_lifecycle(running: tuple[str, dict[Role, str]]) -> None:
    """validate, upload (editor), approve (admin), diff, impact, activate, packs, pack."""
    base, keys = running
    pack_id = f"client-{uuid.uuid4().hex[:6]}"
    editor = Client(base, api_key=keys[Role.EDITOR])
    admin = Client(base, api_key=keys[Role.ADMIN])
    with editor, admin:
        content = pack_text(pack_id, "1.0.0")
        checked = editor.validate(content, fixture_texts(pack_id))
        assert (checked.pack_id, checked.version) == (pack_id, "1.0.0")
        assert checked.fixture_cases > 0
        uploaded = editor.upload(content)
        assert isinstance(uploaded, PackVersion)
        assert uploaded.state == "draft"
        second = pack_text(pack_id, "1.1.0").replace("0.02", "0.03")
        editor.upload(second)
        for version in ("1.0.0", "1.1.0"):
            approval = admin.approve(pack_id, version, comment="reviewed")
            assert approval["approver"]
        assert admin.activate(pack_id, "1.0.0").state == "active"
        diff = editor.diff(pack_id, "1.1.0")
        assert diff["old"]["version"] == "1.0.0"
        assert diff["changes"]
        seller = {"seller_id": f"{pack_id}-s", "facts": _breach()}
        admin.evaluate(f"{pack_id}@1.0.0", sellers=[seller], as_of="2026-11-15")
        report = editor.impact(pack_id, "1.1.0", {"as_of": "2026-11-15"})
        assert report  # the replay of that decision under 1.1.0
        assert admin.activate(pack_id, "1.1.0", at="2100-01-01T00:00:00Z").activate_at
        assert admin.cancel_schedule(pack_id, "1.1.0").activate_at is None
        summary = {p.pack_id: p for p in editor.packs()}[pack_id]
        assert summary.active_version == "1.0.0"
        assert {v.version for v in summary.versions} == {"1.0.0", "1.1.0"}
        assert editor.pack(pack_id, "1.1.0").content == second


def test_errors_raise_the_problem_document(running: tuple[str, dict[Role, str]]) -> None:
    """404, 422, 401 and 403 answers raise ProblemError with the service's problem."""
    base, keys = running
    with Client(base, api_key=keys[Role.READER]) as reader:
        with pytest.raises(ProblemError) as missing:
            reader.decision(str(uuid.uuid4()))
        assert missing.value.status == 404
        assert missing.value.problem.type.startswith("urn:sellerpolicy:problem:")
        with pytest.raises(ProblemError) as refused:
            reader.evaluate(PACK, sellers=[{"seller_id": "x", "facts": {}}])
        assert refused.value.status == 403
    with Client(base, api_key=keys[Role.EVALUATOR]) as client:
        with pytest.raises(ProblemError) as invalid:
            client.evaluate(PACK, sellers=[{"seller_id": "", "facts": {"orders": 1}}])
        problem = invalid.value.problem
        assert problem.status == 422
        assert problem.type == "urn:sellerpolicy:problem:invalid_request"
        assert "sellers[0].seller_id" in {e.field for e in problem.errors}
        with pytest.raises(ProblemError) as unknown:
            client.evaluate(
                "no-such-pack", sellers=[{"seller_id": "x", "facts": {}}], as_of="2026-11-15"
            )
        assert unknown.value.status == 404
    with Client(base) as anonymous, pytest.raises(ProblemError) as unauthenticated:
        anonymous.packs()
    assert unauthenticated.value.status == 401


def test_iter_evaluate_streams_the_decisions_of_evaluate(
    running: tuple[str, dict[Role, str]],
) -> None:
    """iter_evaluate() reads the JSON-lines answer: the decisions evaluate() gives, in
    request order; a refused request raises the problem before anything is yielded."""
    base, keys = running
    prefix = f"L-{uuid.uuid4().hex[:8]}"
    sellers = [
        {"seller_id": f"{prefix}-{i:03d}", "facts": _breach() if i % 3 == 0 else healthy_facts()}
        for i in range(150)
    ]
    with Client(base, api_key=keys[Role.EVALUATOR]) as client:
        streamed = list(client.iter_evaluate(PACK, sellers=sellers, as_of="2026-09-01"))
        assert [d.seller_id for d in streamed] == [s["seller_id"] for s in sellers]
        assert all(isinstance(d, Decision) for d in streamed)
        assert {d.status for d in streamed[::3]} == {"at_risk"}
        for decision in (streamed[0], streamed[-1]):
            assert client.decision(decision.decision_id).decision == decision
        with pytest.raises(ProblemError) as refused:
            next(client.iter_evaluate("no-such-pack", sellers=sellers[:1], as_of="2026-09-01"))
        assert refused.value.status == 404
