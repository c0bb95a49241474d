"""The lines of a text table (CSV, JSON Lines): its header, and its malformed lines.

DuckDB reads a well-formed CSV or JSON Lines file directly (``sources.inputs``),
the CSV one with the column names of its header row, read here
(:func:`read_header`). A malformed line makes DuckDB stop: a CSV record with
more or fewer fields than the header, bytes that are not UTF-8, a quote that is
never closed, a JSON line that is not an object. The file is then *mended*
(:func:`mend_csv`, :func:`~sellerpolicy.engine.sources.json_lines.mend_jsonl`):
copied into a private temporary folder, one row per row of the file (blank
lines left out, as DuckDB leaves them out), each malformed line replaced by a
placeholder row carrying its offending column and reason in the columns
:data:`LINE_COLUMNS`; the copy is read instead. So a malformed line is a reject
with the number of its row, every other row keeps its number, and DuckDB
still parses the values of the good rows from their own bytes (a good CSV
record and a good JSON line are copied as they are).

The structure is decided by Python's ``csv`` module (records, fields) and
``json`` module (objects), with DuckDB's leniencies copied where they decide
whether a line is good: empty fields after the last column, spaces around a
quoted field. A CSV line that DuckDB still refuses in the copy is named by
DuckDB (its rejects table numbers the rows of the copy exactly) and becomes a
placeholder in a second copy (``forced``).

Reasons follow ``sources.rejects`` (a code, a colon, a sentence) and never
repeat the content of a line: a header that is not one, or a file that is
not JSON lines at all, raises :class:`~sellerpolicy.engine.errors.SourceError`
naming only the file.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sellerpolicy.engine.errors import SourceError
from sellerpolicy.engine.sources.line_reader import MAX_LINE_BYTES, End, Lines

__all__ = [
    "BAD_LINE",
    "BOM",
    "LINE_COLUMN",
    "LINE_COLUMNS",
    "LINE_PROBLEM",
    "Header",
    "field_count",
    "mend_csv",
    "read_header",
]

LINE_COLUMN = "__sp_line_column"
"""Column of a mended copy: the offending column of a malformed line (NULL: none)."""
LINE_PROBLEM = "__sp_line_problem"
"""Column of a mended copy: the reason of a malformed line (NULL: a good row)."""
LINE_COLUMNS = (LINE_COLUMN, LINE_PROBLEM)

"""DuckDB's longest CSV record (``max_line_size``); a longer one is a reject."""
MAX_HEADER_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"
_EMPTY = "is empty: a CSV table starts with a header row naming its columns"
BAD_LINE = "bad_line: the row is not valid CSV"
"""The reason of a CSV row that nothing more precise describes."""
_NOT_CSV = "is not a CSV table: its first line is not a header row of comma-separated column names"
_ENCODING_ERROR = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class Header:
    """The header row of a CSV file: its names, where the data starts, its line break."""

    names: tuple[str, ...]
    end: int  # offset of the first byte after the header line
    newline: bytes  # b"\n" (also for "\r\n") or b"\r" (old Macintosh files)


def read_header(path: Path, shown: str) -> Header:
    """The header row of the CSV file at ``path`` (errors name it ``shown``).

    Raises :class:`SourceError` when the file is empty or its first line is not a
    header (not UTF-8, a control character, a quote never closed, longer than
    1 MiB): never repeating what the line holds.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(MAX_HEADER_BYTES + 2)
    except OSError as exc:
        raise SourceError(shown, f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    if not head:
        raise SourceError(shown, _EMPTY)
    cut = min((i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0), default=-1)
    if cut < 0:
        if len(head) > MAX_HEADER_BYTES:
            raise SourceError(shown, _NOT_CSV)
        cut = end = len(head)
        newline = b"\n"
    elif head[cut : cut + 2] == b"\r\n":
        end, newline = cut + 2, b"\n"
    else:
        end, newline = cut + 1, head[cut : cut + 1]
    line = head[:cut].removeprefix(BOM)
    try:
        text = line.decode("utf-8")
        names = next(csv.reader([text], strict=True))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        raise SourceError(shown, _NOT_CSV) from None
    if any(c < " " or c == "\x7f" for c in text):
        raise SourceError(shown, _NOT_CSV)
    return Header(tuple(names), end, newline)


def mend_csv(
    path: Path, shown: str, out: Path, forced: Mapping[int, tuple[str | None, str]] | None = None
) -> None:
    """Copy the CSV file at ``path`` to ``out``, its malformed records replaced.

    The copy starts with the columns :data:`LINE_COLUMNS`, then those of the
    header. A good record is copied byte for byte behind two empty fields;
    a malformed one (``forced`` adds rows by number: ``(column, reason)``) is
    a row of empty fields behind its column and reason.
    """
    header = read_header(path, shown)
    names = header.names
    forced = forced or {}
    _raise_field_limit()
    try:
        with path.open("rb") as raw, out.open("wb") as sink:
            sink.write(_csv_line([*LINE_COLUMNS, *names]))
            empty = [""] * len(names)
            raw.seek(header.end)
            row = 0
            for data, count, found, why in _records(Lines(raw, header.newline), names):
                if data is not None and not any(row < r <= row + count for r in forced):
                    # Plain rows are joined by line feeds (a good record may hold one).
                    sink.write(b",," + (data.replace(b"\n", b"\n,,") if count > 1 else data))
                    sink.write(b"\n")
                    row += count
                    continue
                for body in data.split(b"\n") if data is not None and count > 1 else [data]:
                    row += 1
                    column, reason = forced.get(row, (found, why))
                    if body is not None and row not in forced:
                        sink.write(b",," + body + b"\n")
                    else:
                        sink.write(_csv_line([column or "", reason or BAD_LINE, *empty]))
    except OSError as exc:
        raise SourceError(shown, f"cannot be read: {exc.strerror or type(exc).__name__}") from None


def _csv_line(fields: Sequence[str]) -> bytes:
    """One CSV record (RFC 4180 quoting), ending in a line feed, as UTF-8."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(fields)
    return text.getvalue().encode("utf-8")


