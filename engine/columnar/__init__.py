"""Columnar: evaluation and decisions as Arrow columns, for batches of millions.

Owns the NumPy kernels (``kernels``), the per-rule column layout
(``columns``), scores (``scores``), text rendering on read (``texts``), the
columnar decisions of a batch (``decisions``), reading them back as records
(``read``), the ``.arrows`` writer (``write``) and the vectorized back end
(``backend``).

May import: ``engine.evaluation`` and the layers below it. Not ``engine.store``.
"""
