"""The batch run: facts files and sources in, decisions, history and logs out."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from runkit import AS_OF, healthy_facts

from sellerpolicy.engine.batch.facts_file import required_fields
from sellerpolicy.engine.batch.run import run_evaluation
from sellerpolicy.engine.batch.sinks import open_sink
from sellerpolicy.engine.batch.summary import RunSummary
from sellerpolicy.engine.errors import FactsError, StrictRejectsError
from sellerpolicy.engine.logs import LogFormat, configure_logging
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.model import CompiledPack

CANCEL = "cancel-rate-over-target"


@pytest.fixture(scope="module")
def amazon() -> CompiledPack:
    """The shipped current Amazon pack (its cancel rule warns, then restricts)."""
    return load_pack("amazon")


def _facts_file(path: Path, pack: CompiledPack, as_of: date, *, cancels: int) -> Path:
    """S1 cancels ``cancels`` of 200 orders; S2 is healthy."""
    s1 = healthy_facts(pack, "S1", as_of)
    s1 |= {
        "pre_fulfillment_cancel_rate": cancels / 200,
        "pre_fulfillment_cancel_rate__num": cancels,
    }
    rows = [s1, healthy_facts(pack, "S2", as_of)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _decisions(path: Path) -> dict[str, dict[str, object]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {d["seller_id"]: d for d in map(json.loads, lines)}


def _cancel_actions(decision: dict[str, object]) -> list[str]:
    actions = decision["actions"]
    assert isinstance(actions, list)
    return [a["action"] for a in actions if a["rule"] == CANCEL and a["enforced"]]


def _evaluate(
    tmp_path: Path, pack: CompiledPack, as_of: date, store: str, *, cancels: int = 10
) -> dict[str, dict[str, object]]:
    facts = _facts_file(tmp_path / f"facts-{as_of}.jsonl", pack, as_of, cancels=cancels)
    out = tmp_path / f"decisions-{as_of}.jsonl"
    run_evaluation(pack, facts_path=facts, as_of=as_of, out=out, store_url=store)
    return _decisions(out)


def test_a_breach_on_consecutive_evaluations_escalates(
    tmp_path: Path, amazon: CompiledPack
) -> None:
    """The same cancel breach warns first, then restricts listings a week later."""
    store = f"sqlite:///{tmp_path / 'h.db'}"
    first = _evaluate(tmp_path, amazon, AS_OF, store)
    second = _evaluate(tmp_path, amazon, AS_OF + timedelta(days=7), store)
    assert _cancel_actions(first["S1"]) == ["warn"]
    assert _cancel_actions(second["S1"]) == ["restrict_listings"]
    assert second["S1"]["status"] == "at_risk"
    assert second["S2"]["actions"] == []


def test_a_lapse_or_a_clean_evaluation_resets_the_ladder(
    tmp_path: Path, amazon: CompiledPack
) -> None:
    """After more than the 180-day lapse without a firing, or after an evaluation
    where the rule did not fire, a breach warns again instead of restricting."""
    store = f"sqlite:///{tmp_path / 'h.db'}"
    _evaluate(tmp_path, amazon, AS_OF, store)
    lapsed = _evaluate(tmp_path, amazon, AS_OF + timedelta(days=181), store)
    assert _cancel_actions(lapsed["S1"]) == ["warn"]
    _evaluate(tmp_path, amazon, AS_OF + timedelta(days=188), store, cancels=0)
    after_clean = _evaluate(tmp_path, amazon, AS_OF + timedelta(days=195), store)
    assert _cancel_actions(after_clean["S1"]) == ["warn"]


def test_a_past_as_of_uses_only_what_was_knowable(tmp_path: Path, amazon: CompiledPack) -> None:
    """Re-evaluating an earlier date ignores decisions made for later dates."""
    store = f"sqlite:///{tmp_path / 'h.db'}"
    later = _evaluate(tmp_path, amazon, AS_OF + timedelta(days=7), store)
    earlier = _evaluate(tmp_path, amazon, AS_OF, store)
    assert _cancel_actions(later["S1"]) == ["warn"]
    assert _cancel_actions(earlier["S1"]) == ["warn"]
    with DecisionStore(tmp_path / "h.db") as history:
        assert len(history.decisions("S1", amazon.id)) == 2


def test_summary_counts_statuses_actions_and_not_assessed(
    tmp_path: Path, amazon: CompiledPack
) -> None:
    """The summary counts sellers per status, enforced actions per rule, not-assessed rules."""
    facts = _facts_file(tmp_path / "f.jsonl", amazon, AS_OF, cancels=10)
    rows = [json.loads(line) for line in facts.read_text().splitlines()]
    # not measured: no rate and no counts
    rows[1] |= dict.fromkeys(["on_time_delivery_rate", *_counts("on_time_delivery_rate")])
    facts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = run_evaluation(amazon, facts_path=facts, as_of=AS_OF, out=tmp_path / "d.csv")
    assert isinstance(summary, RunSummary)
    assert summary.sellers == 2
    assert dict(summary.statuses) == {"healthy": 2, "at_risk": 0, "critical": 0}  # warn: healthy
    assert dict(summary.actions) == {CANCEL: {"warn": 1}}
    assert dict(summary.not_assessed) == {"on-time-delivery-below-target": 1}
    assert summary.pack_digest == amazon.digest
    assert summary.rejects == 0
    assert summary.rejects_path == tmp_path / "d.rejects.jsonl"  # facts rows left out: none
    assert summary.rejects_path.read_text() == ""
    assert (tmp_path / "d.csv").is_file()


def test_missing_metric_in_facts_file_is_named(tmp_path: Path, amazon: CompiledPack) -> None:
    """A facts file lacking a metric the pack reads fails naming the file and the field."""
    rows = [healthy_facts(amazon, "S1", AS_OF)]
    del rows[0]["valid_tracking_rate"]
    facts = tmp_path / "f.jsonl"
    facts.write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(FactsError, match=r"f\.jsonl: missing field\(s\) valid_tracking_rate"):
        run_evaluation(amazon, facts_path=facts, as_of=AS_OF, out=tmp_path / "d.jsonl")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("f.parquet", b'{"seller_id": "S1"}\n', "not a Parquet file"),
        ("f.jsonl", b"PAR1\x00\x00binary", "binary content, not a JSON lines file"),
        ("f.csv", b'{"seller_id": "S1"}\n', "looks like JSON, not CSV"),
        ("f.jsonl", b"seller_id,as_of\nS1,2026-11-01\n", "not a JSON lines file"),
        ("f.txt", b"seller_id\n", "unknown facts format"),
    ],
)
def test_a_file_that_is_not_its_extension_is_refused(
    tmp_path: Path, amazon: CompiledPack, name: str, content: bytes, message: str
) -> None:
    """Content that does not match the file's extension is a FactsError naming the file."""
    facts = tmp_path / name
    facts.write_bytes(content)
    with pytest.raises(FactsError, match=message) as caught:
        run_evaluation(amazon, facts_path=facts, as_of=AS_OF, out=tmp_path / "d.jsonl")
    assert str(facts) in str(caught.value)


