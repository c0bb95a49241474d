"""A malformed line of a CSV or JSON Lines file is one reject, never the end of the run.

Each one (too few or too many fields, bytes that are not UTF-8, an unterminated
quote, a JSON line that is not an object) is rejected with the number of its
row, numbered as every other reject (data rows, the header and blank lines
left out), and every other row keeps its number and its values. A file that is
no table at all still stops the run, with a message naming the file and never
repeating its content.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import app
from sellerpolicy.engine.cli.root import main
from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.sources.limits import LIMITS_TABLE
from sellerpolicy.engine.sources.line_reader import MAX_LINE_BYTES
from sellerpolicy.engine.sources.reader import SourceReport, load_source
from sellerpolicy.engine.sources.tables import TABLES

HEADER = b"order_id,seller_id,ordered_at\n"
SHORT = "field_count: the row has 2 fields, the header has 3"


def good(n: int) -> bytes:
    """A valid orders line (order O<n>)."""
    return b"O%d,S1,2026-10-01T10:00:00Z\n" % n


def late(n: int) -> bytes:
    """An orders line with a bad timestamp: a reject found after the file was read."""
    return b"O%d,S1,yesterday\n" % n


def load_bytes(tmp_path: Path, content: bytes, name: str = "orders.csv") -> SourceReport:
    (tmp_path / name).write_bytes(content)
    with duckdb.connect() as con:
        return load_source(tmp_path, con)


def found(report: SourceReport) -> list[tuple[int, str | None, str]]:
    return [(r.row, r.column, r.reason) for r in report.rejects]


def kept(tmp_path: Path) -> list[str]:
    with duckdb.connect() as con:
        load_source(tmp_path, con)
        return [r[0] for r in con.execute("SELECT order_id FROM orders").fetchall()]


def error_of(source: Path) -> SourceError:
    with pytest.raises(SourceError) as info:
        load_source(source, duckdb.connect())
    return info.value


@pytest.mark.parametrize("where", ["first", "middle", "last", "last without line feed"])
def test_ragged_row_is_a_reject_where_it_is(tmp_path: Path, where: str) -> None:
    """A short row, first, in the middle or last, is rejected as its own row; the rows
    around it keep their numbers (a later reject of another row has its own number)."""
    rows = [good(1), late(2), good(3)]
    at = {"first": 0, "middle": 2, "last": 3, "last without line feed": 3}[where]
    rows.insert(at, b"O9,S1" if where == "last without line feed" else b"O9,S1\n")
    report = load_bytes(tmp_path, HEADER + b"".join(rows))
    late_row = rows.index(late(2)) + 1
    expected = sorted([(at + 1, None, "field_count"), (late_row, "ordered_at", "bad_timestamp")])
    assert [(r.row, r.column, r.code) for r in report.rejects] == expected
    assert next(r.reason for r in report.rejects if r.code == "field_count") == SHORT
    assert report.rows_read["orders"] == 4
    assert report.rows_valid["orders"] == 2
    assert kept(tmp_path) == ["O1", "O3"]


def test_several_short_and_long_rows_each_say_how_many_fields(tmp_path: Path) -> None:
    """Every ragged row is one reject saying how many fields it has; the run goes on."""
    content = HEADER + good(1) + b"O2\n" + b"O3,S1,2026-10-01,x,y\n" + good(4) + b"O5,S1\n"
    report = load_bytes(tmp_path, content)
    assert found(report) == [
        (2, None, "field_count: the row has 1 field, the header has 3"),
        (3, None, "field_count: the row has 5 fields, the header has 3"),
        (5, None, SHORT),
    ]
    assert [r.code for r in report.rejects] == ["field_count"] * 3
    assert kept(tmp_path) == ["O1", "O4"]


def test_empty_fields_after_the_last_column_are_allowed(tmp_path: Path) -> None:
    """As DuckDB reads them: ``a,b,c,`` is a row of three fields, with or without
    another malformed line in the file."""
    trailing = b"O2,S1,2026-10-01T10:00:00Z,,\n"
    assert found(load_bytes(tmp_path, HEADER + good(1) + trailing)) == []
    report = load_bytes(tmp_path, HEADER + good(1) + trailing + b"O3\n")
    assert [r.row for r in report.rejects] == [3]
    assert kept(tmp_path) == ["O1", "O2"]


def test_bytes_that_are_not_utf8_reject_their_row_and_name_the_column(tmp_path: Path) -> None:
    """A byte that is not UTF-8 rejects its row, naming the column, and echoes nothing."""
    content = HEADER + good(1) + b"O2,S\xff\xfe1,2026-10-01\n" + good(3)
    report = load_bytes(tmp_path, content)
    assert found(report) == [(2, "seller_id", "bad_encoding: seller_id is not valid UTF-8")]
    assert kept(tmp_path) == ["O1", "O3"]


@pytest.mark.parametrize("where", ["middle", "last"])
def test_unterminated_quote_costs_one_row(tmp_path: Path, where: str) -> None:
    """A quote never closed rejects its line only: reading starts again on the next line
    (DuckDB alone would take the rest of the file into the field, or lose it)."""
    bad = b'O2,"S1,2026-10-01\n'
    rows = [good(1), bad, good(3), late(4)] if where == "middle" else [good(1), good(3), bad]
    report = load_bytes(tmp_path, HEADER + b"".join(rows))
    quote = "bad_quote: seller_id has an unterminated quote"
    if where == "middle":
        assert found(report)[0] == (2, "seller_id", quote)
        assert [(r.row, r.code) for r in report.rejects] == [(2, "bad_quote"), (4, "bad_timestamp")]
        assert kept(tmp_path) == ["O1", "O3"]
    else:
        assert found(report) == [(3, "seller_id", quote)]
        assert kept(tmp_path) == ["O1", "O3"]


def test_unterminated_quote_in_a_long_file_loses_no_row(tmp_path: Path) -> None:
    """Past DuckDB's buffers and threads, an unclosed quote still costs one row only."""
    rows = [good(i) for i in range(1, 60_001)]
    rows[29_999] = b'O30000,"S1,2026-10-01\n'
    report = load_bytes(tmp_path, HEADER + b"".join(rows))
    assert [(r.row, r.code) for r in report.rejects] == [(30_000, "bad_quote")]
    assert report.rows_valid["orders"] == 59_999


