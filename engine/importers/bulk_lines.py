"""Many small report files read as one: their bytes in one buffer, parsed once by Arrow.

An account's report is small and an import reads hundreds of them. Each file
is read straight into its place in one buffer (no per-file copy, no
per-file count of line breaks), header included, and the buffer parsed by
Arrow in one go (strictly: no quoting, every line the header's number of
fields). The headers are then the rows whose every read column holds its own
name: one per file, in file order, they give each line its file and number.
The files are read in batches of at most ``limit`` bytes, every batch into
the same buffer (Arrow copies what it parses out of it): the memory touched
is one batch's, whatever the number of files.

A file takes the careful path of ``report_files`` (line breaks counted, any
line that is no row a reject) when anything is unusual: it is empty or
large, has a byte-order mark, a carriage return or no final line break, or a
header unlike the first file's of its buffer; and every file of a buffer does
when Arrow refuses a line (a blank line, a wrong number of fields, bytes that
are not UTF-8), or when a line repeats the header's names (it could not be
told from a header).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
    # One buffer for every batch: Arrow copies the values it parses out of it.
    buffer = bytearray(max(sum(size for _, size in b) for b in batches))
    for batch in batches:
        parts: list[pa.Table] = []
        careful += _read_batch(batch, buffer, paths, used, delimiter, header_of, parts)
        yield from parts
    careful.sort()


def _read_batch(  # noqa: PLR0917 - one private call site
    batch: Sequence[tuple[int, int]],
    buffer: bytearray,
    paths: Sequence[Path],
    used: Sequence[str],
    delimiter: str,
    header_of: Callable[[int, bytes], tuple[str, ...]],
    parts: list[pa.Table],
) -> list[int]:
    """Read one batch of files into ``buffer`` and parse them into ``parts``; return the
    files left out."""
    if not batch:
        return []
    view = memoryview(buffer)
    kept: list[int] = []  # file indexes
    left: list[int] = []
    header: tuple[str, ...] | None = None
    offset = 0
    for index, size in batch:
        try:
            with paths[index].open("rb") as fh:
                read = fh.readinto(view[offset : offset + size])
        except OSError:
            left.append(index)
            continue
        end = offset + size
        first = bytes(view[offset : (buffer.find(b"\n", offset, end) + 1) or end])
        if (
            read != size
            or buffer[end - 1] != ord("\n")
            or first.startswith(_BOM)
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
        offset = end
    del view
    if not kept or header is None:
        return left
    data = memoryview(buffer)[:offset]  # a file left out was overwritten by the next one
    table = parse_text_columns(pa.BufferReader(pa.py_buffer(data)), header, used, delimiter)
    lines = None if table is None else _numbered(table, kept, used)
    if lines is None:
        return sorted(left + kept)
    parts.append(lines)
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


def _numbered(table: pa.Table, files: Sequence[int], used: Sequence[str]) -> pa.Table | None:
    """The data lines with their file and line number, found from the header rows;
    None when the header rows are not one per file."""
    rows = table.num_rows
    named = pc.fill_null(pc.equal(table.column(used[0]), used[0]), False)
    starts = np.flatnonzero(np.asarray(named.to_numpy(zero_copy_only=False)))
    if len(used) > 1 and len(starts):  # of the lines naming the first column, those naming all
        others = table.select(list(used[1:])).take(pa.array(starts))
        every = np.ones(len(starts), dtype=np.bool_)
        for name, column in zip(used[1:], others.columns, strict=True):
            found = pc.fill_null(pc.equal(column, name), False)
            every &= np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.bool_)
        starts = starts[every]
    if len(starts) != len(files) or starts[0] != 0:
        return None
    mask = np.zeros(rows, dtype=np.bool_)
    mask[starts] = True
    counts = np.diff(np.append(starts, rows))
    file_of = np.repeat(np.asarray(files, dtype=np.int32), counts)
    line_of = np.arange(rows, dtype=np.int64) - np.repeat(starts, counts) + 1
    keep = pa.array(~mask)
    columns = [
        pa.array(file_of).filter(keep),
        pa.array(line_of).filter(keep),
        *(table.column(name).filter(keep) for name in used),
    ]
    names = ["__file", "__line", *(f"c{i}" for i in range(len(used)))]
    return pa.Table.from_arrays(columns, names=names)
