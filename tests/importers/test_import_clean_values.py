"""The values of the fast path (``importers.clean_values``) are those of the general path:
every value it reads, it reads as ``parse_lines`` (the contract's parser) does, and the
values of documented shape are read."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from sellerpolicy.engine.formats.registry import flat_mapping
from sellerpolicy.engine.importers import clean_values
from sellerpolicy.engine.importers.contract_rows import parse_lines, register_sellers
from sellerpolicy.engine.importers.report_files import ReportFile

_MAPPING = flat_mapping("amazon-all-orders")
_COLUMN = {c: f"c{i}" for i, c in enumerate(_MAPPING.used_columns)}


def _general(column: str, values: Sequence[str | None], read: str) -> list[object]:
    """Each value in the report column ``column`` of an otherwise good line, read by the
    general path (``parse_lines``): the SQL ``read`` of its parsed row, None if rejected."""
    good = {"amazon-order-id": "O1", "purchase-date": "2026-10-01T10:00:00+00:00"}
    good |= {"item-price": "1.00", "currency": "USD", "order-status": "Shipped"}
    columns = {
        _COLUMN[c]: [values[i] if c == column else good[c] for i in range(len(values))]
        for c in _MAPPING.used_columns
    }
    lines = pa.table(
        {
            "__file": pa.array([0] * len(values), pa.int32()),
            "__line": pa.array(range(2, len(values) + 2), pa.int64()),
            **{name: pa.array(v, pa.string()) for name, v in columns.items()},
        }
    )
    with duckdb.connect() as con:
        register_sellers(con, [ReportFile(Path("orders.txt"), "S1")])
        con.register("lines", lines)
        kept = parse_lines(con, _MAPPING, "lines", "parsed")
        found = dict(con.execute(f"SELECT _line, {read} FROM {kept}").fetchall())
    return [found.get(line) for line in range(2, len(values) + 2)]


_DOCUMENTED_TIMES = [
    "2026-10-01T10:00:00+00:00",
    "2026-10-01T23:30:00-05:00",
    "2026-10-02T01:15:00+14:00",
    "2026-10-02T01:15:00-14:00",
    "2026-10-02T01:15:00+13:59",
    "2026-10-02T01:15:00-12:30",
    "2026-10-02T01:15:00+05:45",
    "2026-10-02T01:15:00-00:00",
    "2026-10-02T08:00:00Z",
    "2026-10-03",
    "2024-02-29T12:00:00+00:00",  # a leap year
    "2000-02-29T12:00:00+00:00",  # divisible by 400: a leap year
    "2026-04-30T23:59:59+00:00",
    "2026-12-31T23:59:59Z",
    "2026-01-01T00:00:00+01:00",  # the day before in UTC, the year before
    "1969-12-31T23:59:59Z",
    "1900-03-01",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
]
_OTHER_TIMES = [
    "2023-02-29T12:00:00+00:00",  # not a leap year
    "1900-02-29T12:00:00+00:00",  # divisible by 100, not 400
    "2026-04-31T10:00:00+00:00",  # 30 days in April
    "2026-06-31",
    "2026-13-01T10:00:00Z",
    "2026-00-10T10:00:00Z",
    "2026-10-00T10:00:00Z",
    "2026-10-01T24:00:00+00:00",
    "2026-10-01T10:60:00+00:00",
    "2026-10-01T10:00:60+00:00",
    "2026-10-02T01:15:00+14:01",
    "2026-10-02T01:15:00-14:30",
    "2026-10-02T01:15:00+15:00",
    "2026-10-02T01:15:00+05:60",
    "2026-10-02T01:15:00,05:00",
    "2026-10-02T01:15:00+0500",
    "2026-10-02T01:15:00+05",
    "2026-10-02T08:00:00z",
    "2026-10-02t08:00:00Z",
    "2026-10-02 08:00:00Z",
    "2026-10-02T08:00:00.5Z",
    "2026-10-02T08:00:00",
    " 2026-10-01T10:00:00+00:00",
    "2026-10-01T10:00:00+00:00 ",
    "2026-10-01T10:00:00+00:00\u00a0",
    "2026-10-01T1 :00:00+00:00",
    "\uff12\uff10\uff12\uff16-10-01T10:00:00+00:00",  # fullwidth digits
    "\u0662\u0660\u0662\u0666-10-01",  # Arabic-Indic digits
    "0000-01-01T00:00:00Z",
    "2026-1-01",
    "20261001",
    "soon",
    None,
]


def test_times_read_as_the_general_path_reads_them() -> None:
    values = _DOCUMENTED_TIMES + _OTHER_TIMES
    micros, read = clean_values.times(pa.array(values, pa.string()))
    general = _general("purchase-date", values, "epoch_us(ordered_at)")
    for value, ok, mine, theirs in zip(values, read, micros, general, strict=True):
        if ok:
            assert theirs is not None, value
            assert int(mine) == theirs, value
    assert read.tolist() == [v in _DOCUMENTED_TIMES for v in values]


@pytest.mark.parametrize("seed", range(3))
def test_random_times_read_as_the_general_path_reads_them(seed: int) -> None:
    """Random instants written with random offsets, in chunks (one of them sliced)."""
    rng = random.Random(seed)
    values = []
    for _ in range(400):
        moment = datetime(1900, 1, 1) + timedelta(seconds=rng.randrange(200 * 365 * 86400))
        minutes = rng.choice([0, 0, 30, 45, rng.randrange(60)])
        hours = rng.randrange(14) if minutes else rng.randrange(15)
        sign = rng.choice("+-")
        shown = moment.strftime("%Y-%m-%dT%H:%M:%S")
        values.append(rng.choice([f"{shown}{sign}{hours:02d}:{minutes:02d}", f"{shown}Z"]))
    chunks = pa.chunked_array(
        [pa.array(values[:150]), pa.array(["x", *values[150:300]]).slice(1), pa.array(values[300:])]
    )
    micros, read = clean_values.times(chunks)
    assert read.all()
    general = _general("purchase-date", values, "epoch_us(ordered_at)")
    assert micros.tolist() == general


def test_times_are_utc_microseconds() -> None:
    micros, read = clean_values.times(pa.array(["2026-10-01T23:30:00-05:00", "2026-10-02"]))
    assert read.all()
    expected = [
        datetime(2026, 10, 2, 4, 30, tzinfo=UTC),
        datetime(2026, 10, 2, tzinfo=UTC),
    ]
    assert micros.tolist() == [int(e.timestamp()) * 1_000_000 for e in expected]


_DOCUMENTED_DECIMALS = [
    "0",
    "10",
    "10.10",
    "0.01",
    "-3.20",
    "-0.00",
    "-0",
    "999999.999999999",
    "123456",
    "0.000000001",
    "7.5",
    "0012.50",
    "0.000000000",
    "-999999.999999999",
    "000000",
    "123456.78",
    "-123456.78",
    "-1.00",
    "0.99",
]
_OTHER_DECIMALS = [
    "1000000",  # 7 digits before the point
    "0.0000000001",  # 10 after it
    "12.345678912345",
    "1e3",
    "inf",
    "nan",
    "+5",
    ".5",
    "5.",
    "-",
    "--5",
    "5-",
    "1.2.3",
    ".",
    "-.",
    "1.",
    "0000000",
    "1234567.89",
    "-1234567.89",
    "-.50",
    "1.2-",
    "1-.00",
    "12.3.",
    "12345678901234567",
    "-1234567.5",
    " 5.5",
    "5.5 ",
    "\u00a05.5",
    "1,5",
    "\u0665",  # an Arabic-Indic digit
    "\uff11",  # a fullwidth digit
    "ten",
    None,
]


def test_decimals_read_as_the_general_path_reads_them() -> None:
    values = _DOCUMENTED_DECIMALS + _OTHER_DECIMALS
    units, read = clean_values.decimals(pa.array(values, pa.string()))
    # What fold_lines sums: the parsed double as DECIMAL(38, 9).
    general = _general("item-price", values, "TRY_CAST(amount AS DECIMAL(38, 9))")
    for value, ok, mine, theirs in zip(values, read, units, general, strict=True):
        if ok:
            assert isinstance(theirs, Decimal), value
            assert int(mine) == int(theirs.scaleb(9)), value
    assert read.tolist() == [v in _DOCUMENTED_DECIMALS for v in values]


def test_random_decimals_and_their_sums_are_the_general_paths() -> None:
    """Any decimal of documented shape is its exact units; a sum of units read as a
    double (``DOUBLE(units) / 1e9``) is DuckDB's sum of DECIMAL(38, 9) read as DOUBLE."""
    rng = random.Random(7)
    values = []
    for _ in range(600):
        whole = str(rng.randrange(10 ** rng.randint(1, 6)))
        places = rng.randint(0, 9)
        fraction = "".join(rng.choice("0123456789") for _ in range(places))
        values.append(rng.choice(["", "-"]) + whole + (f".{fraction}" if places else ""))
    units, read = clean_values.decimals(pa.array(values))
    assert read.all()
    general = _general("item-price", values, "TRY_CAST(amount AS DECIMAL(38, 9))")
    assert units.tolist() == [int(Decimal(str(d)).scaleb(9)) for d in general]
    groups = np.repeat(np.arange(200), 3)
    with duckdb.connect() as con:
        table = pa.table({"g": groups, "v": pa.array(values)})
        con.register("t", table)
        sums = con.execute(
            "SELECT g, CAST(sum(TRY_CAST(CAST(v AS DOUBLE) AS DECIMAL(38, 9))) AS DOUBLE) "
            "FROM t GROUP BY g ORDER BY g"
        ).fetchall()
    mine = np.add.reduceat(units, np.arange(0, 600, 3)) / clean_values.UNITS
    assert mine.tolist() == [s for _, s in sums]


