"""Amazon's flat-file reports to a source: the order, feedback and returns reports.

:func:`import_amazon_reports` reads each account's All Orders report
(``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL``) and, when given, its
Flat File Feedback Report (``GET_SELLER_FEEDBACK_DATA``) and Flat File Returns
Report (``GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE``) through their mappings
(``engine.formats``), and writes a source folder that ``sources.load_source``
reads: ``orders`` (item lines folded to orders), ``feedback`` (one ``left``
event per line) and ``returns`` (one row per Amazon RMA ID, its reason code
mapped to the contract's reasons), every other contract column null and every
other table absent. Beside the tables, ``import.json`` records what was imported and which
catalog metrics the reports carry; ``reconcile`` reads it.

Every line that cannot become a valid contract row is a
:class:`~sellerpolicy.engine.importers.report_files.ReportReject` (file, line,
column, reason), as every source row is: the checks of the contract itself
(``sources.validate_rows``), the folding of an order's lines
(``importers.contract_rows``), and linking feedback to the imported orders
and returns to the imported orders (``unknown_order``, ``rejected_order``,
``seller_mismatch``, ``before_order``, ``duplicate_left``). A return reason code
the mapping does not list is kept as its ``otherwise`` reason and counted
(``warnings``). The source written is therefore valid:
loading it rejects nothing.
"""

# SQL here is built from this module's own identifiers and quoted literals; report
# values are only ever data: S608 does not apply.
# ruff: noqa: S608

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sellerpolicy.engine.formats.flat import (
    CarriedMetric,
    FieldType,
    FlatFileMapping,
    NotAssessable,
)
from sellerpolicy.engine.formats.registry import flat_mapping
from sellerpolicy.engine.importers.clean_runs import arrow_type, fold_part, settle
from sellerpolicy.engine.importers.contract_rows import (
    BAD_TABLE,
    fold_lines,
    parse_lines,
    register_sellers,
    take_rejects,
    text_value,
    unlisted_code,
)
from sellerpolicy.engine.importers.report_files import (
    ReportFile,
    ReportReject,
    column_alias,
    drop_reports,
    read_reports,
    report_parts,
)
from sellerpolicy.engine.sources.tables import TABLES, Format
from sellerpolicy.engine.sources.validate_rows import quote_ident, quote_literal, shown_value

__all__ = [
    "MANIFEST",
    "AccountReports",
    "ImportSummary",
    "account_folders",
    "import_amazon_reports",
]

MANIFEST = "import.json"
"""The file in an imported source saying what it was imported from and what it carries."""

_ROW_GROUP = 122_880  # rows per Parquet row group (DuckDB's, which writes the other tables)


