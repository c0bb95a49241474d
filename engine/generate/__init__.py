"""Generate: a deterministic synthetic marketplace (every input table, a few bad rows).

``marketplace`` simulates the marketplace (``generate``) from the sellers and
orders drawn in ``world`` (archetypes, sellers, orders) and the events drawn
in ``events``; ``files`` writes them out with the deliberately broken rows;
``amazon_reports`` writes the same marketplace as Amazon's order and feedback
reports, in the shapes of their mappings (``engine.formats``).

May import: ``engine.sources``, ``engine.formats`` and the shared modules.
"""