def test_facts_for_another_as_of_are_refused(tmp_path: Path, amazon: CompiledPack) -> None:
    """Facts computed for one date cannot be evaluated as of another."""
    facts = _facts_file(tmp_path / "f.jsonl", amazon, AS_OF, cancels=0)
    with pytest.raises(FactsError, match="row 1: facts are as of 2026-11-01, not 2026-11-02"):
        run_evaluation(
            amazon, facts_path=facts, as_of=AS_OF + timedelta(days=1), out=tmp_path / "d.jsonl"
        )


def test_required_fields_cover_conditions_counts_and_volumes(amazon: CompiledPack) -> None:
    """A pack needs each metric its rules read, and the denominators min_orders checks."""
    needed = required_fields(amazon)
    assert "order_defect_rate" in needed
    assert "late_shipment_rate_10d" in needed
    assert all(name.endswith("__den") or "__" not in name for name in needed)
    assert "seller_id" not in needed


def test_source_run_writes_rejects_beside_the_output(
    tmp_path: Path, amazon: CompiledPack, small_source: Path
) -> None:
    """A source run writes decisions for every seller and <stem>.rejects.jsonl beside them."""
    out = tmp_path / "out" / "decisions.parquet"
    out.parent.mkdir()
    summary = run_evaluation(amazon, source=small_source, as_of=AS_OF, out=out, chunk_size=50)
    assert summary.sellers > 100
    assert sum(summary.statuses.values()) == summary.sellers
    assert summary.rejects > 0
    assert summary.rejects_path == tmp_path / "out" / "decisions.rejects.jsonl"
    rejects = summary.rejects_path.read_text().splitlines()
    assert len(rejects) == summary.rejects
    assert set(json.loads(rejects[0])) == {"table", "row", "column", "reason"}
    assert out.is_file()


