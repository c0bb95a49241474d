"""Metric facts files: what a pack needs from them, and reading them in chunks.

A facts file is what ``sellerpolicy metrics`` writes (JSONL, CSV or Parquet,
by extension). :func:`read_facts` checks the file's format and columns
against the pack before any work starts, then yields :class:`SellerFacts`
in chunks, raising :class:`~sellerpolicy.engine.errors.FactsError` naming the
file, row or field for anything that does not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sellerpolicy.engine.errors import FactsError
from sellerpolicy.engine.evaluation.backends.python import fact_name
from sellerpolicy.engine.evaluation.plans import leaves
from sellerpolicy.engine.metrics.checks import fact_problems, maybe_contradictory
from sellerpolicy.engine.metrics.facts import Number, SellerFacts, as_of_instant, as_of_label
from sellerpolicy.engine.sources.rejects import Reject
from sellerpolicy.rules.catalog import has_counts
from sellerpolicy.rules.model import CompiledPack, condition_metrics

__all__ = ["FACT_FORMATS", "read_facts", "read_facts_columns", "required_fields"]

FACT_FORMATS = {".jsonl": "JSON lines", ".csv": "CSV", ".parquet": "Parquet"}
_KEY_COLUMNS = ("seller_id", "as_of")
_R = TypeVar("_R")
_PARQUET_MAGIC = b"PAR1"


# ---------------------------------------------------------------------------
# Which facts a pack needs


def required_fields(pack: CompiledPack) -> tuple[str, ...]:
    """The facts fields the pack's rules and scores read, sorted.

    The value of every metric a ``value`` leaf or a score dimension reads, the
    numerator of every ``count`` leaf, and what a rule with ``min_orders``
    checks its volume on: the denominators of its rates, else ``orders``.
    """
    needed: set[str] = set()
    for rule in pack.rules:
        needed.update(fact_name(leaf) for leaf in leaves(rule.when))
        if rule.min_orders is not None:
            counted = [n for n in condition_metrics(rule.when) if has_counts(pack.metric(n).kind)]
            needed.update([f"{name}__den" for name in counted] or ["orders"])
    for score in pack.scores:
        needed.update(d.metric for d in score.dimensions)
    return tuple(sorted(needed))


# ---------------------------------------------------------------------------
# Facts files


def _sniff(path: Path) -> None:
    """Refuse a file whose content is not the format its extension names."""
    kind = FACT_FORMATS[path.suffix.lower()]
    with path.open("rb") as fh:
        head = fh.read(4096)
    if path.suffix.lower() == ".parquet":
        if not head.startswith(_PARQUET_MAGIC):
            raise FactsError(
                f"{path}: not a Parquet file (no Parquet header); is the extension right?"
            )
        return
    if head.startswith(_PARQUET_MAGIC) or b"\x00" in head:
        raise FactsError(f"{path}: binary content, not a {kind} file; is the extension right?")
    first = head.lstrip()[:1]
    if path.suffix.lower() == ".jsonl" and first not in (b"{", b""):
        raise FactsError(f"{path}: not a JSON lines file (each line must be a JSON object)")
    if path.suffix.lower() == ".csv" and first in (b"{", b"["):
        raise FactsError(f"{path}: looks like JSON, not CSV; is the extension right?")


def _relation(con: duckdb.DuckDBPyConnection, path: Path) -> duckdb.DuckDBPyRelation:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _guarded(path, lambda: con.read_parquet(str(path)))
    if suffix == ".csv":
        return _guarded(path, lambda: con.read_csv(str(path), header=True))
    return _guarded(path, lambda: con.read_json(str(path), format="newline_delimited"))


def _opened(
    path: Path, pack: CompiledPack
) -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyRelation]:
    """A connection and the file's relation, once its format and columns are checked.

    FactsError when the file is missing, is not what its extension says or
    lacks a field the pack reads (the connection is then closed).
    """
    if path.suffix.lower() not in FACT_FORMATS:
        raise FactsError(f"{path}: unknown facts format; use .jsonl, .csv or .parquet")
    if not path.is_file():
        raise FactsError(f"{path}: no such file")
    _sniff(path)
    con = duckdb.connect()
    try:
        relation = _relation(con, path)
        _check_columns(path, relation.columns, pack)
        _check_one_row_per_seller(path, relation)
    except BaseException:
        con.close()
        raise
    return con, relation


def _check_one_row_per_seller(path: Path, relation: duckdb.DuckDBPyRelation) -> None:
    """FactsError naming a seller with two rows: a file holds one row per seller.

    Two rows would give two decisions for one seller and ``as_of``, one of
    them silently overriding the other in the store's history.
    """
    twice = _guarded(
        path,
        lambda: (
            relation.aggregate("seller_id, count(*) AS n", "seller_id")
            .filter("n > 1")
            .order("seller_id")
            .limit(1)
            .fetchall()
        ),
    )
    if twice:
        seller, count = twice[0]
        raise FactsError(
            f"{path}: seller {seller!r} has {count} rows; a facts file holds one row per seller"
        )


def _check_columns(path: Path, columns: Sequence[str], pack: CompiledPack) -> None:
    missing = [c for c in (*_KEY_COLUMNS, *required_fields(pack)) if c not in columns]
    if missing:
        raise FactsError(
            f"{path}: missing field(s) {', '.join(missing)} that pack {pack.id!r} reads "
            f"(compute them with: sellerpolicy metrics --pack <the same pack>)"
        )


class ContradictoryFactsError(FactsError):
    """A facts row whose numbers contradict each other (:mod:`..metrics.checks`)."""

    def __init__(self, path: Path, row: int, field: str, message: str) -> None:
        self.reject = Reject("facts", row, field, f"contradictory_fact: {field} {message}")
        super().__init__(f"{path}: row {row}: {field} {message}")


def _row_as_of(value: object, path: Path, row: int) -> datetime:
    try:
        if isinstance(value, datetime | date):
            return as_of_instant(value)
        if isinstance(value, str):
            return as_of_instant(datetime.fromisoformat(value))
    except ValueError:
        pass
    raise FactsError(f"{path}: row {row}: as_of {value!r} is not a date or timestamp")


def _row_facts(  # noqa: PLR0917 - one row's context, two private callers
    record: Mapping[str, Any],
    names: Sequence[str],
    required: frozenset[str],
    path: Path,
    row: int,
    expected: str,
    pack: CompiledPack,
) -> SellerFacts:
    """One row as :class:`SellerFacts`; FactsError naming the row for anything unusable."""
    instant = _row_as_of(record["as_of"], path, row)
    if as_of_label(instant) != expected:
        raise FactsError(
            f"{path}: row {row}: facts are as of {as_of_label(instant)}, "
            f"not {expected} (recompute them for this --as-of)"
        )
    seller = record["seller_id"]
    if seller is None or seller == "":
        raise FactsError(f"{path}: row {row}: seller_id is missing")
    values = _values(record, names, required, path, row)
    problems = fact_problems(values, pack)
    if problems:
        first = problems[0]
        raise ContradictoryFactsError(path, row, first.field, first.message)
    return SellerFacts(seller_id=str(seller), as_of=instant, values=values)


def _values(
    record: Mapping[str, Any],
    names: Sequence[str],
    required: frozenset[str],
    path: Path,
    row: int,
) -> dict[str, Number | None]:
    """The numeric fields of a row; a required field that is not a number is an error."""
    out: dict[str, Number | None] = {}
    for name in names:
        value = record[name]
        if isinstance(value, Decimal):  # DuckDB reads some JSON numbers as DECIMAL
            value = int(value) if value == value.to_integral_value() else float(value)
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            out[name] = value
        elif name in required:
            raise FactsError(f"{path}: row {row}: field {name!r} is {value!r}, not a number")
    return out


def read_facts(
    path: Path,
    pack: CompiledPack,
    as_of: datetime,
    *,
    chunk_size: int,
    rejected: list[Reject] | None = None,
) -> Iterator[list[SellerFacts]]:
    """Read a metric facts file in chunks, checking it fits the pack and ``as_of``.

    The file's format and columns are checked before this returns; rows are
    read as the chunks are consumed. Raises :class:`FactsError` naming the
    file (and the row or fields) when the file is missing, is not what its
    extension says, lacks a field the pack reads, or holds facts for another
    ``as_of``. A row whose numbers contradict each other is the same error,
    or, given ``rejected``, a reject appended there (the row is left out).
    """
    con, relation = _opened(path, pack)
    return _facts_chunks(
        con,
        relation,
        path=path,
        pack=pack,
        expected=as_of_label(as_of),
        chunk_size=chunk_size,
        rejected=rejected,
    )


def read_facts_columns(
    path: Path,
    pack: CompiledPack,
    as_of: datetime,
    *,
    chunk_size: int,
    rejected: list[Reject] | None = None,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Read a metric facts file as Arrow batches, with the checks of :func:`read_facts`.

    The batches hold ``seller_id`` (string) and every numeric field (integer
    fields as ``int64``, others ``float64``; fields of other types can only
    be ignored, or refused where the pack reads them). The checks run over
    whole batches; the first offending row is then worded by the row-by-row
    reader, so every message is the one :func:`read_facts` gives. Returns the
    batches' schema (known before the first batch) and the lazy batches.
    """
    con, relation = _opened(path, pack)
    try:
        kinds = _guarded(path, lambda: relation.limit(0).to_arrow_table().schema)
    except BaseException:
        con.close()
        raise
    required = frozenset(required_fields(pack))
    numeric = [f for f in kinds if f.name not in _KEY_COLUMNS and _numeric(f.type)]
    schema = pa.schema(
        [pa.field("seller_id", pa.string())]
        + [pa.field(f.name, pa.int64() if _whole_type(f.type) else pa.float64()) for f in numeric]
    )
    refused = [f.name for f in kinds if f.name in required and not _numeric(f.type)]
    check = _BatchCheck(
        path, kinds.names, required, refused, as_of_label(as_of), pack=pack, rejected=rejected
    )

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for read in _guarded(path, lambda: relation.to_arrow_reader(chunk_size)):
                batch = check(read)
                yield pa.RecordBatch.from_arrays(
                    [batch.column(f.name).cast(f.type) for f in schema], schema=schema
                )
        finally:
            con.close()

    return schema, batches()