@dataclass(frozen=True, slots=True)
class AccountReports:
    """One seller account's report files."""

    seller_id: str
    orders: tuple[Path, ...]
    feedback: tuple[Path, ...] = ()
    returns: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What :func:`import_amazon_reports` read and wrote."""

    out: Path
    lines: Mapping[str, int]  # report lines read per mapping id (header lines excluded)
    rows: Mapping[str, int]  # rows written per contract table
    rejects: tuple[ReportReject, ...]
    carried: tuple[CarriedMetric, ...]
    not_assessable: tuple[NotAssessable, ...]
    seconds: float = field(compare=False)
    warnings: tuple[str, ...] = ()  # kept lines read with a caveat (an unlisted reason code)


def account_folders(folder: Path) -> list[AccountReports]:
    """The accounts of a folder holding one sub-folder per seller id, each with the
    reports under the mappings' file names (``orders.txt``, ``feedback.txt``,
    ``returns.txt``...).

    ValueError for a folder with no account, or a sub-folder without an order report.
    """
    orders_names = flat_mapping("amazon-all-orders").file_names
    feedback_names = flat_mapping("amazon-seller-feedback").file_names
    returns_names = flat_mapping("amazon-returns").file_names
    accounts = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        orders = tuple(sub / n for n in orders_names if (sub / n).is_file())
        if not orders:
            names = " or ".join(orders_names)
            raise ValueError(f"{sub}: no order report ({names}) for account {sub.name!r}")
        feedback = tuple(sub / n for n in feedback_names if (sub / n).is_file())
        returns = tuple(sub / n for n in returns_names if (sub / n).is_file())
        accounts.append(AccountReports(sub.name, orders, feedback, returns))
    if not accounts:
        raise ValueError(f"{folder}: no account folders (one sub-folder per seller id)")
    return accounts


def import_amazon_reports(
    accounts: Sequence[AccountReports],
    out: Path,
    *,
    fmt: Format = Format.PARQUET,
    orders_mapping: FlatFileMapping | None = None,
    feedback_mapping: FlatFileMapping | None = None,
    returns_mapping: FlatFileMapping | None = None,
) -> ImportSummary:
    """Read the accounts' reports and write the source folder ``out`` (which must not
    hold files yet); return what was read, written and rejected.

    Raises :class:`~sellerpolicy.engine.errors.SourceError` naming the file for a
    report that cannot be read at all (wrong header, unreadable), ValueError for
    an ``out`` that is not empty.
    """
    started = time.perf_counter()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder")
    om = orders_mapping or flat_mapping("amazon-all-orders")
    fm = feedback_mapping or flat_mapping("amazon-seller-feedback")
    rm = returns_mapping or flat_mapping("amazon-returns")
    orders = [ReportFile(p, a.seller_id) for a in accounts for p in a.orders]
    feedback = [ReportFile(p, a.seller_id) for a in accounts for p in a.feedback]
    returns = [ReportFile(p, a.seller_id) for a in accounts for p in a.returns]
    warnings: list[str] = []
    with duckdb.connect() as con:
        con.execute("SET preserve_insertion_order = false")
        kept, rejects, lines = _import_orders(con, orders, om)
        rows = {"orders": kept.num_rows}
        if feedback:
            more, lines[fm.info.id] = _import_feedback(con, feedback, fm, om)
            rejects += more
            rows["feedback"] = _count(con, "__imp_fb")
        if returns:
            more, lines[rm.info.id], warnings = _import_returns(con, returns, rm, om)
            rejects += more
            rows["returns"] = _count(con, "__imp_ret")
        given = [(fm, bool(feedback)), (rm, bool(returns))]
        mappings = [om, *(m for m, read in given if read)]
        missing = [m for m, read in given if not read]
        temporary = out.with_name(f".{out.name}.importing")
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        try:
            _write_arrow(con, "orders", kept, temporary, fmt, unique="order_id")
            if feedback:
                _write(con, "feedback", "__imp_fb", temporary, fmt)
            if returns:
                _write(con, "returns", "__imp_ret", temporary, fmt)
            carried = tuple(c for m in mappings for c in m.carries)
            left = _not_assessable(mappings, carried, missing)
            _manifest(
                temporary / MANIFEST,
                mappings=mappings,
                accounts=accounts,
                rows=rows,
                carried=carried,
                left=left,
                warnings=warnings,
                spans=_order_spans(con, kept, orders),
            )
            if out.exists():
                out.rmdir()
            temporary.replace(out)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return ImportSummary(
        out=out,
        lines=MappingProxyType(lines),
        rows=MappingProxyType(rows),
        rejects=tuple(sorted(rejects)),
        carried=carried,
        not_assessable=left,
        seconds=time.perf_counter() - started,
        warnings=tuple(warnings),
    )


def _in_file_order(rows: pa.Table) -> pa.Table:
    """``rows`` in the order of their ``_file`` and ``_line``."""
    files, lines = rows.column("_file").to_numpy(), rows.column("_line").to_numpy()
    step_file, step_line = np.diff(files), np.diff(lines)
    if bool(np.all((step_file > 0) | ((step_file == 0) & (step_line > 0)))):
        return rows
    return rows.take(pa.array(np.lexsort((lines, files))))


def _order_spans(
    con: duckdb.DuckDBPyConnection, orders: pa.Table, reports: Sequence[ReportFile]
) -> dict[str, tuple[str, str]]:
    """By account, the times of its first and last orders, as text (the orders' files
    give their accounts)."""
    if not orders.num_rows:
        return {}
    files = np.asarray(orders.column("_file").to_numpy())
    micros = orders.column("ordered_at").cast(pa.int64())
    top, bottom = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    low = np.asarray(pc.fill_null(micros, top).to_numpy())
    high = np.asarray(pc.fill_null(micros, bottom).to_numpy())
    starts = np.flatnonzero(np.diff(files, prepend=-1))  # each stretch of one file
    found: dict[str, tuple[int, int]] = {}
    for file, first, last in zip(
        files[starts].tolist(),
        np.minimum.reduceat(low, starts).tolist(),
        np.maximum.reduceat(high, starts).tolist(),
        strict=True,
    ):
        if first != top:
            seller = reports[file].seller_id
            known = found.get(seller, (first, last))
            found[seller] = (min(known[0], first), max(known[1], last))
    table = pa.table(
        {
            "seller": list(found),
            "first": pa.array([a for a, _ in found.values()], pa.timestamp("us")),
            "last": pa.array([b for _, b in found.values()], pa.timestamp("us")),
        }
    )
    con.register("__imp_spans", table)
    try:  # the text DuckDB gives a time (in or out of Python's range)
        rows = con.execute('SELECT seller, "first", "last" FROM __imp_spans').fetchall()
    finally:
        con.unregister("__imp_spans")
    return {str(s): (str(a), str(b)) for s, a, b in rows}


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(rows[0][0])


def _import_orders(
    con: duckdb.DuckDBPyConnection, reports: Sequence[ReportFile], mapping: FlatFileMapping
) -> tuple[pa.Table, list[ReportReject], dict[str, int]]:
    """The kept orders, in file and line order, registered as ``__imp_orders``, and
    ``__imp_rejected_ids``; the rejects."""
    register_sellers(con, reports)
    # Runs of clean item lines are folded apart, each batch of files while the next one
    # is read; every other record's lines, whole, take the general path (the same rows
    # and rejects, only slower).
    sellers = pa.array([r.seller_id for r in reports], pa.string())
    rejects: list[ReportReject] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fold-runs") as pool:
        folding = [
            pool.submit(fold_part, mapping, part, sellers)
            for part in report_parts(reports, mapping, rejects)
        ]
        parts = [f.result() for f in folding]
    lines = {mapping.info.id: sum(p.lines.num_rows for p in parts) + len(rejects)}
    orders, rest = settle(con, mapping, parts)
    del parts, folding
    con.register("__imp_lines", rest)
    if rest.num_rows:
        good = parse_lines(con, mapping, "__imp_lines", "__imp_order_lines")
        fold_lines(con, mapping, "__imp_lines", good, "__imp_orders_rest")
        con.execute("DROP TABLE __imp_order_lines")
        folded = con.sql("SELECT * FROM __imp_orders_rest").to_arrow_table()
        con.execute("DROP TABLE __imp_orders_rest")
        if orders.num_rows:  # the accounts as text (the folded rows' own dictionary)
            seller = orders.schema.get_field_index("seller_id")
            orders = orders.set_column(seller, "seller_id", orders.column(seller).cast(pa.string()))
            folded = folded.select(orders.schema.names).cast(orders.schema)
            orders = pa.concat_tables([orders, folded])
        else:
            orders = folded
    orders = _in_file_order(orders)  # the order the source is written in
    con.register("__imp_orders", orders)
    key = quote_ident(f"c{mapping.used_columns.index(mapping.fold_by or '')}")
    # Ids of orders rejected (none of their lines kept): feedback naming them is rejected.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __imp_rejected_ids AS SELECT DISTINCT trim(l.{key}) "
        f"AS order_id FROM {BAD_TABLE} b JOIN __imp_lines l ON l.__file = b._file AND "
        f"l.__line = b._line WHERE trim(l.{key}) <> ''"
    )
    if _count(con, "__imp_rejected_ids"):
        con.execute(
            "DELETE FROM __imp_rejected_ids r WHERE EXISTS "
            "(SELECT 1 FROM __imp_orders o WHERE o.order_id = r.order_id)"
        )
    drop_reports(con, "__imp_lines")
    return orders, rejects + take_rejects(con, reports, mapping), lines


def _import_feedback(
    con: duckdb.DuckDBPyConnection,
    reports: Sequence[ReportFile],
    mapping: FlatFileMapping,
    orders: FlatFileMapping,
) -> tuple[list[ReportReject], int]:
    """``__imp_fb``: the feedback lines linked to their orders; the rejects."""
    register_sellers(con, reports)
    rejects = read_reports(con, reports, mapping, "__imp_lines")
    lines = _count(con, "__imp_lines") + len(rejects)
    good = parse_lines(con, mapping, "__imp_lines", "__imp_fb_lines")
    order_col = _shown(mapping, "order_id")
    order = _in_literal(order_col)
    problem = _order_link_problem(mapping, orders, "at")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __imp_fb_linked AS SELECT f.*, o.ordered_at AS "
        f"__ordered_at, {problem} AS _bad FROM {good} f LEFT JOIN __imp_orders o "
        f"USING (order_id) LEFT JOIN __imp_rejected_ids r USING (order_id)"
    )
    con.execute(
        f"INSERT INTO {BAD_TABLE} SELECT _file, _line, 'report:' || _bad.col, _bad.reason "
        f"FROM __imp_fb_linked WHERE _bad IS NOT NULL"
    )
    # A date is the start of its day: feedback dated the order's day is at the order's time.
    con.execute(
        'CREATE OR REPLACE TEMP TABLE __imp_fb_ranked AS SELECT * EXCLUDE ("at", _bad), '
        'greatest("at", __ordered_at) AS "at", row_number() OVER (PARTITION BY order_id '
        'ORDER BY "at", _file, _line) AS __n FROM __imp_fb_linked WHERE _bad IS NULL'
    )
    con.execute(
        f"INSERT INTO {BAD_TABLE} SELECT d._file, d._line, {quote_literal('report:' + order_col)}, "
        f"'duplicate_left: {order} ' || '''' || left(d.order_id, 40) || '''' || "
        f"' has feedback already (' || s.__shown || ' line ' || k._line || ')' FROM "
        f"__imp_fb_ranked d JOIN __imp_fb_ranked k ON k.order_id = d.order_id AND k.__n = 1 "
        f"JOIN __imp_sellers s ON s.__file = k._file WHERE d.__n > 1"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __imp_fb AS SELECT * FROM __imp_fb_ranked WHERE __n = 1"
    )
    for name in ("__imp_fb_lines", "__imp_fb_linked", "__imp_fb_ranked"):
        con.execute(f"DROP TABLE {name}")
    drop_reports(con, "__imp_lines")
    return rejects + take_rejects(con, reports, mapping), lines


def _order_link_problem(mapping: FlatFileMapping, orders: FlatFileMapping, at: str) -> str:
    """SQL: the problem ``{col, reason}`` of a row ``f`` linked to its order ``o``
    (``r``: the rejected order ids), or NULL: its order was rejected, is unknown,
    belongs to another account, or was placed after the row's day (column ``at``)."""
    order_col, date_col = _shown(mapping, "order_id"), _shown(mapping, at)
    order, date, purchase = (
        _in_literal(c) for c in (order_col, date_col, _shown(orders, "ordered_at"))
    )
    column = quote_ident(at)
    value = shown_value("f.order_id")
    in_order, in_date = quote_literal(order_col), quote_literal(date_col)
    return (
        f"CASE WHEN o.order_id IS NULL AND r.order_id IS NOT NULL THEN {{'col': {in_order}, "
        f"'reason': 'rejected_order: {order} ' || {value} || "
        f"' is an order whose report lines were rejected'}} "
        f"WHEN o.order_id IS NULL THEN {{'col': {in_order}, 'reason': "
        f"'unknown_order: {order} ' || {value} || ' is not in the imported order reports'}} "
        f"WHEN o.seller_id <> f.seller_id THEN {{'col': {in_order}, 'reason': "
        f"'seller_mismatch: {order} ' || {value} || ' is an order of account ' || "
        f"o.seller_id}} WHEN f.{column} < date_trunc('day', o.ordered_at) THEN {{'col': "
        f"{in_date}, 'reason': 'before_order: {date} ' || CAST(f.{column} AS DATE)"
        f" || ' is earlier than the day of the order''s {purchase} ' || o.ordered_at}} END"
    )


