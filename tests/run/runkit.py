"""Helpers shared by the run tests: the evaluation date and facts records."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import Compare, CompiledPack, Op

AS_OF = date(2026, 11, 1)
ROOT = Path(__file__).resolve().parents[2]
#: Python code running the console script's entry point (``sellerpolicy ARGS``).
MAIN = "from sellerpolicy.engine.cli.root import main; main()"


def run_cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``sellerpolicy ARGS`` in a fresh process from the repository root, as a user runs it.

    ``COLUMNS`` is wide so that no message is wrapped: one message, one line.
    """
    return subprocess.run(
        [sys.executable, "-c", MAIN, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "400", **(env or {})},
    )


def healthy_facts(pack: CompiledPack, seller_id: str, as_of: date) -> dict[str, object]:
    """A facts record with every column the pack's metrics write, all rules passing.

    Rates where high is bad are 0 of 200; rates where low is bad are 200 of
    200; averages are 5.0 over 200 ratings.
    """
    record: dict[str, object] = {"seller_id": seller_id, "as_of": as_of.isoformat()}
    record["orders"] = 200
    low_is_bad = {
        leaf.metric
        for rule in pack.rules
        for leaf in _compares(rule.when)
        if leaf.op in (Op.LT, Op.LTE)
    }
    for use in pack.metrics:
        if use.name == "orders":
            continue
        if use.kind is MetricKind.RATE:
            good = 200 if use.name in low_is_bad else 0
            record |= {use.name: good / 200, f"{use.name}__num": good, f"{use.name}__den": 200}
        elif use.kind is MetricKind.AVERAGE:
            record |= {use.name: 5.0, f"{use.name}__num": 1000.0, f"{use.name}__den": 200}
        else:
            record[use.name] = 1000.0
    return record


def _compares(cond: object) -> list[Compare]:
    if isinstance(cond, Compare):
        return [cond]
    children = getattr(cond, "children", None)
    if children is not None:
        return [leaf for child in children for leaf in _compares(child)]
    return _compares(cond.child)
