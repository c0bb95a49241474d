"""Every shipped pack passes its own fixtures and the generated threshold edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from sellerpolicy.engine.evaluation.packtest import discover, run_pack


@pytest.mark.parametrize("pack_path", discover([]), ids=lambda p: Path(p).parent.name)
def test_shipped_pack_fixtures_and_edges_pass(pack_path: Path) -> None:
    """Fixture cases and generated edges of a shipped pack all pass (failures listed)."""
    report = run_pack(pack_path, generate_edges=True)
    failures = [
        f"{case.file}:{case.line}: {case.name}: "
        + "; ".join(f"{m.what}: expected {m.expected}, got {m.got}" for m in case.mismatches)
        for case in report.cases
        if not case.passed
    ]
    assert failures == []
    assert report.passed > 0
