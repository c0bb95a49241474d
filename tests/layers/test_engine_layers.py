"""engine/ keeps its layers: dependencies point one way along the data flow.

sources <- metrics <- evaluation <- columnar, store <- batch <- change <- service, api <- cli

A module may import from its own subpackage, from a subpackage of a lower
layer, and from the shared modules (``errors``, ``logs``). Two subpackages on
the same layer (``columnar`` and ``store``, ``service`` and ``api``) do not
import each other. Lazy imports inside functions count: they are dependencies
too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importscan import ROOT, file_imports, imported, module_name

ENGINE = ROOT / "engine"
PREFIX = "sellerpolicy.engine"

# Subpackage (or top-level module) of engine/ -> its layer.
LAYERS: dict[str, int] = {
    "": 0,  # the engine package itself
    "errors": 0,
    "logs": 0,
    "client": 0,  # the HTTP client: imports nothing of the engine
    "sources": 1,
    "formats": 1,
    "metrics": 2,
    "generate": 2,
    "evaluation": 3,
    "importers": 3,
    "columnar": 4,
    "store": 4,
    "batch": 5,
    "change": 6,
    "service": 7,
    "api": 7,
    "cli": 8,
}


def unit_of(module: str) -> str | None:
    """The layer unit (first name under ``sellerpolicy.engine``) of an engine module."""
    if module == PREFIX:
        return ""
    if not module.startswith(PREFIX + "."):
        return None
    return module[len(PREFIX) + 1 :].split(".", maxsplit=1)[0]


def violations(module: str, names: list[str]) -> list[str]:
    """The imports of ``module`` that point upward or sideways."""
    here = unit_of(module)
    assert here in LAYERS, f"{module} is in no layer: add its folder to LAYERS"
    bad = []
    for name in names:
        there = unit_of(name)
        if there is None or there == here:
            continue
        if there not in LAYERS:
            bad.append(f"{name} (not a module of engine/)")
        elif LAYERS[there] >= LAYERS[here] and there != "":
            bad.append(name)
    return bad


def _engine_files() -> list[Path]:
    return sorted(ENGINE.glob("**/*.py"))


def test_every_folder_is_a_layer() -> None:
    """Each subpackage and top-level module of engine/ has a layer, and the check
    looks at real files."""
    units = {unit_of(module_name(p, "engine")) for p in _engine_files()}
    assert units == set(LAYERS)
    assert len(_engine_files()) >= 60


@pytest.mark.parametrize(
    "path", _engine_files(), ids=lambda p: str(p.relative_to(ENGINE)).replace("/", ".")
)
def test_module_imports_only_downward(path: Path) -> None:
    module = module_name(path, "engine")
    assert violations(module, file_imports(path, "engine")) == []


@pytest.mark.parametrize(
    "source",
    [
        "from sellerpolicy.engine.service.app import create_app\n",
        "from ..service import app\n",
        "def lazy() -> None:\n    from sellerpolicy.engine.batch.run import run_evaluation\n",
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..evaluation.decision import Decision\n",
        "import sellerpolicy.engine.cli.app\n",
    ],
)
def test_planted_upward_import_is_detected(source: str) -> None:
    """An import from a higher layer, in any spelling, is reported."""
    module = "sellerpolicy.engine.sources.planted"
    assert violations(module, imported(source, module)) != []


def test_planted_sideways_import_is_detected() -> None:
    """columnar and store share a layer; neither may import the other."""
    module = "sellerpolicy.engine.columnar.planted"
    source = "from ..store.decisions import DecisionStore\n"
    assert violations(module, imported(source, module)) == [
        "sellerpolicy.engine.store.decisions",
        "sellerpolicy.engine.store.decisions.DecisionStore",
    ]


def test_downward_and_shared_imports_pass() -> None:
    module = "sellerpolicy.engine.batch.planted"
    source = (
        "from ..errors import SourceError\n"
        "from sellerpolicy.engine.evaluation.evaluate import evaluate\n"
        "from .run import run_evaluation\n"
        "from sellerpolicy.rules.model import CompiledPack\n"
    )
    assert violations(module, imported(source, module)) == []
