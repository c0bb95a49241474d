"""Generate: a deterministic synthetic marketplace (every input table, a few bad rows).

``marketplace`` simulates the marketplace (``generate``) from the sellers and
orders drawn in ``world`` (archetypes, sellers, orders) and the events drawn
in ``events``; ``files`` writes them out with the deliberately broken rows.

May import: ``engine.sources`` and the shared modules.
"""