def test_quote_trouble_inside_a_row(tmp_path: Path) -> None:
    """Text after a closing quote, a carriage return outside quotes: a reject naming
    the column each; quoted commas, line breaks and doubled quotes are fine."""
    content = (
        HEADER
        + b'O1,"S,1","2026-10-01T10:00:00Z"\n'
        + b'O2,"S1"x,2026-10-01\n'
        + b"O3,S\r1,2026-10-01\n"
        + b'O4,"S""4\nsecond line",2026-10-01T10:00:00Z\n'
        + b"O5,S1\n"
    )
    report = load_bytes(tmp_path, content)
    assert found(report) == [
        (2, "seller_id", "bad_quote: seller_id has text after its closing quote"),
        (3, "seller_id", "bad_quote: seller_id has a line break outside quotes"),
        (5, None, SHORT),
    ]
    with duckdb.connect() as con:
        load_source(tmp_path, con)
        sellers = con.execute("SELECT seller_id FROM orders ORDER BY order_id").fetchall()
    assert sellers == [("S,1",), ('S"4\nsecond line',)]


def test_blank_lines_and_line_breaks_keep_the_numbering(tmp_path: Path) -> None:
    """Blank lines are not rows (as DuckDB reads a good file), in LF, CRLF and CR files
    alike: a malformed row after them has the number a reject of it would have had."""
    for newline in (b"\n", b"\r\n", b"\r"):
        lines = [
            b"order_id,seller_id,ordered_at",
            b"O1,S1,2026-10-01T10:00:00Z",
            b"",
            b"O2,S1,yesterday",
            b"",
            b"O3",
            b"O4,S1,2026-10-01T10:00:00Z",
        ]
        report = load_bytes(tmp_path, newline.join(lines) + newline)
        assert [(r.row, r.code) for r in report.rejects] == [
            (2, "bad_timestamp"),
            (3, "field_count"),
        ], newline
        assert kept(tmp_path) == ["O1", "O4"]


