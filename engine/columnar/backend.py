"""The vectorized back end: rule conditions as NumPy column expressions.

Every condition of a :class:`~sellerpolicy.rules.model.CompiledPack` is
compiled into boolean array expressions evaluated over all sellers of a
batch at once: a leaf reads its fact (``<name>`` for ``value`` leaves,
``<name>__num`` for ``count`` leaves) as a float64 column plus a validity
mask; ``all`` / ``any`` / ``not`` are element-wise ``&`` / ``|`` / ``~``.

Nulls, exactly as the shared evaluation sees them: a leaf on a null or absent
fact is false, and a rule reading a null fact never matches, whatever its
``not`` nodes say (the durable back end behaves the same; the plain-Python
one may answer either way because :func:`~sellerpolicy.engine.evaluation.evaluate.evaluate`
masks such rules as not assessed). Comparisons are IEEE-754 double
comparisons, as in Python: an integer fact is compared as a double (exact
below 2**53, the limit the durable back end enforces too).

:class:`VectorBackend` keeps the :class:`~sellerpolicy.engine.evaluation.backends.protocol.Backend`
protocol (sellers as :class:`SellerFacts`). The bulk columnar path that skips
per-seller objects entirely is :mod:`sellerpolicy.engine.columnar.decisions`;
the per-rule and per-score columns of a batch it builds on live in
:mod:`.vector_columns` (:func:`rule_block`), :mod:`.vector_scores`
(:func:`score_block`) and :mod:`.vector_texts` (explanations, rendered for
firing rows only, with the shared functions of
:mod:`~sellerpolicy.engine.evaluation.explain` or a field-by-field equivalent checked
by the differential test), over the kernels of :mod:`.vector_kernels`; their
public names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.rules.model import CompiledPack

from .columns import RuleBlock, Slot, rule_block
from .kernels import (
    Columns,
    Floats,
    Mask,
    arrow_numbers,
    condition_mask,
    masked,
    reads_present,
    rule_masks,
)
from .scores import ScoreBlock, score_block
from .texts import describe_rows, render_fired, result_orders

__all__ = [
    "Columns",
    "Floats",
    "Mask",
    "RuleBlock",
    "ScoreBlock",
    "Slot",
    "VectorBackend",
    "arrow_numbers",
    "condition_mask",
    "describe_rows",
    "masked",
    "reads_present",
    "render_fired",
    "result_orders",
    "rule_block",
    "rule_masks",
    "score_block",
]


class VectorBackend:
    """Evaluate every rule condition over all sellers of a batch as array expressions."""

    name = "vector"

    def match(self, pack: CompiledPack, facts: Sequence[SellerFacts]) -> list[frozenset[str]]:
        """For each seller, in order, the ids of rules whose condition is true."""
        if not facts:
            return []
        matrix = rule_masks(pack, Columns.from_facts(facts))
        ids = [rule.id for rule in pack.rules]
        empty: frozenset[str] = frozenset()
        out = [empty] * len(facts)
        rows, cols = np.nonzero(matrix)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            out[row] = out[row] | {ids[col]}
        return out
