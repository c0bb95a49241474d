"""Tab-separated report files read into DuckDB, every line numbered, bad lines rejected.

:func:`read_reports` reads the report files of one format (each file one
account's report, its header naming the columns) into one DuckDB table:
``__file`` (the file's index), ``__line`` (its 1-based line, the header being
line 1) and the columns the mapping reads, as text (an empty value is null).

Each file's header is checked first (:class:`~sellerpolicy.engine.errors.SourceError`,
naming the file, for a column the mapping does not know or a column it needs
that is missing). Then a file is read one of two ways:

* the fast way, when one pass over its bytes shows plain lines only (one line
  break throughout, no blank line): DuckDB parses the files of one header
  together, strictly, reading only the columns needed; a line DuckDB refuses
  (a wrong number of fields, bytes that are not UTF-8) sends that file the slow
  way, and so does a row count that is not the file's line count;
* the slow way: line by line in Python (lines bounded in length), each
  malformed line a :class:`ReportReject` (``field_count``, ``bad_encoding``,
  ``line_too_long``) and every other line keeping its number.

Quoting is not part of these formats: a value is everything between two tabs.
"""

# SQL here is built from this module's own identifiers and quoted literals
# (quote_ident, quote_literal); report values are only ever data: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.formats.flat import FlatFileMapping
from sellerpolicy.engine.sources.line_reader import MAX_LINE_BYTES, physical_lines
from sellerpolicy.engine.sources.validate_rows import quote_ident, quote_literal

__all__ = [
    "ReportFile",
    "ReportReject",
    "column_alias",
    "drop_reports",
    "read_reports",
    "write_report_rejects",
]

_BOM = b"\xef\xbb\xbf"
_SCAN = 1 << 22
_HEADER_MAX = 1 << 20


@dataclass(frozen=True, slots=True)
class ReportFile:
    """One account's report file: where it is and the account (seller) it belongs to."""

    path: Path
    seller_id: str

    @property
    def shown(self) -> str:
        """How messages and rejects name the file."""
        return str(self.path)


@dataclass(frozen=True, slots=True, order=True)
class ReportReject:
    """A rejected report line: the file, its 1-based line, the column and the reason.

    ``reason`` starts with a stable code, as every reject does
    (``sources.rejects``), e.g. ``bad_timestamp: purchase-date 'soon' ...``.
    """

    file: str
    line: int
    column: str | None
    reason: str

    @property
    def code(self) -> str:
        """The code at the start of ``reason``."""
        return self.reason.split(":", 1)[0]

    def to_json(self) -> str:
        """One JSON object with ``file``, ``line``, ``column`` and ``reason``."""
        record = {"file": self.file, "line": self.line, "column": self.column}
        return json.dumps({**record, "reason": self.reason}, ensure_ascii=False)


def write_report_rejects(rejects: Sequence[ReportReject], path: Path) -> int:
    """Write one JSON object per reject, sorted, under a temporary name renamed when
    complete; return how many were written."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as fh:
            for reject in sorted(rejects):
                fh.write(reject.to_json() + "\n")
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return len(rejects)


def column_alias(index: int) -> str:
    """The name of the ``index``-th read column in the lines table (``c0``, ``c1``...)."""
    return f"c{index}"


@dataclass(frozen=True, slots=True)
class _Scan:
    """What one pass over a file's bytes found."""

    header: tuple[str, ...]
    newline: str  # "\n" or "\r\n"
    lines: int  # physical lines after the header (blank ones included)
    plain: bool  # one kind of line break throughout: DuckDB may read it


def _scan(report: ReportFile, mapping: FlatFileMapping) -> _Scan:
    """The header (checked against the mapping) and the shape of the file's lines.

    Blank lines are not looked for here: DuckDB leaves them out, so a file with
    one reads fewer rows than it has lines and is then read line by line.
    """
    try:
        with report.path.open("rb") as fh:
            first = fh.readline(_HEADER_MAX)
            lf, crlf, stray_cr, ends_open = _count_breaks(fh, first)
    except OSError as exc:
        raise SourceError(report.shown, f"cannot be read: {exc.strerror or exc}") from None
    header = _header(first, report, mapping)
    newline = "\r\n" if crlf and crlf == lf else "\n"
    plain = not stray_cr and (crlf == 0 or newline == "\r\n")
    return _Scan(header, newline, lf - 1 + ends_open, plain)


