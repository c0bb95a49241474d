"""Helpers for the rules tests: a small valid pack and ways to break it."""

from __future__ import annotations

from pathlib import Path

from sellerpolicy.rules import CompiledPack, Diagnostic, Level, check_pack

DATA = Path(__file__).parent / "data"
EXAMPLE = DATA / "example-pack.yaml"

#: A minimal valid pack; tests replace one fragment to break or vary it.
VALID = """\
apiVersion: sellerpolicy/v1
kind: PolicyPack
metadata:
  id: small-pack
  title: Small pack
  marketplace: example
  version: "1"
  effective_from: 2026-01-01
  sources:
    - {url: https://example.com/policy, checked: 2026-11-01}
spec:
  metrics:
    - metric: order_defect_rate
      window: 60d
    - name: late_shipment_rate_10d
      metric: late_shipment_rate
      window: 10d
  rules:
    - id: odr-over-target
      title: ODR at or above 1%
      when: {metric: order_defect_rate, gte: 1%}
      actions: [lose_buy_box]
      severity: high
      explanation: ODR {value:.2%} is at or above {threshold:.0%}
    - id: late-shipments
      title: Late shipments at or above 4%
      when: {metric: late_shipment_rate_10d, gte: 0.04}
      actions: [warn]
      severity: low
      explanation: Late shipment rate {value:.1%}
  status:
    lose_buy_box: at_risk
    warn: healthy
"""


def variant(old: str, new: str, text: str = VALID) -> str:
    """``text`` with the one occurrence of ``old`` replaced by ``new``."""
    assert text.count(old) == 1, f"fragment must occur once: {old!r}"
    return text.replace(old, new)


def write(tmp_path: Path, text: str, name: str = "pack.yaml") -> Path:
    """Write a document into ``tmp_path`` and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check_text(tmp_path: Path, text: str) -> tuple[CompiledPack | None, list[Diagnostic]]:
    """Check a pack written from ``text``."""
    return check_pack(write(tmp_path, text))


def compile_text(tmp_path: Path, text: str) -> CompiledPack:
    """Compile a pack that must have no errors."""
    pack, found = check_text(tmp_path, text)
    assert pack is not None, [d.render() for d in found]
    return pack


def error_codes(found: list[Diagnostic]) -> list[str]:
    """The codes of the errors (not warnings), in order."""
    return [d.code for d in found if d.level is Level.ERROR]
