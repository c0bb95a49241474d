"""What a source cannot measure: the metrics its ``import.json`` declares not assessable.

A source written by ``sellerpolicy import`` from a marketplace's reports lacks
whole columns (Amazon's order report has no ship confirmation time, no
tracking, no claims). Metrics computed from such empty columns would be
wrong, not unknown: every order would look unshipped. The importer lists
those metrics in the source's ``import.json`` (``not_assessable``: the
metric and why); :func:`register_limits` reads that manifest when the source
is loaded and keeps the list in the connection, beside the tables, and
:func:`unavailable_metrics` hands it to the metric computation, which makes
those facts null ("not measured"): their rules are not assessed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import duckdb

from sellerpolicy.engine.errors import SourceError

__all__ = ["LIMITS_TABLE", "MANIFEST", "keep_limits", "register_limits", "unavailable_metrics"]

MANIFEST = "import.json"
LIMITS_TABLE = "__source_not_assessable"
_DROP = "DROP TABLE IF EXISTS __source_not_assessable"
_CREATE = "CREATE TABLE __source_not_assessable (metric VARCHAR, because VARCHAR)"
_INSERT = "INSERT INTO __source_not_assessable VALUES (?, ?)"
_SELECT = "SELECT metric, because FROM __source_not_assessable"


def _read(manifest: Path) -> dict[str, str]:
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(str(manifest), f"cannot be read as JSON: {exc}") from None
    entries = document.get("not_assessable", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SourceError(str(manifest), "'not_assessable' must be a list")
    found: dict[str, str] = {}
    for index, entry in enumerate(entries):
        metric = entry.get("metric") if isinstance(entry, dict) else None
        if not isinstance(metric, str) or not metric:
            raise SourceError(str(manifest), f"not_assessable[{index}] has no metric name")
        because = entry.get("because")
        found[metric] = because if isinstance(because, str) else "not in the imported reports"
    return found


def register_limits(source: Path, con: duckdb.DuckDBPyConnection) -> Mapping[str, str]:
    """Read ``source``'s manifest (a folder's ``import.json``) into ``con``; return it.

    A source without a manifest (or declaring nothing) measures everything:
    no table is made for it. Any earlier source's limits are dropped on
    every load, so a connection never keeps them.
    """
    manifest = source / MANIFEST if source.is_dir() else None
    found = _read(manifest) if manifest is not None and manifest.is_file() else {}
    keep_limits(con, found)
    return MappingProxyType(found)


def keep_limits(con: duckdb.DuckDBPyConnection, found: Mapping[str, str]) -> None:
    """Keep ``found`` (metric: why) in ``con`` as the loaded source's limits, replacing
    any earlier ones; nothing is kept for an empty mapping.

    A connection that reads tables another one validated (a distributed run's
    worker) is given the source's limits this way, so that its metrics are the
    ones the single-process run computes.
    """
    con.execute(_DROP)
    if found:
        con.execute(_CREATE)
        con.executemany(_INSERT, list(found.items()))


def unavailable_metrics(con: duckdb.DuckDBPyConnection) -> Mapping[str, str]:
    """The catalog metrics the loaded source cannot measure, and why (none if unknown)."""
    try:
        rows = con.execute(_SELECT).fetchall()
    except duckdb.CatalogException:
        return MappingProxyType({})
    return MappingProxyType({str(m): str(b) for m, b in rows})