def _import_returns(
    con: duckdb.DuckDBPyConnection,
    reports: Sequence[ReportFile],
    mapping: FlatFileMapping,
    orders: FlatFileMapping,
) -> tuple[list[ReportReject], int, list[str]]:
    """``__imp_ret``: the returns (item lines folded by their return id) linked to
    their orders; the rejects, the lines read and the warnings (unlisted codes)."""
    register_sellers(con, reports)
    rejects = read_reports(con, reports, mapping, "__imp_lines")
    lines = _count(con, "__imp_lines") + len(rejects)
    good = parse_lines(con, mapping, "__imp_lines", "__imp_ret_lines")
    fold_lines(con, mapping, "__imp_lines", good, "__imp_ret_folded")
    problem = _order_link_problem(mapping, orders, "requested_at")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __imp_ret_linked AS SELECT f.*, o.ordered_at AS "
        f"__ordered_at, {problem} AS _bad FROM __imp_ret_folded f LEFT JOIN __imp_orders o "
        f"USING (order_id) LEFT JOIN __imp_rejected_ids r USING (order_id)"
    )
    # A folded return's problem rejects each of its lines (the folded row keeps the first).
    con.execute(
        f"INSERT INTO {BAD_TABLE} SELECT p._file, p._line, 'report:' || f._bad.col, "
        f"f._bad.reason FROM __imp_ret_linked f JOIN __imp_ret_lines p ON p._file = f._file "
        f"AND p.return_id = f.return_id WHERE f._bad IS NOT NULL AND p._bad IS NULL"
    )
    # A date is the start of its day: a return requested the order's day is at its time.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __imp_ret AS SELECT * EXCLUDE (requested_at, _bad, "
        "__ordered_at), greatest(requested_at, __ordered_at) AS requested_at "
        "FROM __imp_ret_linked WHERE _bad IS NULL"
    )
    field = mapping.field("reason")
    warnings = []
    if field is not None and field.type is FieldType.CODE:
        raw = text_value(f"l.{quote_ident(column_alias(mapping.used_columns.index(field.column)))}")
        counted = con.execute(
            f"SELECT {raw} AS code, count(*) AS n FROM __imp_lines l JOIN __imp_ret_lines p "
            f"ON p._file = l.__file AND p._line = l.__line SEMI JOIN __imp_ret k "
            f"ON k._file = p._file AND k.return_id = p.return_id "
            f"WHERE {unlisted_code(field, raw)} GROUP BY ALL ORDER BY n DESC, code"
        ).fetchall()
        warnings = [
            f"unlisted_code: {field.column} {code!r} on {n:,} kept line(s), read as "
            f"{field.otherwise!r} (mapping {mapping.info.id} {mapping.info.version})"
            for code, n in counted
        ]
    for name in ("__imp_ret_lines", "__imp_ret_folded", "__imp_ret_linked"):
        con.execute(f"DROP TABLE {name}")
    drop_reports(con, "__imp_lines")
    return rejects + take_rejects(con, reports, mapping), lines, warnings