def test_mixed_line_breaks_are_read(tmp_path: Path) -> None:
    """A header ending in LF over CRLF rows (which DuckDB alone refuses whole) is read
    row by row."""
    content = HEADER + b"O1,S1,2026-10-01T10:00:00Z\r\nO2,S1\r\nO3,S1,2026-10-01T10:00:00Z\r\n"
    report = load_bytes(tmp_path, content)
    assert found(report) == [(2, None, SHORT)]
    assert kept(tmp_path) == ["O1", "O3"]


def test_overlong_row_is_a_reject(tmp_path: Path) -> None:
    """A row longer than DuckDB reads is a reject; it is never held whole in memory."""
    huge = b"O2,S1," + b"x" * (MAX_LINE_BYTES + 10) + b"\n"
    report = load_bytes(tmp_path, HEADER + good(1) + huge + good(3))
    assert found(report) == [
        (2, None, f"line_too_long: the row is longer than {MAX_LINE_BYTES:,} bytes")
    ]
    assert kept(tmp_path) == ["O1", "O3"]


def test_compensating_rows_are_caught_by_duckdb(tmp_path: Path) -> None:
    """A long and a short row side by side have as many commas as two good ones: the
    quick check lets them through, DuckDB refuses them in the copy, and they are
    rejected by number all the same."""
    content = HEADER + good(1) + b"O2,S1,2026-10-01,x\n" + b"O3,S1\n" + good(4)
    report = load_bytes(tmp_path, content)
    assert found(report) == [
        (2, None, "field_count: the row has 4 fields, the header has 3"),
        (3, None, SHORT),
    ]
    assert kept(tmp_path) == ["O1", "O4"]


def test_bad_lines_across_a_large_file(tmp_path: Path) -> None:
    """Bad lines first, last, in the middle and at read-block edges of a file of many
    blocks (plain and quoted rows), each at its exact row; every other row kept."""
    count = 120_000
    rows = [
        good(i) if i % 3 else b'"O%d","S1","2026-10-01T10:00:00Z"\n' % i
        for i in range(1, count + 1)
    ]
    bad_rows = {1, 2, 30_001, 30_002, 77_777, count - 1, count}
    for row in bad_rows:
        rows[row - 1] = b"O%d,S1\n" % row if row % 2 else b"O%d,S\xff,2026-10-01\n" % row
    rows[50_000 - 1] = late(50_000)
    report = load_bytes(tmp_path, HEADER + b"".join(rows))
    assert [r.row for r in report.rejects] == sorted({*bad_rows, 50_000})
    assert report.rows_read["orders"] == count
    assert report.rows_valid["orders"] == count - len(bad_rows) - 1


ROW = st.tuples(
    st.sampled_from(["O", "O,1", 'O"q', "O\n2", "Ö", " O"]),
    st.sampled_from(["S1", "", "S 1", "S,1", 'S"1', "S\r\n1"]),
    st.sampled_from(["2026-10-01T10:00:00Z", "2026-10-01", "yesterday", ""]),
)
BAD = st.sampled_from([b"O9,S9\n", b"O9,S9,x,y\n", b'O9,"S9,x\n', b"O9,\xff,x\n", b'O9,"S"9,x\n'])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(ROW, min_size=1, max_size=12),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    newline=st.sampled_from(["\n", "\r\n"]),
    blanks=st.lists(st.integers(0, 12), max_size=3),
    inserts=st.lists(st.tuples(st.integers(0, 12), BAD), min_size=1, max_size=3),
)
def test_a_malformed_line_changes_nothing_else(
    tmp_path: Path,
    *,
    rows: list[tuple[str, str, str]],
    quoting: int,
    newline: str,
    blanks: list[int],
    inserts: list[tuple[int, bytes]],
) -> None:
    """Property: a file with malformed lines inserted reads as the file without them,
    each row with the same values and its number shifted only by the lines inserted
    before it; each inserted line is one reject at its own row."""
    text = io.StringIO()
    writer = csv.writer(text, quoting=quoting, lineterminator=newline)
    writer.writerow(["order_id", "seller_id", "ordered_at"])
    records = []
    for index, row in enumerate(rows):
        one = io.StringIO()
        csv.writer(one, quoting=quoting, lineterminator=newline).writerow(
            [f"{row[0]}{index}", *row[1:]]
        )
        records.append(one.getvalue().encode())
    for at in blanks:
        records.insert(min(at, len(records)), newline.encode())
    header = text.getvalue().encode()
    clean = _read(tmp_path / "clean", header + b"".join(records))
    marked = list(records)
    for at, line in sorted(inserts, key=lambda x: x[0], reverse=True):
        marked.insert(min(at, len(marked)), b"\0BAD\0" + line)
    # Number the inserted lines among the data rows (blank lines are not rows).
    bad_rows, shift, number = [], [], 0
    for item in marked:
        if item.startswith(b"\0BAD\0"):
            number += 1
            bad_rows.append(number)
        elif item.strip(b"\r\n"):
            number += 1
            shift.append(number)
    content = header + b"".join(m.removeprefix(b"\0BAD\0") for m in marked)
    dirty = _read(tmp_path / "dirty", content)
    clean_rejects, clean_rows = clean
    dirty_rejects, dirty_rows = dirty
    assert dirty_rows == clean_rows
    renumbered = {(shift[row - 1], reason) for row, reason in clean_rejects}
    structural = {(row, reason) for row, reason in dirty_rejects if row in bad_rows}
    assert {r for r, _ in structural} == set(bad_rows)
    assert set(dirty_rejects) - structural == renumbered