def _raise_field_limit() -> None:
    """Let ``csv`` read a field as long as DuckDB's longest record (never lowered)."""
    if csv.field_size_limit() < MAX_LINE_BYTES:
        csv.field_size_limit(MAX_LINE_BYTES)


class _TooLongError(Exception):
    """A record ran past :data:`MAX_LINE_BYTES` (a line that long, or a quote never closed)."""


class _Feed:
    """The lines ``csv.reader`` reads, each decoded with its line break; the current
    record's lines are kept (:attr:`taken`) to be read again (:attr:`replay`)."""

    __slots__ = ("_lines", "_newline", "bad_encoding", "replay", "size", "taken")

    def __init__(self, lines: Lines, newline: bytes) -> None:
        self._lines = lines
        self._newline = newline
        self.replay: deque[bytes | None] = deque()
        self.taken: list[bytes | None] = []
        self.size = 0
        self.bad_encoding = False

    def start(self, line: bytes | None) -> None:
        """A new record begins with ``line``."""
        self.replay.appendleft(line)
        self.taken = []
        self.size = 0
        self.bad_encoding = False

    def next_line(self) -> bytes | End | None:
        """The next line to read: one to read again first, else the file's next one."""
        return self.replay.popleft() if self.replay else self._lines.line()

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        line = self.next_line()
        if isinstance(line, End):
            raise StopIteration
        self.taken.append(line)
        if line is None:
            raise _TooLongError
        self.size += len(line) + 1
        if self.size > MAX_LINE_BYTES + 2:
            raise _TooLongError
        line += self._newline
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_encoding = True
            return line.decode("utf-8", "surrogateescape")


Rows = tuple[bytes | None, int, str | None, str | None]
"""Good rows (their bytes joined by line feeds, and how many), or one malformed row
(``None``, 1, its column and reason)."""


def _records(lines: Lines, names: Sequence[str]) -> Iterator[Rows]:
    """Every record but blank lines, in file order: good, or malformed with its reason.

    A block of lines that are plain rows (:func:`_plain_rows`: no quote, as many
    commas as the header...) is passed on whole: the usual case, and the quick
    one. Otherwise, line by line: a line without a quote is its own record; a line
    with one is read by ``csv`` with the lines its quotes take. A record that
    ``csv`` cannot read and that spans several lines (a quote opened and never
    properly closed) is malformed in its first line only: reading starts again at
    its second line, so one stray quote costs one row.
    """
    newline = lines.newline
    feed = _Feed(lines, newline)
    width = len(names)
    other = b"\r" if newline == b"\n" else b"\n"
    reader = csv.reader(feed, strict=True, skipinitialspace=True)
    while True:
        if not feed.replay and not lines.queued:
            block = lines.block()
            if isinstance(block, End):
                return
            plain = _plain_rows(block, width, newline)
            if plain is not None:
                yield plain[0], plain[1], None, None
                continue
            lines.queue(block)
        line = feed.next_line()
        if isinstance(line, End):
            return
        if line is not None and b'"' not in line:
            body = line.removesuffix(b"\r")
            if not body:
                continue
            if other not in body and (body.isascii() or _is_utf8(body)):
                found = body.count(b",") + 1
                # DuckDB ignores empty fields after the last column.
                if found == width or (found > width and body.endswith(b"," * (found - width))):
                    yield body, 1, None, None
                else:
                    yield None, 1, None, field_count(found, width)
                continue
        feed.start(line)
        try:
            fields = next(reader)
        except (csv.Error, _TooLongError):
            taken = feed.taken
            feed.replay.extendleft(reversed(taken[1:]))
            reader = csv.reader(feed, strict=True, skipinitialspace=True)
            yield _unreadable(taken[0], names)
            continue
        if not fields:
            continue
        if len(fields) > width and not any(fields[width:]):
            fields = fields[:width]
        if feed.bad_encoding:
            yield _bad_encoding(fields, names)
        elif len(fields) != width:
            yield None, 1, None, field_count(len(fields), width)
        else:
            record = newline.join(line or b"" for line in feed.taken)
            yield record.removesuffix(b"\r"), 1, None, None