def _shown(mapping: FlatFileMapping, target: str) -> str:
    """The report column filling ``target`` (its contract name when none does)."""
    found = mapping.field(target)
    return found.column if found is not None else target


def _in_literal(text: str) -> str:
    """``text`` for use inside a SQL string literal."""
    return text.replace("'", "''")


def _write_arrow(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: pa.Table,
    folder: Path,
    fmt: Format,
    *,
    unique: str,
) -> None:
    """Write the contract table ``table`` from ``rows`` (in file and line order) as
    ``folder/<table>.<fmt>``: Parquet by Arrow (faster than DuckDB from Arrow rows,
    and marking REQUIRED the columns without null, as DuckDB does from a table),
    other formats by DuckDB.

    In Parquet, the column ``unique`` (an id) and the times are not dictionary
    encoded: their values hardly repeat (a dictionary would be built to be dropped).
    """
    if fmt is not Format.PARQUET:
        con.register("__imp_write", rows)
        try:
            _write(con, table, "__imp_write", folder, fmt, ordered=True)
        finally:
            con.unregister("__imp_write")
        return
    columns, fields = [], []
    for name, kind in TABLES[table]:
        arrow = arrow_type(kind)
        if name in rows.column_names:
            column = rows.column(name)
            if not pa.types.is_dictionary(column.type) or column.type.value_type != arrow:
                column = column.cast(arrow)  # (a dictionary of texts is written as texts)
            fields.append(pa.field(name, column.type, nullable=column.null_count > 0))
        else:
            column = pa.nulls(rows.num_rows, arrow)
            fields.append(pa.field(name, arrow))
        columns.append(column)
    pq.write_table(
        pa.table(columns, schema=pa.schema(fields)),
        folder / f"{table}.{fmt.value}",
        compression="snappy",
        row_group_size=_ROW_GROUP,
        use_dictionary=[n for n, kind in TABLES[table] if n != unique and kind != "TIMESTAMP"],
        store_schema=False,  # read back, the columns have their contract types
    )


