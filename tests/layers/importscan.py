"""Which modules a Python file imports, with relative imports resolved.

Every import counts: at the top, inside a function (a lazy import is still a
dependency) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path, top: str) -> str:
    """The dotted name of ``path`` inside the top-level folder ``top`` (``rules``, ``engine``)."""
    rel = path.relative_to(ROOT / top).with_suffix("")
    parts = ["sellerpolicy", top, *rel.parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Absolute names of the modules imported by ``source``, the text of ``module``.

    ``from pkg import name`` yields ``pkg.name`` as well as ``pkg``, since the
    name may be a submodule.
    """
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                up = node.level - 1
                base = base[: len(base) - up] if up else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.append(target)
            names.extend(f"{target}.{alias.name}" for alias in node.names)
    return names


def file_imports(path: Path, top: str) -> list[str]:
    """Absolute names of the modules one file under ``top`` imports."""
    return imported(
        path.read_text(encoding="utf-8"),
        module_name(path, top),
        is_package=path.name == "__init__.py",
    )