def _numeric(kind: pa.DataType) -> bool:
    """Whether a column's values are facts: integers and floats (as the row reader takes them)."""
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _whole_type(kind: pa.DataType) -> bool:
    """Integers, and decimals without a fraction (read as ``int64``)."""
    return bool(pa.types.is_integer(kind) or (pa.types.is_decimal(kind) and kind.scale == 0))


def _guarded(path: Path, read: Callable[[], _R]) -> _R:
    """``read()``, a DuckDB error becoming a FactsError naming the file."""
    try:
        return read()
    except duckdb.Error as exc:
        raise _read_error(path, exc) from exc


def _read_error(path: Path, exc: duckdb.Error) -> FactsError:
    """The FactsError for a DuckDB error reading ``path``: its first line, and the format."""
    first = str(exc).strip().splitlines()[0]
    return FactsError(f"{path}: cannot read it as {FACT_FORMATS[path.suffix.lower()]}: {first}")


class _BatchCheck:
    """The row checks of :func:`read_facts` over whole batches (rows counted across them)."""

    def __init__(
        self,
        path: Path,
        names: Sequence[str],
        required: frozenset[str],
        refused: Sequence[str],
        expected: str,
        *,
        pack: CompiledPack,
        rejected: list[Reject] | None,
    ) -> None:
        self._path, self._required, self._refused = path, required, refused
        self._pack, self._rejected = pack, rejected
        self._names = [n for n in names if n not in _KEY_COLUMNS]
        self._expected = expected
        self._as_of_ok: dict[object, bool] = {}
        self._rows = 0

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` without its rejected rows; FactsError for the first unusable row,
        worded as the row reader does."""
        bad = pc.is_null(batch.column("seller_id"))
        if pa.types.is_string(batch.column("seller_id").type):
            bad = pc.or_kleene(bad, pc.equal(batch.column("seller_id"), ""))
        as_of = batch.column("as_of")
        for value in pc.unique(as_of).to_pylist():
            if value not in self._as_of_ok:
                self._as_of_ok[value] = self._usable_as_of(value)
            if not self._as_of_ok[value]:
                here = pc.is_null(as_of) if value is None else pc.equal(as_of, value)
                bad = pc.or_kleene(bad, pc.fill_null(here, False))
        for name in self._refused:
            bad = pc.or_kleene(bad, pc.is_valid(batch.column(name)))
        flags = np.asarray(pc.fill_null(bad, False).to_numpy(zero_copy_only=False), np.bool_)
        if flags.any():
            index = int(np.argmax(flags))
            row = self._rows + index + 1
            record = batch.slice(index, 1).to_pylist()[0]
            _row_facts(
                record, self._names, self._required, self._path, row, self._expected, self._pack
            )
            raise FactsError(f"{self._path}: row {row}: unusable facts")  # pragma: no cover
        # Rows whose numbers may contradict each other (a superset: exact equality of
        # value and num / den) are checked one by one, as the row reader does.
        dropped = []
        for index in np.flatnonzero(maybe_contradictory(batch, self._pack)).tolist():
            record = batch.slice(index, 1).to_pylist()[0]
            row = self._rows + index + 1
            try:
                _row_facts(
                    record, self._names, self._required, self._path, row, self._expected, self._pack
                )
            except ContradictoryFactsError as exc:
                if self._rejected is None:
                    raise
                self._rejected.append(exc.reject)
                dropped.append(index)
        self._rows += batch.num_rows
        if not dropped:
            return batch
        keep = np.ones(batch.num_rows, np.bool_)
        keep[dropped] = False
        return batch.filter(pa.array(keep))

    def _usable_as_of(self, value: object) -> bool:
        try:
            return as_of_label(_row_as_of(value, self._path, 0)) == self._expected
        except FactsError:
            return False


def _facts_chunks(
    con: duckdb.DuckDBPyConnection,
    relation: duckdb.DuckDBPyRelation,
    *,
    path: Path,
    pack: CompiledPack,
    expected: str,
    chunk_size: int,
    rejected: list[Reject] | None,
) -> Iterator[list[SellerFacts]]:
    values = [c for c in relation.columns if c not in _KEY_COLUMNS]
    required = frozenset(required_fields(pack))
    row = 0
    try:
        for batch in relation.to_arrow_reader(chunk_size):
            chunk: list[SellerFacts] = []
            for record in batch.to_pylist():
                row += 1
                try:
                    chunk.append(_row_facts(record, values, required, path, row, expected, pack))
                except ContradictoryFactsError as exc:
                    if rejected is None:
                        raise
                    rejected.append(exc.reject)
            yield chunk
    except duckdb.Error as exc:
        raise _read_error(path, exc) from exc
    finally:
        con.close()