def test_currencies_read_as_the_general_path_reads_them() -> None:
    values = [
        "USD",
        "usd",
        "eUr",
        "US",
        "USDX",
        " USD",
        "USD ",
        "\u00dcSD",
        "us\u0131",
        "U$D",
        "",
        None,
    ]
    read, lower = clean_values.currencies(pa.array(values, pa.string()))
    assert lower, "usd and eUr have lower case letters"
    upper_only, lower = clean_values.currencies(pa.array(["USD", "EUR", "us", "uSDX", None]))
    assert upper_only.tolist() == [True, True, False, False, False]
    assert not lower, "no code read has a lower case letter"
    general = _general("currency", values, "currency")
    upper = [v.upper() if v else None for v in values]
    for value, ok, shown, theirs in zip(values, read, upper, general, strict=True):
        if ok:
            assert shown == theirs, value
    assert read.tolist() == [True, True, True] + [False] * 9


def test_plain_values_are_their_own_trimmed_text() -> None:
    values = ["O1", "O 1", " O1", "O1 ", "\tO1", "O1\u00a0", "\u00e9O1", "O1\u00e9", "!", None]
    plain = clean_values.plain(pa.array(values, pa.string()))
    assert plain.tolist() == [True, True, False, False, False, False, False, False, True, True]
    with duckdb.connect() as con:
        trimmed = [con.execute("SELECT trim(?)", [v]).fetchone()[0] for v in values]  # type: ignore[index]
    assert all(t == v for t, v, p in zip(trimmed, values, plain, strict=True) if p)


