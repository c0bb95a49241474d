"""Pack digests: stable under reformatting, sensitive to meaning."""

from __future__ import annotations

from pathlib import Path

from rulekit import VALID, compile_text, variant

REFORMATTED = """\
# the same pack, written differently
kind: "PolicyPack"
apiVersion: 'sellerpolicy/v1'
metadata: {id: small-pack, title: Small pack, marketplace: example, version: "1",
  effective_from: 2026-01-01, sources: [{checked: 2026-11-01, url: "https://example.com/policy"}]}
spec:
  status: {warn: healthy, lose_buy_box: at_risk}
  metrics:
    - {window: 60d, metric: order_defect_rate}
    - {metric: late_shipment_rate, window: 10d, name: late_shipment_rate_10d}
  rules:
    - id: odr-over-target
      title: "ODR at or above 1%"
      when:
        gte: 0.01          # written as a fraction this time
        metric: order_defect_rate
      actions:
        - lose_buy_box
      severity: high
      explanation: "ODR {value:.2%} is at or above {threshold:.0%}"
    - id: late-shipments
      title: Late shipments at or above 4%
      when: {metric: late_shipment_rate_10d, gte: 4%}
      actions: [warn]
      severity: low
      explanation: Late shipment rate {value:.1%}
"""


def test_digest_ignores_layout_comments_key_order_and_percent_spelling(tmp_path: Path) -> None:
    """Two spellings of the same pack (flow vs block, 1% vs 0.01) share one digest."""
    first = compile_text(tmp_path, VALID)
    second = compile_text(tmp_path, REFORMATTED)
    assert first.digest == second.digest
    assert len(first.digest) == len("sha256:") + 64


def test_digest_ignores_integer_versus_float_thresholds(tmp_path: Path) -> None:
    """gte: 1 and gte: 1.0 are the same threshold."""
    one = compile_text(tmp_path, variant("gte: 0.04}", "gte: 1}"))
    one_point_zero = compile_text(tmp_path, variant("gte: 0.04}", "gte: 1.0}"))
    assert one.digest == one_point_zero.digest


def test_digest_changes_when_a_threshold_changes(tmp_path: Path) -> None:
    """Moving a threshold from 1% to 1.5% is a different pack."""
    before = compile_text(tmp_path, VALID)
    after = compile_text(tmp_path, variant("gte: 1%}", "gte: 1.5%}"))
    assert before.digest != after.digest


def test_digest_changes_when_text_changes(tmp_path: Path) -> None:
    """Any change of content (here a title) changes the digest."""
    before = compile_text(tmp_path, VALID)
    after = compile_text(tmp_path, variant("title: Small pack", "title: Small pack v2"))
    assert before.digest != after.digest
