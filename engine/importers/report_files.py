"""Tab-separated report files read, every line numbered, bad lines rejected.

:func:`read_reports` reads the report files of one format (each file one
account's report, its header naming the columns) into one Arrow table,
registered in DuckDB under a name: ``__file`` (the file's index), ``__line``
(its 1-based line, the header being line 1) and the columns the mapping reads,
as text (an empty value is null).

Each file's header is checked first (:class:`~sellerpolicy.engine.errors.SourceError`,
naming the file, for a column the mapping does not know or a column it needs
that is missing). Then a file is read one of two ways:

* the fast way, when one pass over its bytes shows one kind of line break
  throughout: Arrow's CSV reader parses it strictly (no quoting, no blank
  line, the header's number of fields on every line, UTF-8 in the columns
  read), reading only the columns needed; a file it refuses, or whose row
  count is not its line count, is read the slow way;
* the slow way: line by line in Python (lines bounded in length), each
  malformed line a :class:`ReportReject` (``field_count``, ``bad_encoding``
  naming the column, ``line_too_long``), blank lines skipped, and every other
  line keeping its number.

Quoting is not part of these formats: a value is everything between two tabs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.formats.flat import FlatFileMapping
from sellerpolicy.engine.importers.bulk_lines import parse_text_columns, read_bulk
from sellerpolicy.engine.sources.line_reader import MAX_LINE_BYTES, physical_lines

__all__ = [
    "ReportFile",
    "ReportReject",
    "column_alias",
    "drop_reports",
    "read_reports",
    "report_lines",
    "report_parts",
    "write_report_rejects",
]

_BOM = b"\xef\xbb\xbf"
_GROUP_BYTES = 16 << 20  # plain files of one header are parsed together up to this size
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
    plain: bool  # one kind of line break throughout: Arrow may read it
    body: bytes | memoryview | None  # the lines after the header (a small plain file)

    def without_body(self) -> _Scan:
        """The same scan, its lines let go."""
        return _Scan(self.header, self.newline, self.lines, self.plain, None)


def _scan(report: ReportFile, mapping: FlatFileMapping) -> _Scan:
    """The header (checked against the mapping) and the shape of the file's lines;
    a small file is read whole, and its lines kept when plain.

    Blank lines are not looked for here: Arrow refuses them (a line of one
    field), and the file is then read line by line.
    """
    try:
        size = report.path.stat().st_size
        with report.path.open("rb") as fh:
            if size <= _GROUP_BYTES:
                data = fh.read()
                end = data.find(b"\n") + 1 or len(data)
                first = data[:end]
                lf, cr, crlf = data.count(b"\n"), 0, 0
                if b"\r" in data:  # one search; counted only in the files that have one
                    cr, crlf = data.count(b"\r"), data.count(b"\r\n")
                stray_cr, ends_open = cr != crlf, int(bool(data) and not data.endswith(b"\n"))
            else:
                first = fh.readline(_HEADER_MAX)
                lf, crlf, stray_cr, ends_open = _count_breaks(fh, first)
                data, end = None, None
    except OSError as exc:
        raise SourceError(report.shown, f"cannot be read: {exc.strerror or exc}") from None
    header = _header(first, report, mapping)
    newline = "\r\n" if crlf and crlf == lf else "\n"
    plain = not stray_cr and (crlf == 0 or newline == "\r\n")
    body: bytes | memoryview | None = None
    if plain and data is not None and end is not None:
        body = memoryview(data)[end:] if data.endswith(b"\n") else data[end:] + newline.encode()
    return _Scan(header, newline, lf - 1 + ends_open, plain, body)


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
    """Register ``name`` in ``con`` (``__file``, ``__line``, one text column per column
    the mapping reads, ``c0``, ``c1``...) holding the lines of ``reports``; return the
    malformed lines' rejects. :func:`drop_reports` unregisters it."""
    table, rejects = report_lines(reports, mapping)
    con.register(name, table)
    return rejects


def report_lines(
    reports: Sequence[ReportFile], mapping: FlatFileMapping
) -> tuple[pa.Table, list[ReportReject]]:
    """The lines of ``reports`` (``__file``, ``__line``, one text column per column the
    mapping reads, ``c0``, ``c1``...) and the malformed lines' rejects: the tables of
    :func:`report_parts` together."""
    rejects: list[ReportReject] = []
    return pa.concat_tables(report_parts(reports, mapping, rejects)), rejects


