"""Many small report files read as one: their lines in one buffer, parsed once by Arrow.

An account's report is small and an import reads hundreds of them. Each
file's header line is read and checked, and its other lines read straight
into their place in one buffer (no per-file copy) and counted (a line break
ends each); the buffer is parsed by Arrow in one go (strictly: no quoting,
every line the header's number of fields), each file's count of lines
giving its lines their file and number. The files are read in batches of
at most ``limit`` bytes, every batch into the same buffer (Arrow copies
what it parses out of it): the memory touched is one batch's, whatever the
number of files.

A file takes the careful path of ``report_files`` (line breaks counted, any
line that is no row a reject) when anything is unusual: it is empty or
large, has a byte-order mark, a carriage return or no final line break, or a
header unlike the first file's of its buffer; and every file of a buffer does
when Arrow refuses a line (a blank line, a wrong number of fields, bytes that
are not UTF-8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv

__all__ = ["parse_text_columns", "read_bulk"]

_BOM = b"\xef\xbb\xbf"


def read_bulk(  # noqa: PLR0917 - the careful list is where the files left go
    paths: Sequence[Path],
    used: Sequence[str],
    delimiter: str,
    header_of: Callable[[int, bytes], tuple[str, ...]],
    limit: int,
    careful: list[int],
) -> Iterator[pa.Table]:
    """The lines of the files read together (``__file``, ``__line``, the ``used``
    columns named ``c0``, ``c1``..., in file order), one table per batch as it is
    read; the indexes of the files left to the careful path are added to ``careful``
    (in order once the tables are all read).

    ``header_of(index, first_line)`` checks a file's first line and returns its
    column names (raising as the careful path does); at most ``limit`` bytes are
    held at a time.
    """
    batches: list[list[tuple[int, int]]] = [[]]  # (file index, size)
    total = 0
    for index, path in enumerate(paths):
        try:
            size = path.stat().st_size
        except OSError:
            careful.append(index)
            continue
        if size == 0 or size > limit:
            careful.append(index)
            continue
        if total + size > limit:
            batches.append([])
            total = 0
        batches[-1].append((index, size))
        total += size
    # One buffer for every batch (Arrow copies the values it parses out of it), and one
    # to find a file's line breaks in.
    buffer = bytearray(max(sum(size for _, size in b) for b in batches))
    breaks = np.empty(max((size for b in batches for _, size in b), default=0), np.bool_)
    for batch in batches:
        parts: list[pa.Table] = []
        careful += _read_batch(batch, (buffer, breaks), paths, used, delimiter, header_of, parts)
        yield from parts
    careful.sort()


def _read_batch(  # noqa: PLR0917 - one private call site
    batch: Sequence[tuple[int, int]],
    buffers: tuple[bytearray, npt.NDArray[np.bool_]],
    paths: Sequence[Path],
    used: Sequence[str],
    delimiter: str,
    header_of: Callable[[int, bytes], tuple[str, ...]],
    parts: list[pa.Table],
) -> list[int]:
    """Read one batch of files into the buffer (``buffers``: it and one for a file's
    line breaks) and parse them into ``parts``; return the files left out."""
    if not batch:
        return []
    buffer, breaks = buffers
    view = memoryview(buffer)
    kept: list[int] = []  # file indexes
    counts: list[int] = []  # their lines after the header
    left: list[int] = []
    header: tuple[str, ...] | None = None
    offset = 0
    for index, size in batch:
        try:
            with paths[index].open("rb") as fh:
                first = fh.readline()
                body = size - len(first)
                read = fh.readinto(view[offset : offset + body])
        except OSError:
            left.append(index)
            continue
        end = offset + body
        if (
            read != body
            or not first.endswith(b"\n")
            or (body and buffer[end - 1] != ord("\n"))
            or first.startswith(_BOM)
            or b"\r" in first
            or buffer.find(b"\r", offset, end) != -1
        ):
            left.append(index)
            continue
        names = header_of(index, first)
        if header is None:
            header = names
        if names != header:
            left.append(index)
            continue
        kept.append(index)
        found = np.equal(np.frombuffer(view[offset:end], np.uint8), 10, out=breaks[:body])
        counts.append(int(np.count_nonzero(found)))
        offset = end
    del view
    if not offset or header is None:  # no file, or only headers: no line
        return left
    data = memoryview(buffer)[:offset]  # a file left out was overwritten by the next one
    table = parse_text_columns(pa.BufferReader(pa.py_buffer(data)), header, used, delimiter)
    if table is None or table.num_rows != sum(counts):
        return sorted(left + kept)
    parts.append(_numbered(table, kept, counts, used))
    return left


def parse_text_columns(
    source: object,
    header: Sequence[str],
    used: Sequence[str],
    delimiter: str,
    skip_rows: int = 0,
) -> pa.Table | None:
    """A report's lines from ``source`` (a path or an Arrow buffer reader) parsed by
    Arrow, unquoted: the ``used`` columns as text (empty: null); None when refused."""
    try:
        return pa_csv.read_csv(
            source,
            read_options=pa_csv.ReadOptions(
                use_threads=True,
                block_size=1 << 22,
                skip_rows=skip_rows,
                column_names=list(header),
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pa_csv.ConvertOptions(
                include_columns=list(used),
                column_types=dict.fromkeys(used, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                check_utf8=True,
            ),
        )
    except (pa.ArrowInvalid, OSError):
        return None


def _numbered(
    table: pa.Table, files: Sequence[int], counts: Sequence[int], used: Sequence[str]
) -> pa.Table:
    """The lines with their file and line number (the header is line 1), from the
    files' counts of lines."""
    lines = np.asarray(counts, dtype=np.int64)
    file_of = np.repeat(np.asarray(files, dtype=np.int32), lines)
    first = np.repeat(np.cumsum(lines) - lines, lines)
    line_of = np.arange(table.num_rows, dtype=np.int64) - first + 2
    columns = [pa.array(file_of), pa.array(line_of), *(table.column(name) for name in used)]
    names = ["__file", "__line", *(f"c{i}" for i in range(len(used)))]
    return pa.Table.from_arrays(columns, names=names)