def _count_breaks(fh: BinaryIO, first: bytes) -> tuple[int, int, bool, int]:
    """Line feeds, CR LF pairs, whether a CR stands anywhere but before a LF, and 1
    when the last line has no line break (CRs are counted only in blocks holding one)."""
    lf, cr, crlf = first.count(b"\n"), first.count(b"\r"), first.count(b"\r\n")
    previous = first[-1:]
    while chunk := fh.read(_SCAN):
        lf += chunk.count(b"\n")
        if previous == b"\r" or b"\r" in chunk:
            cr += chunk.count(b"\r")
            crlf += chunk.count(b"\r\n") + (previous == b"\r" and chunk[:1] == b"\n")
        previous = chunk[-1:]
    ends_open = int(bool(previous) and previous != b"\n")
    return lf, crlf, cr != crlf, ends_open


def _header(first: bytes, report: ReportFile, mapping: FlatFileMapping) -> tuple[str, ...]:
    line = first.removeprefix(_BOM).rstrip(b"\r\n")
    if not line:
        raise SourceError(report.shown, "is empty: a report starts with its header line")
    try:
        names = tuple(line.decode("utf-8").split(mapping.delimiter))
    except UnicodeDecodeError:
        raise SourceError(report.shown, "the header line is not UTF-8 text") from None
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SourceError(report.shown, f"the header names column {name!r} twice")
        if name not in mapping.columns:
            raise SourceError(
                report.shown,
                f"unknown column {name!r}: not a column of {mapping.info.report_type} "
                f"(mapping {mapping.info.id} {mapping.info.version}); is this that report?",
            )
    missing = [c for c in mapping.used_columns if c not in names]
    if missing:
        raise SourceError(
            report.shown, f"missing column(s) {', '.join(map(repr, missing))} that the import reads"
        )
    return names


def read_reports(
    con: duckdb.DuckDBPyConnection,
    reports: Sequence[ReportFile],
    mapping: FlatFileMapping,
    name: str,
) -> list[ReportReject]:
    """Create the view ``name`` (``__file``, ``__line``, one text column per column the
    mapping reads) over ``reports``; return the malformed lines' rejects.

    The rows are kept in tables named ``<name>_...``: drop them all with
    :func:`drop_reports`.
    """
    aliases = [column_alias(i) for i in range(len(mapping.used_columns))]
    columns = ", ".join(f"{a} VARCHAR" for a in aliases)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name}_slow (__file INTEGER, __line BIGINT, {columns})"
    )
    scans = [_scan(r, mapping) for r in reports]
    groups: dict[tuple[tuple[str, ...], str], list[int]] = {}
    for index, scan in enumerate(scans):
        if scan.plain and scan.lines > 0:
            groups.setdefault((scan.header, scan.newline), []).append(index)
    slow = [i for i, s in enumerate(scans) if not s.plain and s.lines > 0]
    parts = [f"SELECT * FROM {name}_slow"]
    for k, ((header, newline), indexes) in enumerate(groups.items()):
        group = _FastGroup(f"{name}_fast{k}", header, newline, indexes)
        refused = _read_fast(con, reports, scans, group, mapping)
        slow += refused
        if len(refused) < len(indexes):
            # The files' rows are in file order: a row's line is its distance from its
            # file's first row, plus the header line.
            parts.append(
                f"SELECT x.__file, f.rowid - x.__first + 2 AS __line, {', '.join(aliases)} "
                f"FROM {group.table} f JOIN {group.table}_index x USING (__name)"
            )
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {' UNION ALL '.join(parts)}")
    rejects: list[ReportReject] = []
    for index in sorted(slow):
        rejects += _read_slow(con, reports[index], index, scans[index].header, mapping, name)
    return rejects