def _read(folder: Path, content: bytes) -> tuple[list[tuple[int, str]], list[tuple[object, ...]]]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orders.csv").write_bytes(content)
    with duckdb.connect() as con:
        report = load_source(folder, con)
        kept_rows = con.execute("SELECT * FROM orders").fetchall()
    return [(r.row, r.reason) for r in report.rejects], kept_rows


def test_not_a_csv_file_stops_with_one_message(tmp_path: Path) -> None:
    """Binary content, an empty file, UTF-16, a first line naming no column: the run
    stops naming the file, and the message repeats none of its content."""
    cases = {
        "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00 secret",
        "empty": b"",
        "utf16": "order_id,seller_id,ordered_at\n".encode("utf-16"),
        "no column": b"alpha,secret-beta\nO1,S1\n",
        "one long line": b"secret" * 400_000,
    }
    for name, content in cases.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        (folder / "orders.csv").write_bytes(content)
        error = error_of(folder)
        assert error.path == str(folder / "orders.csv"), name
        assert "secret" not in str(error), name
        assert "\n" not in str(error), name


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "duckdb"])
def test_a_symlinked_secret_file_is_never_echoed(tmp_path: Path, fmt: str) -> None:
    """``orders.<fmt> -> /etc/shadow``-like: whatever the format, the error names the
    file and never prints its first line."""
    secret = tmp_path / "shadow"
    secret.write_text(
        "root:$6$S3CRETHASH$abcdefgh:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
        encoding="utf-8",
    )
    folder = tmp_path / "source"
    folder.mkdir()
    if fmt == "duckdb":
        source = tmp_path / "source.duckdb"
        source.symlink_to(secret)
    else:
        (folder / f"orders.{fmt}").symlink_to(secret)
        source = folder
    message = str(error_of(source))
    assert "S3CRETHASH" not in message
    assert "root:" not in message
    assert "daemon" not in message
    assert "\n" not in message


def test_header_naming_a_column_twice(tmp_path: Path) -> None:
    """Two columns of one name are refused plainly (DuckDB's reader is never reached)."""
    (tmp_path / "orders.csv").write_bytes(b"order_id,seller_id,order_id,ordered_at\n")
    assert error_of(tmp_path).problem == "the header names the column order_id twice"


def test_unknown_column_names_are_cut(tmp_path: Path) -> None:
    """An unknown column is named (it is the offending field), cut at 40 characters."""
    (tmp_path / "orders.csv").write_bytes(HEADER.rstrip(b"\n") + b"," + b"z" * 300 + b"\n")
    problem = error_of(tmp_path).problem
    assert problem.startswith("unknown columns 'zzz")
    assert "z" * 41 not in problem


