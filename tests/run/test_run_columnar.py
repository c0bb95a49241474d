"""The batch run's columnar leg agrees with the per-seller one, and writes ``.arrows``."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from runkit import AS_OF, healthy_facts
from typer.testing import CliRunner

from sellerpolicy.engine.api import Policy
from sellerpolicy.engine.batch import columnar as run_columnar
from sellerpolicy.engine.batch.run import run_evaluation
from sellerpolicy.engine.batch.summary import RunSummary
from sellerpolicy.engine.cli.app import app
from sellerpolicy.engine.columnar.decisions import decisions_from_batch
from sellerpolicy.engine.evaluation.backends.protocol import BackendName
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.rules import CompiledPack, load_pack, resolve_pack


@pytest.fixture(scope="module")
def amazon() -> CompiledPack:
    """The shipped amazon pack."""
    return load_pack(resolve_pack("amazon"))


def _records(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        del row["decision_id"]
    return rows


def _counts(summary: RunSummary) -> tuple[object, ...]:
    return (
        summary.sellers,
        dict(summary.statuses),
        {k: dict(v) for k, v in summary.actions.items()},
        {k: dict(v) for k, v in summary.reported.items()},
        dict(summary.not_assessed),
    )


@pytest.mark.parametrize("explain", [ExplainLevel.SUMMARY, ExplainLevel.NONE])
def test_columnar_leg_writes_what_the_per_seller_path_writes(
    small_source: Path, tmp_path: Path, amazon: CompiledPack, explain: ExplainLevel
) -> None:
    """Over a generated marketplace, twice (the second run escalates from the store):
    durable-rules per seller, the vectorized back end through the columnar leg to
    JSONL, and the columnar leg to ``.arrows`` give the same decisions and counts."""
    runs: dict[str, list[RunSummary]] = {"durable": [], "auto": [], "arrows": []}
    days = [AS_OF.replace(day=1), AS_OF.replace(day=2)]
    for name, backend, suffix in (
        ("durable", BackendName.DURABLE, ".jsonl"),
        ("auto", BackendName.AUTO, ".jsonl"),
        ("arrows", BackendName.AUTO, ".arrows"),
    ):
        store = f"sqlite:///{tmp_path / name}.db"
        for day in days:
            runs[name].append(
                run_evaluation(
                    amazon,
                    source=small_source,
                    as_of=day,
                    out=tmp_path / f"{name}-{day.day}{suffix}",
                    store_url=store,
                    backend=backend,
                    explain=explain,
                    chunk_size=97,
                )
            )
    for day in days:
        expected = _records(tmp_path / f"durable-{day.day}.jsonl")
        assert _records(tmp_path / f"auto-{day.day}.jsonl") == expected
        with pa.ipc.open_stream(tmp_path / f"arrows-{day.day}.arrows") as reader:
            table = reader.read_all()
        got = [d.to_json() for d in decisions_from_batch(table, amazon)]
        for record in got:
            del record["decision_id"]
        assert json.loads(json.dumps(got)) == expected
    assert any(r["actions"] for r in expected)
    for k in range(2):
        assert _counts(runs["auto"][k]) == _counts(runs["durable"][k])
        assert _counts(runs["arrows"][k]) == _counts(runs["durable"][k])


def test_arrows_output_needs_the_vectorized_back_end(
    small_source: Path, tmp_path: Path, amazon: CompiledPack
) -> None:
    """``.arrows`` with durable-rules or with ``explain=full`` is refused before any work."""
    out = tmp_path / "d.arrows"
    with pytest.raises(ValueError, match=r"d\.arrows: \.arrows output is written by the vector"):
        run_evaluation(
            amazon, source=small_source, as_of=AS_OF, out=out, backend=BackendName.DURABLE
        )
    with pytest.raises(ValueError, match="--explain summary or none"):
        run_evaluation(amazon, source=small_source, as_of=AS_OF, out=out, explain=ExplainLevel.FULL)
    assert not out.exists()
    assert not (tmp_path / "d.rejects.jsonl").exists()


def test_a_run_without_sellers_writes_an_empty_arrows_file(
    tmp_path: Path, amazon: CompiledPack
) -> None:
    """A facts file with no rows gives an empty, readable decision stream and zero counts."""
    facts = tmp_path / "f.parquet"
    columns = ["seller_id", "as_of", "orders"] + [
        f"{u.name}{s}" for u in amazon.metrics if u.name != "orders" for s in ("", "__num", "__den")
    ]
    pa.parquet.write_table(pa.table({c: pa.array([], pa.float64()) for c in columns}), facts)
    out = tmp_path / "d.arrows"
    summary = run_evaluation(amazon, facts_path=facts, as_of=AS_OF, out=out)
    assert summary.sellers == 0
    with pa.ipc.open_stream(out) as reader:
        assert reader.read_all().num_rows == 0
    assert not list(tmp_path.glob(".partial-*"))


def test_policy_evaluate_columns_equals_policy_evaluate(amazon: CompiledPack) -> None:
    """The API's columnar path gives, seller by seller, the decisions ``Policy.evaluate`` gives,
    with the facts embedded or given beside."""
    policy = Policy.load("amazon")
    rows = [healthy_facts(amazon, f"S{i}", AS_OF) for i in range(50)]
    for i, row in enumerate(rows):
        row["order_defect_rate__num"] = i
        row["order_defect_rate"] = i / 200
        row["orders"] = 200 if i % 7 else 3
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "as_of"} for r in rows])
    expected = [policy.evaluate(r, as_of=AS_OF).to_json() for r in rows]
    for with_facts in (True, False):
        batches = list(
            policy.evaluate_columns(table, as_of=AS_OF, chunk_size=16, with_facts=with_facts)
        )
        assert [b.num_rows for b in batches] == [16, 16, 16, 2]
        got = []
        for k, batch in enumerate(batches):
            facts = None if with_facts else table.slice(16 * k, batch.num_rows)
            got += [d.to_json() for d in policy.decisions(batch, facts)]
        assert [{**g, "decision_id": None} for g in got] == [
            {**e, "decision_id": None} for e in expected
        ]
    assert {e["status"] for e in expected} == {"healthy", "critical"}


def test_cli_writes_arrows_and_refuses_it_for_durable(small_source: Path, tmp_path: Path) -> None:
    """``evaluate --out d.arrows`` writes the columnar layout; with ``--backend durable``
    it is a usage error (exit 2) naming --out, before any work."""
    runner = CliRunner()
    base = ["evaluate", "--pack", "amazon", "--source", str(small_source), "--as-of", "2026-11-01"]
    out = tmp_path / "d.arrows"
    done = runner.invoke(app, [*base, "--out", str(out)])
    assert done.exit_code == 0, done.output
    with pa.ipc.open_stream(out) as reader:
        assert reader.read_all().num_rows > 100
    refused = runner.invoke(
        app, [*base, "--out", str(tmp_path / "e.arrows"), "--backend", "durable"]
    )
    assert refused.exit_code == 2
    assert "--out" in refused.output
    assert "vectorized back end" in refused.output
    assert not (tmp_path / "e.arrows").exists()


def test_a_failing_columnar_run_leaves_no_output(
    small_source: Path, tmp_path: Path, amazon: CompiledPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error after the first batch was written: no .arrows file, no partial file."""
    real = run_columnar.evaluate_batches
    calls = []

    def failing(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("planted failure in the second batch")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run_columnar, "evaluate_batches", failing)
    out = tmp_path / "d.arrows"
    with pytest.raises(RuntimeError, match="planted failure"):
        run_evaluation(amazon, source=small_source, as_of=AS_OF, out=out, chunk_size=30)
    assert len(calls) == 2
    assert not out.exists()
    assert not list(tmp_path.glob(".partial-*"))
