"""Stage 1: YAML loading keeps positions, finds duplicate keys and stays bounded."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
import yaml

from sellerpolicy.rules.loader import MAX_FILE_BYTES, MAX_NODES, Position, load_yaml, parse_text

DOC = """\
a: 1
b:
  c: [x, {d: 2026-01-01}]
  'odd key': yes
"""


def test_positions_are_one_based_for_values_and_keys() -> None:
    """Every value and key is indexed by its JSON path with 1-based line:column."""
    document, found = parse_text(DOC, "f.yaml")
    assert found == []
    assert document is not None
    assert document.positions["$"] == Position(1, 1)
    assert document.positions["$.a"] == Position(1, 4)
    assert document.positions["$.b.c"] == Position(3, 6)
    assert document.positions["$.b.c[1].d"] == Position(3, 14)
    assert document.key_positions["$.b.c"] == Position(3, 3)
    assert document.positions["$.b['odd key']"] == Position(4, 14)


def test_dates_stay_strings_and_plain_data_comes_back() -> None:
    """Timestamps are not converted (the schema decides); other scalars are typed
    as YAML 1.2 types them (``yes`` is text: tests/rules/test_yaml_dialect.py)."""
    document, _ = parse_text(DOC, "f.yaml")
    assert document is not None
    assert document.data == {"a": 1, "b": {"c": ["x", {"d": "2026-01-01"}], "odd key": "yes"}}


def test_locate_falls_back_to_nearest_written_parent() -> None:
    """A path that was never written (a missing key) is located at its parent."""
    document, _ = parse_text(DOC, "f.yaml")
    assert document is not None
    assert document.locate("$.b.c[1].missing") == Position(3, 10)
    assert document.locate("$.nowhere.deeper") == Position(1, 1)


def test_duplicate_key_is_reported_at_the_second_key() -> None:
    """PyYAML would keep the last value silently; we report the repeat and keep the first."""
    document, found = parse_text("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert document is not None
    assert document.data == {"a": 1, "b": 2}
    assert [(d.code, d.line, d.column, d.json_path) for d in found] == [
        ("duplicate_key", 3, 1, "$.a")
    ]
    assert "first at line 1" in found[0].message


def test_billion_laughs_is_rejected_quickly() -> None:
    """A nine-level alias bomb is refused with alias_limit in well under a second."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghi"
    for prev, cur in itertools.pairwise(names):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    document, found = parse_text("\n".join(lines) + "\n", "bomb.yaml")
    elapsed = time.perf_counter() - started
    assert document is None
    assert [d.code for d in found] == ["alias_limit"]
    assert elapsed < 0.5, f"took {elapsed:.3f}s"


def test_a_few_aliases_are_fine() -> None:
    """Ordinary anchors and aliases (sharing one source) still load."""
    text = "s: &s {url: u}\nr: [{source: *s}, {source: *s}]\n"
    document, found = parse_text(text, "f.yaml")
    assert found == []
    assert document is not None
    assert document.data["r"] == [{"source": {"url": "u"}}, {"source": {"url": "u"}}]


def test_recursive_alias_is_rejected() -> None:
    """A self-referencing anchor cannot be expanded and is reported, not looped on."""
    document, found = parse_text("a: &a [1, *a]\n", "f.yaml")
    assert document is None
    assert [d.code for d in found] == ["alias_limit"]


def test_too_many_nodes_is_rejected() -> None:
    """Documents beyond the node budget are refused as document_too_large."""
    text = "a: [" + ",".join(["1"] * (MAX_NODES + 10)) + "]\n"
    document, found = parse_text(text, "f.yaml")
    assert document is None
    assert [d.code for d in found] == ["document_too_large"]


def test_too_deep_is_rejected() -> None:
    """Deep nesting is refused before it can exhaust the stack."""
    document, found = parse_text("a: " + "[" * 100 + "]" * 100 + "\n", "f.yaml")
    assert document is None
    assert [d.code for d in found] == ["document_too_large"]


def test_oversized_file_is_rejected_without_parsing(tmp_path: Path) -> None:
    """A file over the byte limit is refused from its size alone."""
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * MAX_FILE_BYTES + "\n")
    document, found = load_yaml(path)
    assert document is None
    assert [d.code for d in found] == ["document_too_large"]


@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    [
        ("a: 1\n\tb: 2\n", "yaml_syntax", 2, 1),
        ("a: [1, 2\n", "yaml_syntax", 2, 1),
        ("a: !!python/object:os.system x\n", "yaml_tag", 1, 4),
        ("a: !!set {x}\n", "yaml_tag", 1, 4),
        ("true: 1\n", "yaml_key_type", 1, 1),
        ("1: x\n", "yaml_key_type", 1, 1),
        ("b: &b {x: 1}\na: {<<: *b}\n", "yaml_merge_key", 2, 5),
        ("---\na: 1\n---\nb: 2\n", "yaml_syntax", 3, 1),
    ],
)
def test_bad_yaml_is_a_located_diagnostic(text: str, code: str, line: int, column: int) -> None:
    """Syntax errors, unsafe tags, non-string keys and merge keys are diagnostics."""
    document, found = parse_text(text, "f.yaml")
    assert document is None
    assert [(d.code, d.line, d.column) for d in found] == [(code, line, column)]


def test_empty_document_is_reported() -> None:
    """A file with only comments is not a document."""
    document, found = parse_text("# nothing\n", "f.yaml")
    assert document is None
    assert [d.code for d in found] == ["empty_document"]


def test_unreadable_and_non_utf8_files_are_diagnostics(tmp_path: Path) -> None:
    """Missing files and bad encodings come back as diagnostics naming the file."""
    _, missing = load_yaml(tmp_path / "absent.yaml")
    assert [d.code for d in missing] == ["unreadable"]
    assert missing[0].file.endswith("absent.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("a: caf\xe9\n".encode("latin-1"))
    _, bad = load_yaml(latin)
    assert [d.code for d in bad] == ["not_utf8"]


def test_non_finite_numbers_are_reported() -> None:
    """.nan and .inf have no JSON form and no meaning as thresholds."""
    document, found = parse_text("a: .nan\nb: [-.inf]\n", "f.yaml")
    assert document is not None
    assert [(d.code, d.json_path, d.line, d.column) for d in found] == [
        ("non_finite_number", "$.a", 1, 4),
        ("non_finite_number", "$.b[0]", 2, 5),
    ]


def test_pure_python_parser_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml the pure-Python parser is used, with the same data and positions."""
    fast, fast_found = parse_text(DOC, "f.yaml")
    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    slow, slow_found = parse_text(DOC, "f.yaml")
    assert fast is not None
    assert slow is not None
    assert (slow.data, dict(slow.positions)) == (fast.data, dict(fast.positions))
    assert slow_found == fast_found == []
    _, tab = parse_text("a: 1\n\tb: 2\n", "f.yaml")
    assert [(d.code, d.line, d.column) for d in tab] == [("yaml_syntax", 2, 1)]
