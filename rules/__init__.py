"""sellerpolicy.rules: the rule-pack language (load, validate, check, compile).

Pure: no database, no HTTP, no durable-rules import, and nothing from
``sellerpolicy.engine`` (a test checks this).

Stages (see :mod:`sellerpolicy.rules.api`): :mod:`.loader` (YAML with
positions) -> :mod:`.schema` (JSON Schema) -> :mod:`.check` (semantic
checks) -> :mod:`.build` (the typed :class:`CompiledPack`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
        DailyScore,
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

# Names are imported on first use (PEP 562), so that ``import sellerpolicy.rules.model``
# or the CLI's ``--help`` does not pay for JSON Schema and YAML loading.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "check_document",
            "check_pack",
            "load_exemption",
            "load_pack",
            "load_packtest",
            "resolve_pack",
            "shipped_packs",
        ),
        "api",
    ),
    **dict.fromkeys(("Diagnostic", "Level", "PackError", "SellerPolicyError"), "diagnostics"),
    **dict.fromkeys(
        (
            "ACTIONS",
            "API_VERSION",
            "AllOf",
            "AnyOf",
            "Band",
            "Compare",
            "CompiledPack",
            "Condition",
            "DailyScore",
            "Dimension",
            "Exemption",
            "Field",
            "Grade",
            "Ladder",
            "LadderStep",
            "MetricUse",
            "Mode",
            "NotOf",
            "Op",
            "Rule",
            "Score",
            "Severity",
            "SourceRef",
            "Status",
            "condition_metrics",
        ),
        "model",
    ),
    **dict.fromkeys(("HistoryEntry", "PackTestCase", "PackTestDoc"), "packtest_doc"),
    **dict.fromkeys(("pack_to_json",), "serialize"),
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ACTIONS",
    "API_VERSION",
    "AllOf",
    "AnyOf",
    "Band",
    "Compare",
    "CompiledPack",
    "Condition",
    "DailyScore",
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
