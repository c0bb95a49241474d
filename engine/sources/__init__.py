"""Sources: reading order events into the canonical tables.

Owns the canonical input tables (``tables``), per-row checks compiled to
DuckDB SQL (``validate_rows``), cross-table event checks (``validate_events``),
the rejects written beside every output (``rejects``) and the reader of a
folder or DuckDB file (``reader``).

May import: ``engine.errors``, ``engine.logs`` and ``sellerpolicy.rules``.
"""
