"""Builders shared by the durable-rules tests: packs and facts made in code."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sellerpolicy.engine.metrics.facts import Number, SellerFacts
from sellerpolicy.rules.model import CompiledPack, Condition, Mode, Rule, Severity

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def rule(rule_id: str, when: Condition) -> Rule:
    """A rule with ``when`` and fixed, irrelevant actions."""
    return Rule(
        id=rule_id,
        title=rule_id,
        when=when,
        actions=("warn",),
        severity=Severity.MEDIUM,
        explanation=f"{rule_id} fired",
    )


def pack(*rules: Rule, digest: str = "sha256:" + "0" * 64) -> CompiledPack:
    """A pack holding ``rules`` (metric uses are not needed by a back end)."""
    return CompiledPack(
        id="test-pack",
        title="Test pack",
        marketplace="test",
        version="1",
        digest=digest,
        mode=Mode.ENFORCE,
        metrics=(),
        rules=rules,
        status_map={},
    )


def seller(seller_id: str, values: Mapping[str, Number | None]) -> SellerFacts:
    """One seller's facts at :data:`AS_OF`."""
    return SellerFacts(seller_id=seller_id, as_of=AS_OF, values=dict(values))