def test_strict_refuses_a_source_with_rejects(
    tmp_path: Path, amazon: CompiledPack, small_source: Path
) -> None:
    """With strict, rejects stop the run before anything is evaluated or written."""
    out = tmp_path / "d.jsonl"
    with pytest.raises(StrictRejectsError, match="--strict forbids rejects"):
        run_evaluation(amazon, source=small_source, as_of=AS_OF, out=out, strict=True)
    assert not out.exists()
    assert (tmp_path / "d.rejects.jsonl").is_file()


def test_logs_one_json_event_per_batch_and_run(
    tmp_path: Path,
    amazon: CompiledPack,
    small_source: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """JSON logs go to stderr: one event per batch and one per run, never per seller."""
    configure_logging(LogFormat.JSON)
    summary = run_evaluation(
        amazon, source=small_source, as_of=AS_OF, out=tmp_path / "d.jsonl", chunk_size=50
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    events = [json.loads(line) for line in captured.err.splitlines()]
    batches = [e for e in events if e["event"] == "batch.evaluated"]
    assert len(batches) == -(-summary.sellers // 50)
    assert sum(e["sellers"] for e in batches) == summary.sellers
    (finished,) = [e for e in events if e["event"] == "run.finished"]
    assert finished["run_id"] == summary.run_id
    assert finished["pack_digest"] == amazon.digest
    assert finished["rejects"] == summary.rejects
    assert [e["event"] for e in events if "batch" not in e] == [
        "source.loaded",
        "metrics.computed",
        "run.finished",
    ]


def test_past_as_of_on_a_source_judges_the_windows_before_it(
    tmp_path: Path, amazon: CompiledPack, small_source: Path
) -> None:
    """Evaluating a month earlier labels decisions with that date and windows end before it."""
    past = AS_OF - timedelta(days=30)
    out = tmp_path / "d.jsonl"
    run_evaluation(amazon, source=small_source, as_of=past, out=out)
    decisions = _decisions(out)
    assert {d["as_of"] for d in decisions.values()} == {past.isoformat()}
    ends = {r["window_end"] for d in decisions.values() for r in d["rules"] if r["window_end"]}
    assert ends
    assert max(ends) < past.isoformat()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_csv_and_parquet_facts_decide_like_jsonl(
    tmp_path: Path, amazon: CompiledPack, suffix: str
) -> None:
    """The same facts as CSV or Parquet give the same decisions as JSON lines."""
    jsonl = _facts_file(tmp_path / "f.jsonl", amazon, AS_OF, cancels=10)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    rows[1] |= dict.fromkeys(["valid_tracking_rate", *_counts("valid_tracking_rate")])
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    other = tmp_path / f"f{suffix}"
    with open_sink(other) as sink:
        sink.write(rows)
    outputs = []
    for facts in (jsonl, other):
        out = tmp_path / f"d-{facts.suffix[1:]}.jsonl"
        run_evaluation(amazon, facts_path=facts, as_of=AS_OF, out=out)
        decided = _decisions(out)
        outputs.append({s: {**d, "decision_id": None} for s, d in decided.items()})
    assert outputs[0] == outputs[1]
    assert outputs[0]["S2"]["facts"]["valid_tracking_rate"] is None


def _counts(name: str) -> tuple[str, str]:
    return f"{name}__num", f"{name}__den"