def test_values_read_at_rows_are_those_read_of_all() -> None:
    """Reading some values (``rows``) of a column in several chunks, one of them sliced,
    gives what reading all of them gives at those rows."""
    rng = random.Random(3)
    pool = [*_DOCUMENTED_TIMES, *_OTHER_TIMES, "USD", "usd", " O1", "O1", "", "O 1"]
    values = [rng.choice(pool) for _ in range(500)]
    chunks = pa.chunked_array(
        [pa.array(values[:200]), pa.array(["x", *values[200:450]]).slice(1), pa.array(values[450:])]
    )
    rows = np.array(sorted(rng.sample(range(500), 180)), dtype=np.intp)
    for read in (clean_values.times,):
        every, at = read(chunks), read(chunks, rows)
        assert every[0][rows].tolist() == at[0].tolist()
        assert every[1][rows].tolist() == at[1].tolist()
    for check in (clean_values.plain, clean_values.present):
        assert check(chunks)[rows].tolist() == check(chunks, rows).tolist()
    codes = clean_values.currencies(chunks)[0]
    assert codes[rows].tolist() == clean_values.currencies(chunks, rows)[0].tolist()
    assert clean_values.hashes(chunks)[rows].tolist() == clean_values.hashes(chunks, rows).tolist()
    assert clean_values.present(chunks).tolist() == [v is not None for v in values]


def test_equal_texts_have_equal_hashes() -> None:
    values = ["O1", "O2", "O1", "", None, "O10", "o1", "O1 ", None, "O2"]
    chunks = pa.chunked_array([pa.array(values[:4]), pa.array(values[4:])])
    found = clean_values.hashes(chunks).tolist()
    assert found[0] == found[2]
    assert found[1] == found[9]
    assert found[4] == found[8] == 0  # null
    distinct = [found[i] for i in (0, 1, 3, 5, 6, 7)]
    assert len(set(distinct)) == len(distinct)