def report_parts(
    reports: Sequence[ReportFile], mapping: FlatFileMapping, rejects: list[ReportReject]
) -> Iterator[pa.Table]:
    """The lines of ``reports`` as :func:`report_lines` gives them, in tables of whole
    files (each in file and line order; at least one table, empty when there is no
    line), each yielded as soon as it is read; the malformed lines' rejects are added
    to ``rejects``.

    Small files are read together (``importers.bulk_lines``), up to
    :data:`_GROUP_BYTES` at a time; any other file, or one the bulk reading
    leaves out, is scanned first (its line breaks counted), and parsed with the
    small plain files of its header or line by line.
    """
    used = mapping.used_columns
    careful: list[int] = []
    known: dict[bytes, tuple[str, ...]] = {}  # header lines checked (most files share one)

    def header_of(index: int, first: bytes) -> tuple[str, ...]:
        names = known.get(first)
        if names is None:
            names = known[first] = _header(first, reports[index], mapping)
        return names

    read = 0
    for part in read_bulk(
        [r.path for r in reports], used, mapping.delimiter, header_of, _GROUP_BYTES, careful
    ):
        read += 1
        yield part
    parts: list[pa.Table] = []
    slow: list[int] = []
    scans: dict[int, _Scan] = {}
    group: list[int] = []

    def flush() -> None:
        if group:
            slow.extend(_read_group(group, reports, scans, mapping, parts))
            for index in group:
                scans[index] = scans[index].without_body()
            group.clear()

    size = 0
    for index in careful:
        scan = scans[index] = _scan(reports[index], mapping)
        if scan.lines == 0:
            continue
        if scan.body is None or (group and scans[group[0]].header != scan.header):
            flush()
        if scan.body is None:
            if scan.plain:
                group.append(index)
            else:
                slow.append(index)
            flush()
            continue
        if size + len(scan.body) > _GROUP_BYTES:
            flush()
        if not group:
            size = 0
        group.append(index)
        size += len(scan.body)
    flush()
    for index in sorted(slow):
        table = _read_slow(reports[index], scans[index].header, mapping, rejects)
        files = pa.array(np.full(table.num_rows, index, dtype=np.int32))
        parts.append(table.add_column(0, "__file", files))
    if not parts and not read:
        schema = pa.schema(
            [
                ("__file", pa.int32()),
                ("__line", pa.int64()),
                *((a, pa.string()) for a in _aliases(used)),
            ]
        )
        parts.append(schema.empty_table())
    yield from parts


def _read_group(
    group: Sequence[int],
    reports: Sequence[ReportFile],
    scans: Mapping[int, _Scan],
    mapping: FlatFileMapping,
    parts: list[pa.Table],
) -> list[int]:
    """Parse a group of plain files into ``parts``; return those to read line by line
    (when Arrow refuses the group, each file is tried alone)."""
    table = _read_fast(group, reports, scans, mapping)
    if table is not None:
        parts.append(table)
        return []
    if len(group) == 1:
        return list(group)
    slow = []
    for index in group:
        alone = _read_fast([index], reports, scans, mapping)
        if alone is None:
            slow.append(index)
        else:
            parts.append(alone)
    return slow


def drop_reports(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Unregister the lines of :func:`read_reports`."""
    con.unregister(name)


def _aliases(used: Sequence[str]) -> list[str]:
    return [column_alias(i) for i in range(len(used))]


def _read_fast(
    group: Sequence[int],
    reports: Sequence[ReportFile],
    scans: Mapping[int, _Scan],
    mapping: FlatFileMapping,
) -> pa.Table | None:
    """The lines of a group of plain files (``__file``, ``__line``, the used columns),
    parsed strictly by Arrow in one go; None when Arrow refuses a line or the rows are
    not the files' lines."""
    if not all(scans[i].plain for i in group):
        return None
    header = scans[group[0]].header
    used = list(mapping.used_columns)
    bodies = [scans[i].body for i in group]
    if any(b is None for b in bodies):  # one large file, read from its path
        source: object = reports[group[0]].path
        skip = 1
    else:
        source, skip = pa.BufferReader(b"".join(b for b in bodies if b is not None)), 0
    table = parse_text_columns(source, header, used, mapping.delimiter, skip)
    if table is None:
        return None
    counts = np.array([scans[i].lines for i in group], dtype=np.int64)
    if table.num_rows != int(counts.sum()):
        return None
    files = np.repeat(np.array(group, dtype=np.int32), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    lines = np.arange(table.num_rows, dtype=np.int64) - starts + 2
    columns = [pa.array(files), pa.array(lines), *table.select(used).columns]
    return pa.Table.from_arrays(columns, names=["__file", "__line", *_aliases(used)])


def _read_slow(
    report: ReportFile,
    header: tuple[str, ...],
    mapping: FlatFileMapping,
    rejects: list[ReportReject],
) -> pa.Table:
    """One file read line by line; malformed lines become rejects."""
    positions = [header.index(c) for c in mapping.used_columns]
    names = [*(header[p] for p in positions)]
    batches = [
        pa.table(
            [pa.array(batch[0], pa.int64()), *(pa.array(v, pa.string()) for v in batch[1:])],
            names=["__line", *_aliases(names)],
        )
        for batch in _slow_batches(report, header, positions, mapping.delimiter, rejects)
    ]
    if not batches:
        empty = [("__line", pa.int64()), *((a, pa.string()) for a in _aliases(names))]
        return pa.schema(empty).empty_table()
    return pa.concat_tables(batches)


def _slow_batches(
    report: ReportFile,
    header: tuple[str, ...],
    positions: Sequence[int],
    delimiter: str,
    rejects: list[ReportReject],
) -> Iterator[list[list[object]]]:
    """Columns (line numbers first) of the good lines, 100,000 lines at a time."""
    width = len(header)
    separator = delimiter.encode("utf-8")
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
            fields = line.split(separator)
            if len(fields) != width:
                reason = f"field_count: {len(fields)} fields, the header has {width}"
                rejects.append(ReportReject(report.shown, number, None, reason))
                continue
            try:
                values = [fields[p].decode("utf-8") or None for p in positions]
            except UnicodeDecodeError:
                bad = next(p for p in positions if not _utf8(fields[p]))
                reason = f"bad_encoding: {header[bad]} is not UTF-8 text"
                rejects.append(ReportReject(report.shown, number, header[bad], reason))
                continue
            batch[0].append(number)
            for k, value in enumerate(values, start=1):
                batch[k].append(value)
            if len(batch[0]) >= 100_000:
                yield batch
                batch = [[] for _ in range(len(positions) + 1)]
    if batch[0]:
        yield batch


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