def test_bad_json_lines_are_rejects(tmp_path: Path) -> None:
    """A JSON line that is not valid JSON, not an object, names a key twice, holds NaN
    or a lone surrogate, or is not UTF-8: a reject at its row each (blank lines are no
    rows), the other lines read."""
    ok = b'{"order_id": "O%d", "seller_id": "S1", "ordered_at": "2026-10-01T10:00:00Z"}\n'
    content = b"".join(
        [
            ok % 1,
            b'{"order_id": "O2"\n',
            b"[1, 2]\n",
            b"\n",
            b'"just text"\n',
            b'{"order_id": "O5", "order_id": "O6"}\n',
            b'{"order_id": NaN}\n',
            b'{"order_id": "\\ud800"}\n',
            b'{"order_id": "\xff"}\n',
            ok % 9,
            b"   \n",
            ok % 10,
        ]
    )
    report = load_bytes(tmp_path, content, "orders.jsonl")
    assert found(report) == [
        (2, None, "bad_json: the line is not valid JSON"),
        (3, None, "bad_json: the line is an array, not a JSON object"),
        (4, None, "bad_json: the line is a string, not a JSON object"),
        (5, None, "bad_json: the line names the key 'order_id' twice"),
        (6, None, "bad_json: the line is not valid JSON"),
        (7, None, "bad_json: the line has a \\u escape that is not a character (a lone surrogate)"),
        (8, None, "bad_encoding: the line is not valid UTF-8"),
    ]
    assert kept(tmp_path) == ["O1", "O9", "O10"]


def test_json_lines_file_with_no_object_stops(tmp_path: Path) -> None:
    """A file none of whose lines is a JSON object is not JSON Lines: one message."""
    (tmp_path / "orders.jsonl").write_bytes(b"root:secret:0:0\nplain text\n")
    error = error_of(tmp_path)
    assert error.problem == "is not a JSON Lines file: none of its lines is a JSON object"


def test_mending_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mended copy's folder is removed and DuckDB's rejects tables dropped."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "orders.csv").write_bytes(HEADER + good(1) + b"O2,S1,x,y\n" + b"O3,S1\n" + good(4))
    con = duckdb.connect()
    load_source(folder, con)
    assert list(scratch.iterdir()) == []
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    # and the metrics of the optional inputs it lacks (returns, sellers...) are kept
    assert tables == {*TABLES, LIMITS_TABLE}


def test_cli_run_goes_on_past_a_ragged_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sellerpolicy metrics`` on a source with a ragged row exits 0 and writes it to the
    rejects file; on a file that is no CSV it exits 2 with one line naming the file."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "orders.csv").write_bytes(HEADER + good(1) + b"O2,S1\n" + good(3))
    out = tmp_path / "facts.jsonl"
    args = ["metrics", "--source", str(source), "--pack", "amazon", "--as-of", "2026-11-01"]
    with pytest.raises(SystemExit) as done:
        main([*args, "--out", str(out)])
    assert done.value.code == 0, capsys.readouterr().err
    rejects = (tmp_path / "facts.rejects.jsonl").read_text(encoding="utf-8")
    assert '"row": 2' in rejects
    assert "field_count" in rejects
    (source / "orders.csv").write_bytes(b"\x00\x01 secret binary \xff\n")
    capsys.readouterr()
    with pytest.raises(SystemExit) as failed:
        main([*args, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert failed.value.code == 2
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert "orders.csv" in err
    assert "secret" not in err


def test_random_bad_lines_in_a_generated_source(tmp_path: Path) -> None:
    """A generated marketplace with lines broken at random in every CSV table loses
    exactly those rows, each a reject at its row."""
    runner = CliRunner()
    source = tmp_path / "src"
    made = runner.invoke(
        app,
        ["generate", "--sellers", "20", "--days", "30", "--seed", "3", "--as-of", "2026-11-01",
         "--out", str(source), "--format", "csv"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    with duckdb.connect() as con:
        before = load_source(source, con)
    rng = random.Random(7)
    broken: dict[str, set[int]] = {}
    for path in sorted(source.glob("*.csv")):
        lines = path.read_bytes().split(b"\n")
        data = [i for i in range(1, len(lines)) if lines[i]]
        chosen = set(rng.sample(data, min(3, len(data))))
        for i in chosen:
            lines[i] = lines[i].split(b",", 1)[0]
        path.write_bytes(b"\n".join(lines))
        broken[path.stem] = chosen
    with duckdb.connect() as con:
        after = load_source(source, con)
    for table, rows in broken.items():
        mine = {r.row for r in after.rejects if r.table == table and r.code == "field_count"}
        assert mine == rows, table
        assert after.rows_read[table] == before.rows_read[table]
