"""Metrics: the metric facts of every seller, computed from the canonical tables.

Owns the metric SQL built per metric use (``sql``), the per-order relation it
reads and its SQL text helpers (``relation``), the DuckDB run that produces
facts (``compute``) and the facts themselves (``facts``: one seller's numbers
as of an instant).

May import: ``engine.sources`` and the shared modules (``errors``, ``logs``).
"""
