"""The synthetic marketplace generator: deterministic, believable, valid against the
schemas, and its deliberately broken rows all come back as rejects."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import jsonschema
import pytest

import sellerpolicy.schemas
from sellerpolicy.engine.generate.marketplace import GenerateSummary, generate
from sellerpolicy.engine.generate.world import ARCHETYPES
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.tables import TABLES, Format

AS_OF = date(2026, 11, 1)
SCHEMAS = Path(sellerpolicy.schemas.__file__).parent


def _generate(out: Path, fmt: Format, seed: int = 5, share: float = 0.005) -> GenerateSummary:
    return generate(
        sellers=80, days=60, seed=seed, as_of=AS_OF, out=out, fmt=fmt, broken_share=share
    )


@pytest.mark.parametrize("fmt", list(Format))
def test_same_seed_same_bytes(tmp_path: Path, fmt: Format) -> None:
    """Two runs with one seed write byte-identical files; another seed writes other data."""
    first = _generate(tmp_path / "a", fmt)
    _generate(tmp_path / "b", fmt)
    other = _generate(tmp_path / "c", fmt, seed=6)
    for table in TABLES:
        name = f"{table}.{fmt.value}"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / f"orders.{fmt.value}").read_bytes() != (
        tmp_path / "c" / f"orders.{fmt.value}"
    ).read_bytes()
    assert set(first.rows) == set(TABLES)
    assert other.seed == 6


@pytest.mark.parametrize("fmt", list(Format))
def test_broken_rows_are_exactly_the_rejects(tmp_path: Path, fmt: Format) -> None:
    """Every injected broken row is rejected at its row with the expected code, and no
    clean row is rejected."""
    summary = _generate(tmp_path, fmt, share=0.01)
    report = load_source(tmp_path, duckdb.connect())
    expected = {(r.table, r.row, r.code) for r in summary.injected}
    assert {(r.table, r.row, r.code) for r in report.rejects} == expected
    assert report.reject_count == len(summary.injected)
    codes = {r.code for r in summary.injected}
    assert {"missing_value", "unknown_value", "duplicate_id", "unknown_order"} <= codes
    assert {"out_of_range", "second_update", "duplicate_rating"} <= codes
    if fmt is not Format.PARQUET:
        assert "bad_timestamp" in codes
    assert dict(report.rows_read) == dict(summary.rows)


def test_no_broken_rows_when_share_is_zero(tmp_path: Path) -> None:
    """broken_share=0 writes a fully valid source."""
    summary = _generate(tmp_path, Format.PARQUET, share=0.0)
    assert summary.injected == ()
    assert load_source(tmp_path, duckdb.connect()).reject_count == 0


def test_generated_rows_match_the_table_schemas(tmp_path: Path) -> None:
    """Rows of every table (clean ones) validate against schemas/<table>.schema.json,
    and the injected broken rows do not (where JSON Schema can tell)."""
    summary = _generate(tmp_path, Format.JSONL, share=0.01)
    broken = {(r.table, r.row) for r in summary.injected}
    # A pattern cannot tell 2026-02-30 from a real date: bad timestamps are the loader's job.
    schema_checked = {"missing_value", "unknown_value", "out_of_range"}
    for table in TABLES:
        schema = json.loads((SCHEMAS / f"{table}.schema.json").read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema)
        lines = (tmp_path / f"{table}.jsonl").read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            errors = list(validator.iter_errors(json.loads(line)))
            if (table, number) not in broken:
                assert errors == [], (table, number, line)
        for row in summary.injected:
            if row.table == table and row.code in schema_checked:
                assert list(validator.iter_errors(json.loads(lines[row.row - 1]))), row


def test_schemas_mirror_the_loader_columns() -> None:
    """Each table schema lists exactly the canonical columns, closed to others."""
    for table, columns in TABLES.items():
        schema = json.loads((SCHEMAS / f"{table}.schema.json").read_text(encoding="utf-8"))
        assert list(schema["properties"]) == [name for name, _ in columns]
        assert schema["additionalProperties"] is False
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_marketplace_is_believable(tmp_path: Path) -> None:
    """Archetypes show in the data (most sellers rarely ship late, a few often do),
    volumes are heavy-tailed, every event precedes as_of, and every cancel initiator,
    claim status, chargeback kind, dispute kind and feedback event occurs."""
    summary = generate(sellers=400, days=90, seed=3, as_of=AS_OF, out=tmp_path, broken_share=0.0)
    con = duckdb.connect()
    load_source(tmp_path, con)
    as_of = datetime(2026, 11, 1)
    assert con.execute("SELECT max(ordered_at) < ? FROM orders", [as_of]).fetchone() == (True,)
    for table, column in [("feedback", "at"), ("claims", "filed_at"), ("ratings", "rated_at")]:
        assert con.execute(f'SELECT max("{column}") < ? FROM {table}', [as_of]).fetchone() == (
            True,
        )
    for table, column, count in [
        ("orders", "cancelled_by", 3),
        ("claims", "status", 5),
        ("chargebacks", "kind", 2),
        ("disputes", "kind", 3),
        ("feedback", "event", 3),
    ]:
        assert con.execute(f"SELECT count(DISTINCT {column}) FROM {table}").fetchone() == (
            count,
        ), table
    assert con.execute("SELECT count(*) FROM messages WHERE order_id IS NULL").fetchone()[0] > 0
    per_seller = con.execute(
        "SELECT count(*) AS n FROM orders GROUP BY seller_id ORDER BY n DESC"
    ).fetchall()
    assert per_seller[0][0] > 10 * per_seller[len(per_seller) // 2][0]  # heavy-tailed volumes
    late = [
        rate
        for (rate,) in con.execute(
            "SELECT avg(CAST(shipped_at > ship_by AS INTEGER)) FROM orders"
            " WHERE shipped_at IS NOT NULL GROUP BY seller_id HAVING count(*) >= 30 ORDER BY 1"
        ).fetchall()
    ]
    assert late[len(late) // 2] < 0.03  # the typical seller ships on time
    assert late[-1] > 0.08  # late shippers exist
    assert summary.orders == con.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert len(ARCHETYPES) == 8


def test_impossible_arguments_are_refused(tmp_path: Path) -> None:
    """Zero sellers or a broken share of one half or more are refused before writing."""
    with pytest.raises(ValueError, match="sellers"):
        generate(sellers=0, days=10, seed=1, as_of=AS_OF, out=tmp_path / "x")
    with pytest.raises(ValueError, match="broken_share"):
        generate(sellers=1, days=10, seed=1, as_of=AS_OF, out=tmp_path / "x", broken_share=0.5)
    assert not (tmp_path / "x").exists()
