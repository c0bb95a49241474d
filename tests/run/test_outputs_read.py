"""Every decision output reads with DuckDB, Polars and pandas, and says the same thing.

One generated marketplace is evaluated to each format (JSON lines, CSV, typed
Parquet, the ``.arrows`` stream and the ``.arrow`` file); each tool reads
each file, and the per-status counts and one seller's actions must equal
those of the JSON lines read with Python's ``json``. Parquet is read without
any JSON function (actions are a list of structs: DuckDB unnests them).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from runkit import AS_OF

from sellerpolicy.engine.batch.run import run_evaluation
from sellerpolicy.engine.columnar.typed_rows import decisions_from_records
from sellerpolicy.engine.evaluation.backends.protocol import BackendName
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.rules import load_pack, resolve_pack

FORMATS = (".jsonl", ".csv", ".parquet", ".arrows", ".arrow")
Item = tuple[str, str, bool]  # action, rule, enforced
Reading = tuple[dict[str, int], list[Item]]


@pytest.fixture(scope="module")
def outputs(small_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small marketplace evaluated once per output format (no store: all columnar)."""
    folder = tmp_path_factory.mktemp("outputs")
    pack = load_pack(resolve_pack("amazon"))
    for suffix in FORMATS:
        run_evaluation(pack, source=small_source, as_of=AS_OF, out=folder / f"d{suffix}")
    return folder


@pytest.fixture(scope="module")
def expected(outputs: Path) -> tuple[dict[str, int], str, list[Item]]:
    """Counts per status, the seller with the most actions, and its actions, from JSON lines."""
    records = [json.loads(line) for line in (outputs / "d.jsonl").read_text().splitlines()]
    seller = max(records, key=lambda r: (len(r["actions"]), r["seller_id"]))
    assert len(seller["actions"]) >= 2
    items = [(a["action"], a["rule"], a["enforced"]) for a in seller["actions"]]
    return dict(Counter(r["status"] for r in records)), seller["seller_id"], items


def _arrow_table(path: Path) -> pa.Table:
    if path.suffix == ".arrows":
        with pa.ipc.open_stream(path) as reader:
            return reader.read_all()
    with pa.ipc.open_file(path) as reader:
        return reader.read_all()


def _items(actions: Any) -> list[Item]:
    """(action, rule, enforced) of a list of action mappings, or of their JSON text."""
    listed = json.loads(actions) if isinstance(actions, str) else list(actions)
    return [(a["action"], a["rule"], bool(a["enforced"])) for a in listed]


def _duckdb(path: Path, seller: str) -> Reading:
    with duckdb.connect() as con:
        if path.suffix in (".arrows", ".arrow"):
            con.register("decisions", _arrow_table(path))
            source = "decisions"
        elif path.suffix == ".jsonl":
            source = f"read_json('{path}', format = 'newline_delimited')"
        elif path.suffix == ".csv":
            source = f"read_csv('{path}')"
        else:
            source = f"'{path}'"
        counts = con.sql(f"select status, count(*) from {source} group by status").fetchall()
        if path.suffix == ".csv":
            (text,) = con.execute(
                f"select actions from {source} where seller_id = ?",
                [seller],
            ).fetchone()  # type: ignore[misc]
            items = _items(text)
        else:  # nested already: unnest, no JSON function
            rows = con.execute(
                f"select a.action, a.rule, a.enforced from "
                f"(select unnest(actions) as a from {source} where seller_id = ?)",
                [seller],
            ).fetchall()
            items = [(str(a), str(r), bool(e)) for a, r, e in rows]
    return {str(s): int(c) for s, c in counts}, items


def _polars(path: Path, seller: str) -> Reading:
    readers: dict[str, Callable[[Path], pl.DataFrame]] = {
        ".jsonl": pl.read_ndjson,
        ".csv": pl.read_csv,
        ".parquet": pl.read_parquet,
        ".arrows": pl.read_ipc_stream,
        ".arrow": lambda p: pl.scan_ipc(p).collect(),
    }
    frame = readers[path.suffix](path)
    counts = frame.group_by(pl.col("status").cast(pl.String)).len()
    (actions,) = frame.filter(pl.col("seller_id") == seller)["actions"].to_list()
    return dict(counts.iter_rows()), _items(actions)


