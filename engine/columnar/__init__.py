"""Columnar: evaluation and decisions as Arrow columns, for batches of millions.

Owns the NumPy kernels (``kernels``), the per-rule column layout
(``columns``), scores (``scores``), text rendering on read (``texts``), the
columnar decisions of a batch (``decisions``), reading them back as
``Decision`` values (``read``), distances to compliance over whole columns
(``distances``), the typed record layout (``typed``, and ``typed_rows`` to and
from ``Decision`` values), records rendered in bulk as JSON lines and CSV
(``jsontext``, ``records``, ``records_csv``), every output format
(``formats``) and the streaming writer (``write``), and the vectorized back
end (``backend``).

May import: ``engine.evaluation`` and the layers below it. Not ``engine.store``.
"""
