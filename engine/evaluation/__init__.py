"""Evaluation: judging metric facts against a compiled pack.

Owns ``evaluate()`` (``evaluate``), its rule plans and assessability
(``plans``), the per-seller decision of one call (``context``), the decision
record (``decision``), explanations and distance to compliance (``explain``)
and how much of them a decision carries (``levels``),
escalation-history lookups (``history``), pack fixture tests (``packtest``)
and the row-wise back ends (``backends``: the contract, pure Python,
durable-rules). The vectorized back end lives in ``engine.columnar``, built on
its kernels.

May import: ``engine.metrics``, ``engine.sources`` and the shared modules.
"""
