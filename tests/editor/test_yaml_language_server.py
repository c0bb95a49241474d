"""Packs in an editor: the real YAML language server, driven over LSP.

Each shipped document opens at its real location, so the schema named on
its first line (``# yaml-language-server: $schema=...``) resolves as it does
in VS Code or Neovim. Without node or the server, the tests skip locally and
fail in CI (``.ci/run`` installs the server from tests/editor/package-lock.json).
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lspkit import ROOT, YAML_LIBRARY, LanguageServer, language_server, node

from sellerpolicy.rules import check_pack
from sellerpolicy.rules.catalog import CATALOG
from sellerpolicy.rules.diagnostics import errors
from sellerpolicy.rules.model import ACTIONS
from sellerpolicy.rules.schema import load_schema

PACKS = sorted(ROOT.glob("policies/*/pack.yaml"))
DOCUMENTS = sorted(
    [*PACKS, *ROOT.glob("policies/*/tests/*.yaml"), ROOT / "tests/rules/data/exemption.yaml"]
)
DEFS = load_schema("rule-pack.schema.json")["$defs"]


@pytest.fixture(scope="module")
def server() -> Iterator[LanguageServer]:
    """One language server for the module's tests."""
    with language_server() as running:
        yield running


def _position(text: str, fragment: str, occurrence: int = 0) -> tuple[int, int]:
    """0-based line and character where the ``occurrence``-th ``fragment`` starts."""
    offset = -1
    for _ in range(occurrence + 1):
        offset = text.index(fragment, offset + 1)
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def _errors(diagnostics: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return [
        (d["range"]["start"]["line"], d["range"]["start"]["character"], d["message"])
        for d in diagnostics
        if d.get("severity", 1) == 1
    ]


@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.parent.name)
def test_a_misspelt_metric_is_flagged_at_its_line(
    server: LanguageServer, pack: Path, tmp_path: Path
) -> None:
    """In each shipped pack, the first metric use's metric misspelt: one error at that
    value, with the schema's errorMessage; sellerpolicy reports the same place."""
    text = pack.read_text(encoding="utf-8")
    metric = next(name for name in CATALOG if f"metric: {name}\n" in text)
    broken = text.replace(f"metric: {metric}\n", f"metric: {metric[:-2]}x{metric[-1]}\n", 1)
    line, character = _position(broken, f"metric: {metric[:-2]}x")
    character += len("metric: ")
    assert _errors(server.open(pack, broken)) == [
        (line, character, DEFS["catalogMetric"]["errorMessage"])
    ]
    copy = tmp_path / "pack.yaml"
    copy.write_text(broken, encoding="utf-8")
    _, found = check_pack(copy)
    assert [(d.code, d.line - 1, d.column - 1) for d in errors(found)] == [
        ("unknown_metric", line, character)
    ]
    assert _errors(server.open(pack)) == []


def test_completion_at_a_metric_value_offers_the_catalog(server: LanguageServer) -> None:
    """At a metric use's ``metric:`` and at a condition's ``metric:`` the server offers
    every catalog metric."""
    pack = ROOT / "policies/amazon/pack.yaml"
    text = pack.read_text(encoding="utf-8")
    assert _errors(server.open(pack)) == []
    line, character = _position(text, "- metric: orders")
    offered = server.completion(pack, line, character + len("- metric: "))
    assert sorted(offered) == sorted(CATALOG)
    line, character = _position(text, "when: {metric: order_defect_rate")
    offered = server.completion(pack, line, character + len("when: {metric: "))
    assert set(CATALOG) <= set(offered)


def test_completion_for_actions_offers_the_builtin_ones(server: LanguageServer) -> None:
    """In a rule's ``actions`` list the server offers the built-in actions."""
    pack = ROOT / "policies/amazon/pack.yaml"
    text = pack.read_text(encoding="utf-8")
    server.open(pack)
    line, character = _position(text, "actions: [suspend]")
    offered = server.completion(pack, line, character + len("actions: ["))
    assert set(ACTIONS) <= set(offered)


def test_hover_shows_the_description(server: LanguageServer) -> None:
    """Hovering a key shows its schema description; hovering a metric, the catalog's
    definition of each metric."""
    pack = ROOT / "policies/amazon/pack.yaml"
    text = pack.read_text(encoding="utf-8")
    server.open(pack)
    rule = DEFS["rule"]["properties"]
    line, character = _position(text, "min_orders: 100")
    assert rule["min_orders"]["description"] in server.hover(pack, line, character + 2)
    line, character = _position(text, "      severity: critical")
    assert rule["severity"]["description"] in server.hover(pack, line, character + 8)
    line, character = _position(text, "- metric: orders")
    shown = server.hover(pack, line, character + 4)
    assert "orders placed in the window" in shown


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_documents_are_clean_in_the_editor(server: LanguageServer, path: Path) -> None:
    """Every shipped pack, pack test and the exemption example: no error in the editor."""
    assert _errors(server.open(path)) == []