def _plain_rows(block: bytes | None, width: int, newline: bytes) -> tuple[bytes, int] | None:
    """``block`` as good rows joined by line feeds, and how many, when every line of it
    is one: no stray line break, no blank line, UTF-8, and without a quote as many
    commas as the header in all (DuckDB numbers a line of the copy that this lets
    through wrongly, and it is made a placeholder then), with one as many fields
    as the header each, quoted simply (:func:`_quoted_rows`); else None."""
    if not block or len(block) > MAX_LINE_BYTES:
        return None
    if newline == b"\r":
        if b"\n" in block:
            return None
        block = block.replace(b"\r", b"\n")
    elif b"\r" in block:
        block = block.replace(b"\r\n", b"\n").removesuffix(b"\r")
        if b"\r" in block:
            return None
    if block.startswith(b"\n") or block.endswith(b"\n") or b"\n\n" in block:
        return None
    if not (block.isascii() or _is_utf8(block)):
        return None
    if b'"' in block:
        if not _quoted_rows(width).fullmatch(block):
            return None
    elif block.count(b",") != (width - 1) * (block.count(b"\n") + 1):
        return None
    return block, block.count(b"\n") + 1


@functools.cache
def _quoted_rows(width: int) -> re.Pattern[bytes]:
    """Lines of ``width`` fields each, a field plain or quoted (no quote, comma or line
    break in a plain one; no quote or line break in a quoted one)."""
    field = rb'(?:"[^"\r\n]*"|[^",\r\n]*)'
    line = field + rb"(?:," + field + rb"){%d}" % (width - 1)
    return re.compile(line + rb"(?:\n" + line + rb")*")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def field_count(found: int, width: int) -> str:
    """The reason of a row with ``found`` fields under a header of ``width``."""
    fields = "field" if found == 1 else "fields"
    return f"field_count: the row has {found} {fields}, the header has {width}"


def _bad_encoding(fields: Sequence[str], names: Sequence[str]) -> Rows:
    for index, field in enumerate(fields[: len(names)]):
        if _ENCODING_ERROR.search(field):
            return None, 1, names[index], f"bad_encoding: {names[index]} is not valid UTF-8"
    return None, 1, None, "bad_encoding: the row is not valid UTF-8"


def _unreadable(line: bytes | None, names: Sequence[str]) -> Rows:
    """The first line of a record ``csv`` could not read: what is wrong with it.

    Read by DuckDB's rules, which ``csv`` is stricter than in one place: spaces
    between a closing quote and the comma are allowed. A line that is good by
    these rules (and has as many fields as the header) is good.
    """
    if line is None:
        return None, 1, None, f"line_too_long: the row is longer than {MAX_LINE_BYTES:,} bytes"
    text = line.decode("utf-8", "surrogateescape")
    found, field = _scan(text.removesuffix("\r"))
    column = names[field] if field < len(names) else None
    who = column or "the row"
    if found == "unterminated":
        return None, 1, column, f"bad_quote: {who} has an unterminated quote"
    if found == "after":
        return None, 1, column, f"bad_quote: {who} has text after its closing quote"
    if found == "break":
        return None, 1, column, f"bad_quote: {who} has a line break outside quotes"
    if _ENCODING_ERROR.search(text):
        return None, 1, None, "bad_encoding: the row is not valid UTF-8"
    if field + 1 != len(names):
        return None, 1, None, field_count(field + 1, len(names))
    return line.removesuffix(b"\r"), 1, None, None


def _scan(text: str) -> tuple[str | None, int]:
    """Read one CSV line as DuckDB does: ``(problem, field)``, the problem
    (``unterminated``, ``after``, ``break`` or None) and the index of the field it is
    in (without a problem: of the last field)."""
    field, i, n = 0, 0, len(text)
    while True:
        if text.startswith(' "', i):
            i += 1
        if i < n and text[i] == '"':
            i += 1
            while True:
                close = text.find('"', i)
                if close < 0:
                    return "unterminated", field
                if text.startswith('""', close):
                    i = close + 2
                    continue
                i = close + 1
                break
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] != ",":
                return "after", field
        else:
            comma = text.find(",", i)
            stop = n if comma < 0 else comma
            if "\r" in text[i:stop] or "\n" in text[i:stop]:
                return "break", field
            i = stop
        if i >= n:
            return None, field
        i += 1  # the comma
        field += 1
