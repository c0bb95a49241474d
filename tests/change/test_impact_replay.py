"""Impact on the population of the decision log, and packs named ``id@version`` from a store.

Replaying the facts stored with each seller's latest decision must give the
report that the source itself gives; packs stored in the pack store are
compared by ``id@version``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pgkit import fresh_postgres_database
from run.runkit import run_cli

from sellerpolicy.engine.batch.run import run_evaluation
from sellerpolicy.engine.change.impact import impact
from sellerpolicy.engine.change.population import population_from_replay, population_from_source
from sellerpolicy.engine.change.refs import is_stored_ref, resolve_pack
from sellerpolicy.engine.errors import FactsError, StoreError
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.metrics.facts import as_of_instant
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.packs import PackStore
from sellerpolicy.rules import load_pack

AS_OF = date(2026, 11, 1)
EARLIER = date(2026, 10, 1)
ROOT = Path(__file__).resolve().parents[2]
CURRENT = load_pack("amazon").version  # the shipped amazon pack


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("market") / "src"
    generate(sellers=300, days=120, seed=3, as_of=AS_OF, out=out)
    return out


@pytest.fixture(scope="module")
def stricter_text() -> str:
    text = (ROOT / "policies" / "amazon" / "pack.yaml").read_text(encoding="utf-8")
    text = text.replace(f"version: {CURRENT}", "version: 2099.1.0")
    return text.replace(
        "{metric: order_defect_rate, gte: 1%}", "{metric: order_defect_rate, gte: 0.5%}"
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "decisions.db")
        return
    yield from fresh_postgres_database("sp_replay")


def _stricter(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "stricter"
    shutil.copytree(ROOT / "policies" / "amazon", folder)
    (folder / "pack.yaml").write_text(text, encoding="utf-8")
    return folder


def test_replay_gives_the_report_the_source_gives(
    source: Path, store_url: str, stricter_text: str, tmp_path: Path
) -> None:
    old = load_pack("amazon")
    new = load_pack(_stricter(tmp_path, stricter_text))
    # an older evaluation, then the latest: replay takes each seller's latest
    run_evaluation(old, source=source, as_of=EARLIER, out=tmp_path / "a.jsonl", store_url=store_url)
    run_evaluation(old, source=source, as_of=AS_OF, out=tmp_path / "b.jsonl", store_url=store_url)
    from_source = impact(
        new, old, population_from_source(source, [new, old], as_of_instant(AS_OF)), AS_OF
    )
    with DecisionStore(store_url) as store:
        population = population_from_replay(
            store, [new, old], since=datetime(2026, 10, 15, tzinfo=UTC)
        )
        replayed = impact(new, old, population, AS_OF)
        assert population.sellers == from_source.sellers
        assert replayed.matrix == from_source.matrix
        assert replayed.changed.equals(from_source.changed)
        assert replayed.rules == from_source.rules
        assert replayed.changed.num_rows > 0
        with pytest.raises(FactsError, match="no decision of pack"):
            population_from_replay(store, [new, old], since=datetime(2027, 1, 1, tzinfo=UTC))
        with pytest.raises(FactsError, match=r"missing field.*amazon-seller-performance-2015"):
            population_from_replay(store, [load_pack("amazon-2015"), old])


def test_packs_named_by_id_and_version_come_from_the_store(
    stricter_text: str, tmp_path: Path, source: Path
) -> None:
    url = str(tmp_path / "packs.db")
    with DecisionStore(url) as store:
        packs = PackStore(store.engine, store.where)
        packs.import_shipped()
        new = load_pack(_stricter(tmp_path, stricter_text))
        packs.add(new, stricter_text, author="key-1")
        assert is_stored_ref("amazon-seller-performance@2099.1.0")
        assert not is_stored_ref("amazon")
        assert resolve_pack("amazon-seller-performance@2099.1.0", store).digest == new.digest
        with pytest.raises(StoreError, match="no version"):
            resolve_pack("amazon-seller-performance@9.9.9", store)
    with pytest.raises(StoreError, match="give --store"):
        resolve_pack("amazon-seller-performance@2099.1.0")

    diff = run_cli(
        "diff", f"amazon-seller-performance@{CURRENT}", "amazon-seller-performance@2099.1.0",
        "--store", url, "--format", "json",
    )  # fmt: skip
    assert diff.returncode == 0, diff.stderr
    changes = json.loads(diff.stdout)["changes"]
    assert [c["subject"] for c in changes if c["section"] == "rules"] == ["odr-over-target"]

    run_evaluation(load_pack("amazon"), source=source, as_of=AS_OF, out=tmp_path / "d.jsonl",
                   store_url=url)  # fmt: skip
    out = tmp_path / "impact.json"
    result = run_cli(
        "impact", "--pack", "amazon-seller-performance@2099.1.0",
        "--baseline", f"amazon-seller-performance@{CURRENT}", "--replay", url,
        "--since", "2026-10-01", "--as-of", AS_OF, "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["population"].startswith("replay ")
    assert report["sellers"] > 0
    assert report["new"]["version"] == "2099.1.0"