def _pandas(path: Path, seller: str) -> Reading:
    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
        ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
        ".csv": pd.read_csv,
        ".parquet": pd.read_parquet,
        ".arrows": lambda p: _arrow_table(p).to_pandas(),
        ".arrow": pd.read_feather,
    }
    frame = readers[path.suffix](path)
    counts = frame["status"].astype(str).value_counts()
    (actions,) = frame.loc[frame["seller_id"] == seller, "actions"].tolist()
    return {str(k): int(v) for k, v in counts.items()}, _items(actions)


@pytest.mark.parametrize("reader", [_duckdb, _polars, _pandas], ids=["duckdb", "polars", "pandas"])
@pytest.mark.parametrize("suffix", FORMATS)
def test_each_tool_reads_each_output_alike(
    outputs: Path,
    expected: tuple[dict[str, int], str, list[Item]],
    suffix: str,
    reader: Callable[[Path, str], Reading],
) -> None:
    """The same counts per status and the same actions of one seller, whatever reads it."""
    counts, seller, items = expected
    got_counts, got_items = reader(outputs / f"d{suffix}", seller)
    assert got_counts == counts
    assert got_items == items


def test_parquet_is_typed(outputs: Path) -> None:
    """Parquet columns are typed: as_of a date, the instant with a time zone, decision ids
    UUID text, facts and rules structs."""
    with duckdb.connect() as con:
        kinds = dict(
            con.sql(
                f"select column_name, column_type from (describe '{outputs / 'd.parquet'}')"
            ).fetchall()
        )
        outcome = con.sql(
            f"""select rules."odr-over-target".outcome, count(*) from '{outputs / "d.parquet"}'
                group by 1 order by 1"""
        ).fetchall()
    assert kinds["as_of"] == "DATE"
    assert kinds["as_of_instant"] == "TIMESTAMP WITH TIME ZONE"
    assert kinds["decision_id"] == "VARCHAR"
    assert kinds["facts"].startswith("STRUCT(orders BIGINT")
    assert kinds["actions"].startswith('STRUCT("action" VARCHAR')
    assert kinds["actions"].endswith("[]")  # a list of structs
    assert {o for o, _ in outcome} <= {"matched", "not_matched", "not_assessed"}
    frame = pl.read_parquet(outputs / "d.parquet")
    assert frame.schema["as_of"] == pl.Date
    assert all(len(i) == 36 and i.count("-") == 4 for i in frame["decision_id"].to_list())


@pytest.mark.parametrize("explain", [ExplainLevel.SUMMARY, ExplainLevel.FULL])
def test_per_seller_parquet_has_the_one_layout(
    small_source: Path, tmp_path: Path, explain: ExplainLevel
) -> None:
    """durable-rules (and ``explain=full``: per seller, with dates in distances) writes the
    same typed Parquet layout, whose records read back as its JSON lines."""
    pack = load_pack(resolve_pack("amazon"))
    for suffix in (".jsonl", ".parquet"):
        run_evaluation(
            pack,
            source=small_source,
            as_of=AS_OF,
            out=tmp_path / f"d{suffix}",
            backend=BackendName.DURABLE,
            explain=explain,
        )
    run_evaluation(pack, source=small_source, as_of=AS_OF, out=tmp_path / "bulk.parquet")
    table = pq.read_table(tmp_path / "d.parquet")
    assert table.schema.names == pq.read_schema(tmp_path / "bulk.parquet").names
    expected = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    got = [d.to_json() for d in decisions_from_records(table, pack)]
    for record in expected + got:
        del record["decision_id"]
    assert got == expected
    dates = [
        r["distance"]["clears_on"]
        for d in got
        for r in d["rules"]
        if r["distance"] and r["distance"]["clears_on"]
    ]
    assert bool(dates) is (explain is ExplainLevel.FULL)
