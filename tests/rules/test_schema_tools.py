"""The schemas as other tools read them: editors (completion, hover, messages), check-jsonschema.

The YAML language server completes from ``enum`` and ``examples``, shows
``description`` on hover and ``errorMessage`` on a failure; check-jsonschema
resolves ``$ref`` against the schema file's own location. These tests keep
the schemas in step with the catalog and the action vocabulary, and run
check-jsonschema on every shipped document exactly as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from rulekit import DATA, VALID, check_text, variant

from sellerpolicy.rules.api import document_kind
from sellerpolicy.rules.catalog import CATALOG
from sellerpolicy.rules.loader import load_yaml
from sellerpolicy.rules.model import ACTIONS
from sellerpolicy.rules.schema import SCHEMA_FILES, load_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
MODELINE = "# yaml-language-server: $schema="


def _walk(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema (a mapping) under ``node``, with its JSON pointer."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def _pointer(schema: dict[str, Any], pointer: str) -> Any:
    node: Any = schema
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node


def shipped_documents() -> list[Path]:
    """Every pack, pack test and exemption shipped, and the exemption example of the docs."""
    return sorted([*ROOT.glob("policies/**/*.yaml"), DATA / "exemption.yaml"])


def _kind(path: Path) -> str:
    document, found = load_yaml(path)
    assert document is not None, [d.render() for d in found]
    return document_kind(document, "")


def test_the_schema_lists_the_catalog_and_the_builtin_actions() -> None:
    """Metric uses name a catalog metric (an enum, with each metric's kind and definition);
    conditions and dimensions suggest catalog names and actions the built-in ones
    (``examples``: pack-defined names stay valid). Any drift from ``rules/catalog.py``
    or ``rules/model.py`` fails here."""
    defs = load_schema("rule-pack.schema.json")["$defs"]
    catalog = list(CATALOG)
    assert defs["catalogMetric"]["enum"] == catalog, "copy list(CATALOG) into $defs.catalogMetric"
    assert defs["catalogMetric"]["enumDescriptions"] == [
        f"{spec.kind.value}: {spec.doc}" for spec in CATALOG.values()
    ]
    assert defs["useName"]["examples"] == catalog
    assert defs["action"]["examples"] == list(ACTIONS)
    assert "enum" not in defs["action"]
    actions = load_schema("rule-pack.schema.json")["$defs"]["actionList"]["items"]
    assert actions == {"$ref": "#/$defs/action"}
    expected = load_schema("pack-test.schema.json")["$defs"]["expect"]["properties"]["actions"]
    assert expected["items"] == {"$ref": "rule-pack.schema.json#/$defs/action"}


@pytest.mark.parametrize("file_name", sorted(SCHEMA_FILES.values()))
def test_every_property_has_hover_text(file_name: str) -> None:
    """Each property of each object carries a ``description`` (the editor's hover)."""
    missing = [
        f"{where}/properties/{name}"
        for where, node in _walk(load_schema(file_name))
        if isinstance(node.get("properties"), dict)
        for name, sub in node["properties"].items()
        if not (isinstance(sub, dict) and str(sub.get("description", "")).strip())
    ]
    assert missing == []


def test_every_x_message_has_an_error_message() -> None:
    """Beside each ``x-message`` (sellerpolicy's text) an ``errorMessage`` (the editor's)."""
    messages = [
        (f"{name}{where}", node)
        for name in sorted(SCHEMA_FILES.values())
        for where, node in _walk(load_schema(name))
        if "x-message" in node
    ]
    assert len(messages) > 10
    for where, node in messages:
        assert str(node.get("errorMessage", "")).strip(), where


@pytest.mark.parametrize("file_name", sorted(SCHEMA_FILES.values()))
def test_references_resolve_from_the_files_as_shipped(file_name: str) -> None:
    """No ``$id`` moves the base away from the file: every ``$ref`` is in-file or a
    sibling file, and names a subschema that exists."""
    schema = load_schema(file_name)
    assert "$id" not in schema
    refs = [node["$ref"] for _, node in _walk(schema) if isinstance(node.get("$ref"), str)]
    assert refs
    for ref in refs:
        target, _, pointer = ref.partition("#")
        assert "/" not in target, ref
        assert ":" not in target, ref
        if target:
            assert (SCHEMAS / target).is_file(), ref
        _pointer(load_schema(target) if target else schema, pointer)


def test_every_shipped_document_names_its_schema_on_its_first_line() -> None:
    """Packs, pack tests and exemptions open with the language server's modeline,
    pointing (relative to the file) at the schema of their kind."""
    documents = shipped_documents()
    kinds = {_kind(path) for path in documents}
    assert kinds == set(SCHEMA_FILES)
    for path in documents:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(MODELINE), path
        target = (path.parent / first.removeprefix(MODELINE)).resolve()
        assert target == SCHEMAS / SCHEMA_FILES[_kind(path)], path


def _check_jsonschema(
    schema: Path, files: list[Path], cwd: Path
) -> subprocess.CompletedProcess[str]:
    if find_spec("check_jsonschema") is None:
        if os.environ.get("CI"):
            pytest.fail("check-jsonschema is missing in CI (the dev extra installs it)")
        pytest.skip("check-jsonschema is missing (pip install -e '.[dev]')")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema), *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_jsonschema_validates_every_shipped_document_without_flags(tmp_path: Path) -> None:
    """check-jsonschema, run from an unrelated folder with only ``--schemafile``,
    accepts every shipped pack, pack test and exemption (no ``--base-uri``)."""
    by_kind: dict[str, list[Path]] = {}
    for path in shipped_documents():
        by_kind.setdefault(_kind(path), []).append(path)
    for kind, files in sorted(by_kind.items()):
        result = _check_jsonschema(SCHEMAS / SCHEMA_FILES[kind], files, tmp_path)
        assert result.returncode == 0, (kind, result.stdout, result.stderr)
        assert "ok -- validation done" in result.stdout


def test_check_jsonschema_rejects_a_misspelt_metric_and_a_bad_cross_file_value(
    tmp_path: Path,
) -> None:
    """The same run fails on a metric outside the catalog (in-file ``$ref``) and on a
    pack test whose pack id breaks the rule pack's kebabId (cross-file ``$ref``)."""
    pack = tmp_path / "pack.yaml"
    pack.write_text(variant("metric: late_shipment_rate\n", "metric: late_shipmnt_rate\n"))
    result = _check_jsonschema(SCHEMAS / "rule-pack.schema.json", [pack], tmp_path)
    assert result.returncode == 1
    assert "late_shipmnt_rate" in result.stdout
    fixture = tmp_path / "cases.yaml"
    fixture.write_text(
        "apiVersion: sellerpolicy/v1\nkind: PackTest\nmetadata: {pack: Small_Pack}\n"
        "cases: [{name: one, facts: {}, expect: {status: healthy}}]\n"
    )
    result = _check_jsonschema(SCHEMAS / "pack-test.schema.json", [fixture], tmp_path)
    assert result.returncode == 1
    assert "Small_Pack" in result.stdout


def test_a_misspelt_metric_keeps_its_code_message_and_suggestion(tmp_path: Path) -> None:
    """sellerpolicy reads the same enum as ``unknown_metric`` with a suggestion,
    its own ``x-message``, not the editor's ``errorMessage``."""
    _, found = check_text(
        tmp_path, variant("metric: late_shipment_rate\n", "metric: late_shipmnt_rate\n")
    )
    assert [(d.code, d.json_path, d.message, d.hint) for d in found] == [
        (
            "unknown_metric",
            "$.spec.metrics[1].metric",
            "'late_shipmnt_rate': not a catalog metric",
            "did you mean 'late_shipment_rate'?",
        )
    ]


def test_pack_defined_actions_stay_valid(tmp_path: Path) -> None:
    """Built-in actions are suggestions, not a closed list: a pack declares its own."""
    text = variant("actions: [warn]", "actions: [lose_campaigns]", VALID)
    text = variant(
        "    warn: healthy\n",
        "    lose_campaigns: at_risk\n  actions:\n"
        "    - {id: lose_campaigns, description: Excluded from platform campaigns}\n",
        text,
    )
    pack, found = check_text(tmp_path, text)
    assert pack is not None, [d.render() for d in found]
    assert pack.rules[1].actions == ("lose_campaigns",)
