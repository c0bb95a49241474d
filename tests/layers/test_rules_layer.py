"""The rule-pack language stays pure: nothing under rules/ reaches the runtime."""

from __future__ import annotations

from pathlib import Path

import pytest
from importscan import ROOT, file_imports, imported

RULES = ROOT / "rules"
FORBIDDEN = ("sellerpolicy.engine", "durable", "duckdb", "sqlalchemy", "httpx", "fastapi")


def _violations(names: list[str]) -> list[str]:
    return [
        name
        for name in names
        for forbidden in FORBIDDEN
        if name == forbidden or name.startswith(forbidden + ".")
    ]


def _rules_files() -> list[Path]:
    return sorted(RULES.glob("**/*.py"))


def test_rules_folder_has_modules() -> None:
    """The layering check below really looks at the rules package."""
    assert len(_rules_files()) >= 10


@pytest.mark.parametrize("path", _rules_files(), ids=lambda p: p.name)
def test_module_imports_nothing_from_runtime(path: Path) -> None:
    """No module under rules/ imports sellerpolicy.engine, durable or other runtime
    parts, in any spelling (relative imports are resolved first)."""
    names = file_imports(path, "rules")
    assert _violations(names) == [], f"{path.name} imports {_violations(names)}"


def test_checker_catches_a_forbidden_import() -> None:
    """The import scanner sees engine imports in every spelling."""
    probe = "import durable.lang\nfrom sellerpolicy.engine import facts\nfrom ..engine import x\n"
    names = imported(probe, "sellerpolicy.rules.probe")
    assert _violations(names) == [
        "durable.lang",
        "sellerpolicy.engine",
        "sellerpolicy.engine.facts",
        "sellerpolicy.engine",
        "sellerpolicy.engine.x",
    ]