def test_pack_tests_and_exemptions_are_checked_through_the_pack_schema(
    server: LanguageServer,
) -> None:
    """Their ids and dates are defined in rule-pack.schema.json: the cross-file
    ``$ref`` resolves in the editor, with the pack schema's messages."""
    fixture = ROOT / "policies/amazon/tests/scenarios.yaml"
    text = fixture.read_text(encoding="utf-8").replace(
        "metadata: {pack: amazon-seller-performance}", "metadata: {pack: Amazon_Pack}"
    )
    line, character = _position(text, "Amazon_Pack")
    assert _errors(server.open(fixture, text)) == [
        (line, character, DEFS["kebabId"]["errorMessage"])
    ]
    server.open(fixture)
    exemption = ROOT / "tests/rules/data/exemption.yaml"
    text = exemption.read_text(encoding="utf-8").replace("2026-12-31", "31/12/2026")
    line, character = _position(text, "31/12/2026")
    assert _errors(server.open(exemption, text)) == [
        (line, character, DEFS["date"]["errorMessage"])
    ]
    server.open(exemption)


def test_the_editor_reads_yaml_as_sellerpolicy_does(server: LanguageServer) -> None:
    """``min_orders: 1:40`` is text to both (an error); ``gte: 1e-2`` a number to both."""
    pack = ROOT / "policies/amazon/pack.yaml"
    text = pack.read_text(encoding="utf-8")
    text = text.replace("min_orders: 100\n", "min_orders: 1:40\n", 1)
    text = text.replace("gte: 1%}", "gte: 1e-2}", 1)
    line, character = _position(text, "1:40")
    assert [(ln, ch) for ln, ch, _ in _errors(server.open(pack, text))] == [(line, character)]
    server.open(pack)


def _traps() -> ModuleType:
    """tests/rules/dialect_traps.py, the corpus shared with tests/rules."""
    spec = importlib.util.spec_from_file_location(
        "dialect_traps_for_editor", ROOT / "tests/rules/dialect_traps.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


#: The language server's own parse (yamlParser07.js): yaml's Composer, YAML 1.2, not strict.
_READ = """
const YAML = require(process.argv[1]);
const traps = JSON.parse(require("fs").readFileSync(0, "utf8"));
const show = (v) => typeof v === "number" && !Number.isFinite(v) ? {special: String(v)} : v;
console.log(JSON.stringify(traps.map(({text, key}) => {
  const doc = YAML.parseDocument(text, {strict: false, version: "1.2", keepSourceTokens: true});
  const pair = doc.contents.items[0];
  const node = key ? pair.key : pair.value;
  const value = node === null ? null : node.value;
  const type = value === null ? "null" : typeof value;
  return {errors: doc.errors.length, type, value: show(value)};
})));
"""


def test_the_editor_s_yaml_library_reads_the_trap_corpus_as_sellerpolicy_does() -> None:
    """Every trap sellerpolicy accepts, the editor's YAML library (yaml, as the server
    runs it) reads to the same value; the ones refused are a non-string key, a
    non-finite number, or a number YAML 1.1 reads otherwise."""
    executable = node()  # skips (fails in CI) without node or the server, which needs yaml
    traps = _traps()
    listed = [{"text": trap.document, "key": trap.key} for trap in traps.TRAPS]
    result = subprocess.run(
        [executable, "-e", _READ, str(YAML_LIBRARY)],
        input=json.dumps(listed),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    readings = json.loads(result.stdout)
    for trap, read in zip(traps.TRAPS, readings, strict=True):
        label = f"{'key' if trap.key else 'value'} {trap.text!r}: {read}"
        assert read["errors"] == 0, label
        value = read["value"]
        if isinstance(trap.reads, traps.Refused):
            code = trap.reads.code
            if code == "yaml_key_type":
                assert read["type"] != "string", label
            elif code == "non_finite_number":
                assert value in (
                    {"special": "Infinity"},
                    {"special": "-Infinity"},
                    {"special": "NaN"},
                ), label
            else:
                assert code == "yaml_dialect", label
                assert read["type"] == "number", label
                assert value != trap.yaml11, label
        elif trap.reads is None:
            assert read["type"] == "null", label
        elif isinstance(trap.reads, bool):
            assert (read["type"], value) == ("boolean", trap.reads), label
        elif isinstance(trap.reads, int | float):
            assert read["type"] == "number", label
            assert math.isclose(value, trap.reads), label
        else:
            assert (read["type"], value) == ("string", trap.reads), label
