"""sellerpolicy.rules: the rule-pack language (load, validate, check, compile).

Pure: no database, no HTTP, no durable-rules import, and nothing from
``sellerpolicy.engine`` (a test checks this).

Stages (see :mod:`sellerpolicy.rules.api`): :mod:`.loader` (YAML with
positions) -> :mod:`.schema` (JSON Schema) -> :mod:`.check` (semantic
checks) -> :mod:`.build` (the typed :class:`CompiledPack`).
"""

from .api import (
    check_document,
    check_pack,
    load_exemption,
    load_pack,
    load_packtest,
    resolve_pack,
    shipped_packs,
)
from .diagnostics import Diagnostic, Level, PackError, SellerPolicyError
from .model import (
    ACTIONS,
    API_VERSION,
    AllOf,
    AnyOf,
    Band,
    Compare,
    CompiledPack,
    Condition,
    Dimension,
    Exemption,
    Field,
    Grade,
    Ladder,
    LadderStep,
    MetricUse,
    Mode,
    NotOf,
    Op,
    Rule,
    Score,
    Severity,
    SourceRef,
    Status,
    condition_metrics,
)
from .packtest_doc import HistoryEntry, PackTestCase, PackTestDoc
from .serialize import pack_to_json

__all__ = [
    "ACTIONS",
    "API_VERSION",
    "AllOf",
    "AnyOf",
    "Band",
    "Compare",
    "CompiledPack",
    "Condition",
    "Diagnostic",
    "Dimension",
    "Exemption",
    "Field",
    "Grade",
    "HistoryEntry",
    "Ladder",
    "LadderStep",
    "Level",
    "MetricUse",
    "Mode",
    "NotOf",
    "Op",
    "PackError",
    "PackTestCase",
    "PackTestDoc",
    "Rule",
    "Score",
    "SellerPolicyError",
    "Severity",
    "SourceRef",
    "Status",
    "check_document",
    "check_pack",
    "condition_metrics",
    "load_exemption",
    "load_pack",
    "load_packtest",
    "pack_to_json",
    "resolve_pack",
    "shipped_packs",
]
