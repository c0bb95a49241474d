"""Explanation templates rendered for firing rows in bulk equal the per-seller rendering.

The bulk path renders a rule's template field by field over every firing row
(constants once, the seller's numbers and ids per row), and falls back to the
shared per-row functions when a field refuses its spec (a null count under
``{num:,}``). Whatever the template, each explanation equals the one
``evaluate`` writes with the plain Python back end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from population import AS_OF, batch, table

from sellerpolicy.engine.columnar import texts
from sellerpolicy.engine.columnar.decisions import decisions_from_batch, evaluate_table
from sellerpolicy.engine.evaluation.backends.python import PythonBackend
from sellerpolicy.engine.evaluation.evaluate import evaluate
from sellerpolicy.rules import load_pack

EXAMPLE = Path(__file__).parents[1] / "rules" / "data" / "example-pack.yaml"
PLAIN = '"{title} for {seller_id} as of {as_of} ({metric} = {value})"'
TEMPLATES = [
    PLAIN,
    '"100% sure: {value} of {orders} orders, {num} of {den} (%s {rule} %%)"',
    '"{value:.2%} vs {threshold:.1%} over {window_days} days, {window_start} to {window_end}"',
    '"{value}"',
    '"no field at all"',
]
#: A null count cannot take a spec: rows of this one may go the per-row way.
FALLING_BACK = '"{num:,} of {den:>9} late; {seller_id:>12}|"'


def _refuse(*_: object, **__: object) -> str:
    raise AssertionError("rendered row by row, not field by field")


@pytest.mark.parametrize("template", [*TEMPLATES, FALLING_BACK])
def test_bulk_explanations_equal_the_per_seller_ones(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Field by field (never row by row, but where a spec is refused), the same texts."""
    if template != FALLING_BACK:
        monkeypatch.setattr(texts, "render_template", _refuse)
    source = EXAMPLE.read_text(encoding="utf-8")
    assert PLAIN in source
    path = tmp_path / "pack.yaml"
    path.write_text(source.replace(PLAIN, json.dumps(json.loads(template))), encoding="utf-8")
    pack = load_pack(path)
    fired = 0
    for seed in range(4):
        facts = batch(pack, seed)
        expected = evaluate(pack, facts, backend=PythonBackend())
        got = decisions_from_batch(evaluate_table(pack, table(facts), AS_OF), pack)
        for mine, theirs in zip(got, expected, strict=True):
            assert [r.explanation for r in mine.rules] == [r.explanation for r in theirs.rules]
            assert [a.explanation for a in mine.actions] == [a.explanation for a in theirs.actions]
        fired += sum(1 for d in got for r in d.rules if r.explanation is not None)
    assert fired > 50
