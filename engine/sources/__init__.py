"""Sources: reading order events into the canonical tables.

Owns the canonical input tables (``tables``), per-row checks compiled to
DuckDB SQL (``validate_rows``), cross-table event checks (``validate_events``),
the rejects written beside every output (``rejects``) and the reader of a
folder or DuckDB file (``reader``: ``load_source`` and the run of its stages),
with the discovery of its tables and the SQL scanning them (``inputs``),
the steps applied to each table: read, stage, register (``staging``), and the
lines of CSV and JSON Lines files: headers, and the mending of malformed
CSV lines into rejects (``lines``), the same for JSON Lines (``json_lines``)
and bounded line-by-line reading (``line_reader``).

May import: ``engine.errors``, ``engine.logs`` and ``sellerpolicy.rules``.
"""
