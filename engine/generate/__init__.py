"""Generate: a deterministic synthetic marketplace (every input table, a few bad rows).

``marketplace`` draws sellers, orders and events; ``files`` writes them out
with the deliberately broken rows.

May import: ``engine.sources`` and the shared modules.
"""
