"""Back ends: which rule conditions hold for each seller of a batch.

``protocol`` is the contract every back end keeps; ``python`` and ``durable``
implement it row by row. The vectorized back end is ``engine.columnar.backend``.

May import what ``engine.evaluation`` may.
"""
