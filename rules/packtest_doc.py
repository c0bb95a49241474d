"""Pack test fixtures (``kind: PackTest``) as typed values for the test runner.

The document is only schema-validated here; the runner decides what the
expectations mean against a compiled pack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, NamedTuple

from .loader import LoadedDocument
from .model import Exemption

#: The seller id of a case that does not name one.
DEFAULT_SELLER_ID = "S-PACK-TEST"


class HistoryEntry(NamedTuple):
    """An earlier firing of a rule (for escalation ladders): a ``(rule, as_of)`` pair."""

    rule: str
    as_of: date


@dataclass(frozen=True, slots=True)
class PackTestCase:
    """One case: facts in, expected outcome out (``None``: not checked)."""

    name: str
    facts: Mapping[str, float | int | None]
    history: tuple[HistoryEntry, ...]
    exemptions: tuple[Exemption, ...]
    expect_status: str | None
    expect_actions: tuple[str, ...] | None
    expect_rules: Mapping[str, str]
    expect_grades: Mapping[str, str]
    line: int
    seller_id: str = DEFAULT_SELLER_ID
    as_of: date | None = None


@dataclass(frozen=True, slots=True)
class PackTestDoc:
    """A fixture file: the pack it tests and its cases."""

    pack: str
    cases: tuple[PackTestCase, ...]
    path: str


def _exemption(raw: Mapping[str, Any], pack: str, seller_id: str, label: str) -> Exemption:
    return Exemption(
        id=raw.get("id", label),
        pack=pack,
        seller_id=seller_id,
        rules=tuple(raw["rules"]),
        reason=raw.get("reason", "pack test fixture"),
        approver=raw.get("approver", "pack test"),
        expires=date.fromisoformat(raw["expires"]),
    )


def build_packtest(document: LoadedDocument) -> PackTestDoc:
    """The :class:`PackTestDoc` of a schema-valid ``PackTest`` document."""
    pack = document.data["metadata"]["pack"]
    cases = []
    for i, raw in enumerate(document.data["cases"]):
        seller_id = raw.get("seller_id", DEFAULT_SELLER_ID)
        expect = raw["expect"]
        actions = expect.get("actions")
        cases.append(
            PackTestCase(
                name=raw["name"],
                facts=MappingProxyType(dict(raw["facts"])),
                history=tuple(
                    HistoryEntry(h["rule"], date.fromisoformat(h["as_of"]))
                    for h in raw.get("history", [])
                ),
                exemptions=tuple(
                    _exemption(e, pack, seller_id, f"case-{i + 1}-exemption-{j + 1}")
                    for j, e in enumerate(raw.get("exemptions", []))
                ),
                expect_status=expect.get("status"),
                expect_actions=None if actions is None else tuple(actions),
                expect_rules=MappingProxyType(dict(expect.get("rules", {}))),
                expect_grades=MappingProxyType(dict(expect.get("grade", {}))),
                line=document.locate(f"$.cases[{i}]").line,
                seller_id=seller_id,
                as_of=date.fromisoformat(raw["as_of"]) if "as_of" in raw else None,
            )
        )
    return PackTestDoc(pack=pack, cases=tuple(cases), path=document.file)