def _write(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: str,
    folder: Path,
    fmt: Format,
    *,
    ordered: bool = False,
) -> None:
    """Write the contract table ``table`` from ``rows`` as ``folder/<table>.<fmt>``, in
    file and line order (``ordered``: ``rows`` are in that order already, and kept so)."""
    columns = ", ".join(
        f"CAST({quote_ident(c)} AS {t}) AS {quote_ident(c)}" if c in _columns(con, rows)
        else f"CAST(NULL AS {t}) AS {quote_ident(c)}"
        for c, t in TABLES[table]
    )  # fmt: skip
    options = {
        Format.PARQUET: "FORMAT parquet, COMPRESSION snappy",
        Format.CSV: "FORMAT csv, HEADER true",
        Format.JSONL: "FORMAT json",
    }[fmt]
    target = quote_literal(str(folder / f"{table}.{fmt.value}"))
    order = "" if ordered else " ORDER BY _file, _line"
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"COPY (SELECT {columns} FROM {rows}{order}) TO {target} ({options})")
    con.execute("SET preserve_insertion_order = false")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {str(r[0]) for r in con.execute(f"DESCRIBE {table}").fetchall()}


def _not_assessable(
    mappings: Sequence[FlatFileMapping],
    carried: Sequence[CarriedMetric],
    missing: Sequence[FlatFileMapping] = (),
) -> tuple[NotAssessable, ...]:
    """What the imported reports leave not assessable: the mappings' own lists, and
    what a report that was not given would have carried."""
    names = {c.metric for c in carried}
    out: dict[str, NotAssessable] = {}
    for mapping in missing:
        for carried_there in mapping.carries:
            because = f"no {mapping.info.title} was imported"
            out.setdefault(carried_there.metric, NotAssessable(carried_there.metric, because))
    for mapping in mappings:
        for entry in mapping.not_assessable:
            if entry.metric not in names:
                out.setdefault(entry.metric, entry)
    return tuple(out.values())