def drop_reports(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the view ``name`` of :func:`read_reports` and the tables holding its rows."""
    con.execute(f"DROP VIEW IF EXISTS {name}")
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, ?)",
        [f"{name}_"],
    ).fetchall()
    for (table,) in tables:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(str(table))}")


@dataclass(frozen=True, slots=True)
class _FastGroup:
    """Files with the same header and line break, read by DuckDB together."""

    table: str
    header: tuple[str, ...]
    newline: str
    indexes: Sequence[int]


def _read_fast(
    con: duckdb.DuckDBPyConnection,
    reports: Sequence[ReportFile],
    scans: Sequence[_Scan],
    group: _FastGroup,
    mapping: FlatFileMapping,
) -> list[int]:
    """Read a group of plain files with DuckDB into ``group.table`` and its index
    (``__name``, ``__file``, ``__first`` row); return the indexes of the files to
    read line by line instead (their rows are left out of the index)."""
    spec = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in group.header) + "}"
    names = {str(reports[i].path): i for i in group.indexes}
    paths = "[" + ", ".join(quote_literal(n) for n in names) + "]"
    newline = quote_literal(group.newline.encode("unicode_escape").decode())
    picked = ", ".join(
        f"{quote_ident(c)} AS {column_alias(k)}" for k, c in enumerate(mapping.used_columns)
    )
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {group.table} AS SELECT filename AS __name, {picked} "
            f"FROM read_csv({paths}, delim={quote_literal(mapping.delimiter)}, quote='', "
            f"escape='', header=true, columns={spec}, auto_detect=false, strict_mode=true, "
            f"new_line={newline}, store_rejects=true, rejects_table='__rep_errors', "
            f"rejects_scan='__rep_scans', filename=true, max_line_size={MAX_LINE_BYTES})"
        )
    except duckdb.Error:
        return list(group.indexes)  # a file DuckDB cannot read at all: each line by line
    finally:
        con.execute("SET preserve_insertion_order = false")
    try:
        refused = {
            str(n)
            for (n,) in con.execute(
                "SELECT DISTINCT s.file_path FROM __rep_errors e JOIN __rep_scans s "
                "USING (scan_id, file_id)"
            ).fetchall()
        }
    finally:
        con.execute("DROP TABLE IF EXISTS __rep_errors")
        con.execute("DROP TABLE IF EXISTS __rep_scans")
    found = con.execute(
        f"SELECT __name, count(*), min(rowid) FROM {group.table} GROUP BY __name"
    ).fetchall()
    counts = {str(n): (int(c), int(first)) for n, c, first in found}
    slow = [
        i for n, i in names.items() if n in refused or counts.get(n, (0, 0))[0] != scans[i].lines
    ]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {group.table}_index "
        "(__name VARCHAR, __file INTEGER, __first BIGINT)"
    )
    rows = [[n, i, counts[n][1]] for n, i in names.items() if i not in slow and n in counts]
    if rows:
        con.executemany(f"INSERT INTO {group.table}_index VALUES (?, ?, ?)", rows)
    return slow


def _read_slow(  # noqa: PLR0917 - one file and where it goes
    con: duckdb.DuckDBPyConnection,
    report: ReportFile,
    index: int,
    header: tuple[str, ...],
    mapping: FlatFileMapping,
    table: str,
) -> list[ReportReject]:
    """Read one file line by line; malformed lines become rejects."""
    positions = [header.index(c) for c in mapping.used_columns]
    rejects: list[ReportReject] = []
    for batch in _slow_batches(report, header, positions, mapping.delimiter, rejects):
        arrays = [pa.array([index] * len(batch[0]), pa.int32()), pa.array(batch[0], pa.int64())]
        arrays += [pa.array(values, pa.string()) for values in batch[1:]]
        names = ["__file", "__line", *(column_alias(k) for k in range(len(positions)))]
        con.register("__rep_batch", pa.table(arrays, names=names))
        try:
            con.execute(f"INSERT INTO {table}_slow SELECT * FROM __rep_batch")
        finally:
            con.unregister("__rep_batch")
    return rejects


def _slow_batches(
    report: ReportFile,
    header: tuple[str, ...],
    positions: Sequence[int],
    delimiter: str,
    rejects: list[ReportReject],
) -> Iterator[list[list[object]]]:
    """Columns (line numbers first) of the good lines, 100,000 lines at a time."""
    width = len(header)
    batch: list[list[object]] = [[] for _ in range(len(positions) + 1)]
    with report.path.open("rb") as fh:
        for number, raw in enumerate(physical_lines(fh, MAX_LINE_BYTES), start=1):
            if number == 1:
                continue
            if raw is None:
                reason = f"line_too_long: the line is longer than {MAX_LINE_BYTES:,} bytes"
                rejects.append(ReportReject(report.shown, number, None, reason))
                continue
            line = raw.removesuffix(b"\r")
            if not line:
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                reason = "bad_encoding: the line is not UTF-8 text"
                rejects.append(ReportReject(report.shown, number, None, reason))
                continue
            fields = text.split(delimiter)
            if len(fields) != width:
                reason = f"field_count: {len(fields)} fields, the header has {width}"
                rejects.append(ReportReject(report.shown, number, None, reason))
                continue
            batch[0].append(number)
            for k, position in enumerate(positions, start=1):
                batch[k].append(fields[position] or None)
            if len(batch[0]) >= 100_000:
                yield batch
                batch = [[] for _ in range(len(positions) + 1)]
    if batch[0]:
        yield batch
