"""What the browser tests share: where Chromium, axe-core and the screenshots are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SELLERPOLICY_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "build" / "screenshots"


def missing(what: str) -> None:
    """Skip here; fail in CI, where ``.ci/run`` installs everything."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI (.ci/run installs it)")
    pytest.skip(f"{what} is missing")


@dataclass(frozen=True, slots=True)
class Site:
    """The served workbench: its address and a key per person."""

    url: str
    keys: dict[str, str]