def _mapping_record(mapping: FlatFileMapping) -> dict[str, str]:
    info = mapping.info
    return {
        "id": info.id,
        "version": info.version,
        "report_type": info.report_type,
        "file": info.path.name,
    }


def _manifest(
    path: Path,
    *,
    mappings: Sequence[FlatFileMapping],
    accounts: Sequence[AccountReports],
    rows: Mapping[str, int],
    carried: Sequence[CarriedMetric],
    left: Sequence[NotAssessable],
    warnings: Sequence[str],
    spans: Mapping[str, tuple[str, str]],
) -> None:
    """``import.json``: the mappings, the accounts' files and order dates (``spans``),
    the rows written, the metrics carried (with their knob limits), those left out,
    and the warnings (lines kept with a caveat)."""
    record = {
        "format": "amazon-reports",
        "mappings": [_mapping_record(m) for m in mappings],
        "accounts": [
            {
                "seller_id": a.seller_id,
                "orders": [str(p) for p in a.orders],
                "feedback": [str(p) for p in a.feedback],
                "returns": [str(p) for p in a.returns],
                "first_order": spans.get(a.seller_id, (None, None))[0],
                "last_order": spans.get(a.seller_id, (None, None))[1],
            }
            for a in accounts
        ],
        "rows": dict(rows),
        "carries": [
            {"metric": c.metric, "knob_max": dict(c.knob_max), "because": c.because}
            for c in carried
        ],
        "not_assessable": [{"metric": n.metric, "because": n.because} for n in left],
        "warnings": list(warnings),
    }
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
