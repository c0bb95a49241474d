"""The rule-pack language stays pure: nothing under rules/ reaches the runtime."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "rules"
FORBIDDEN = ("sellerpolicy.engine", "durable", "duckdb", "sqlalchemy", "httpx", "fastapi")


def _imports(path: Path) -> list[str]:
    """Absolute module names imported by one file (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.append(node.module)
            elif node.level == 1:
                names.append(f"sellerpolicy.rules.{node.module or ''}".rstrip("."))
            else:
                names.append("." * node.level + (node.module or ""))
    return names


def _rules_files() -> list[Path]:
    return sorted(RULES.glob("**/*.py"))


def test_rules_folder_has_modules() -> None:
    """The layering check below really looks at the rules package."""
    assert len(_rules_files()) >= 10


@pytest.mark.parametrize("path", _rules_files(), ids=lambda p: p.name)
def test_module_imports_nothing_from_runtime(path: Path) -> None:
    """No module under rules/ imports sellerpolicy.engine, durable or other runtime
    parts, and none climbs out of the package with a relative import."""
    for name in _imports(path):
        assert not name.startswith(".."), f"{path.name} imports {name} (outside rules/)"
        for forbidden in FORBIDDEN:
            assert name != forbidden, f"{path.name} imports {name}"
            assert not name.startswith(forbidden + "."), f"{path.name} imports {name}"


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The import scanner sees engine imports in every spelling."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import durable.lang\nfrom sellerpolicy.engine import facts\nfrom ..engine import x\n"
    )
    assert _imports(probe) == ["durable.lang", "sellerpolicy.engine", "..engine"]
