"""One YAML dialect: packs mean what YAML 1.2 (and so every editor) says they mean.

The corpus (``dialect_traps.py``) lists the plain scalars YAML 1.1 and 1.2
read differently, and controls they agree on. sellerpolicy reads each one as
YAML 1.2 does, or refuses it with a located diagnostic when the two
dialects give different numbers (``010``).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from dialect_traps import TRAPS, Refused, Trap
from rulekit import VALID, check_text, variant

from sellerpolicy.rules.loader import parse_text, yaml11_reading
from sellerpolicy.rules.model import Compare, Op


def _same(first: object, second: object) -> bool:
    """Equal and of the same type (1, 1.0 and True are three readings); NaN is NaN."""
    if isinstance(first, float) and isinstance(second, float) and math.isnan(first):
        return math.isnan(second)
    return type(first) is type(second) and first == second


def _ids(trap: Trap) -> str:
    return f"{'key' if trap.key else 'value'}:{trap.text}"


def _sellerpolicy_reading(trap: Trap) -> tuple[object, list[tuple[str, int, int, str]]]:
    document, found = parse_text(trap.document, "traps.yaml")
    located = [(d.code, d.line, d.column, d.json_path) for d in found]
    if document is None:
        return None, located
    data = document.data
    return (next(iter(data)) if trap.key else data["value"]), located


def test_the_corpus_covers_the_known_traps() -> None:
    """Sexagesimal, 1.1 booleans as keys and values, exponents, octals, separators,
    infinities, nulls, hexadecimals and timestamps are all in it, with controls."""
    values = {t.text for t in TRAPS if not t.key}
    keys = {t.text for t in TRAPS if t.key}
    assert {"1:40", "1e-2", "0o10", "010", "1_000", ".inf", "~", "0x1F", "2026-01-01"} <= values
    assert {"on", "off", "yes", "no", "y", "n"} <= values
    assert {"on", "off", "yes", "no", "y", "n"} <= keys
    assert sum(t.differs for t in TRAPS) >= 25
    assert sum(not t.differs for t in TRAPS) >= 10


@pytest.mark.parametrize("trap", TRAPS, ids=_ids)
def test_yaml_1_1_reads_the_trap_as_recorded(trap: Trap) -> None:
    """The ``yaml11`` column is what PyYAML's safe_load really reads."""
    loaded = yaml.safe_load(trap.document)
    reading = next(iter(loaded)) if trap.key else loaded["value"]
    assert _same(reading, trap.yaml11)


@pytest.mark.parametrize("trap", TRAPS, ids=_ids)
def test_sellerpolicy_reads_the_trap_as_yaml_1_2(trap: Trap) -> None:
    """The value YAML 1.2 gives, with no finding; or the recorded refusal at the scalar."""
    reading, located = _sellerpolicy_reading(trap)
    if isinstance(trap.reads, Refused):
        where = (1, 1, "$") if trap.key else (1, 8, "$.value")
        assert located == [(trap.reads.code, *where)]
    else:
        assert located == []
        assert _same(reading, trap.reads)


def test_the_pure_python_parser_reads_the_corpus_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml marks plain scalars with style '' and PyYAML with None: same readings."""
    fast = [_sellerpolicy_reading(trap) for trap in TRAPS]
    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    slow = [_sellerpolicy_reading(trap) for trap in TRAPS]
    assert all(_same(f[0], s[0]) and f[1] == s[1] for f, s in zip(fast, slow, strict=True)), TRAPS


@pytest.mark.parametrize(
    "trap", [t for t in TRAPS if not t.key and not t.text.startswith("2026")], ids=_ids
)
def test_the_yaml_1_1_reading_used_for_checks_is_pyyaml_s(trap: Trap) -> None:
    """``yaml11_reading`` (behind ``yaml_dialect`` and the schema's hints) agrees with
    safe_load on every value trap but timestamps, which it keeps as text."""
    assert _same(yaml11_reading(trap.text), trap.yaml11)


def test_an_ambiguous_number_is_located_with_file_line_column_and_key_path(
    tmp_path: Path,
) -> None:
    """``min_orders: 010`` in a pack: the file, the line and column of the value,
    the key path, both readings and how to write it."""
    text = variant("      severity: high\n", "      severity: high\n      min_orders: 010\n")
    pack, found = check_text(tmp_path, text)
    assert pack is None
    assert [d.render() for d in found] == [
        f"{tmp_path / 'pack.yaml'}:24:19: yaml_dialect: $.spec.rules[0].min_orders: "
        "'010' is 10 in YAML 1.2, which sellerpolicy and editors read, but 8 in YAML 1.1 "
        "(write 10 without the leading 0, or 0o10 for octal 8)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "code", "hint"),
    [
        (
            "      severity: high\n",
            "      severity: high\n      min_orders: 1:40\n",
            "schema_type",
            "YAML 1.2 reads 1:40 as text; YAML 1.1 read it as 100",
        ),
        (
            "gte: 1%}",
            "gte: 1_000}",
            "schema_anyOf",
            "YAML 1.2 reads 1_000 as text; YAML 1.1 read it as 1000",
        ),
    ],
)
def test_text_that_yaml_1_1_read_as_a_number_says_so(
    tmp_path: Path, old: str, new: str, code: str, hint: str
) -> None:
    """Where the schema wants a number and YAML 1.2 gives text, the hint names the
    dialect (the editor reports the same value as text)."""
    _, found = check_text(tmp_path, variant(old, new))
    assert [(d.code, d.hint) for d in found] == [(code, hint)]


def test_yaml_1_2_numbers_and_keys_are_what_the_pack_means(tmp_path: Path) -> None:
    """``gte: 1e-2`` is 0.01 (YAML 1.1 read the text '1e-2', which the schema refused);
    ``on:`` is the text key 'on', an unknown key like any other."""
    pack, found = check_text(tmp_path, variant("gte: 1%}", "gte: 1e-2}"))
    assert pack is not None, [d.render() for d in found]
    assert pack.rules[0].when == Compare("order_defect_rate", Op.GTE, 0.01)
    _, found = check_text(
        tmp_path, variant("      severity: high\n", "      severity: high\n      on: true\n")
    )
    assert [(d.code, d.json_path, d.line, d.column) for d in found] == [
        ("schema_additionalProperties", "$.spec.rules[0].on", 24, 7)
    ]


def test_yaml_directives(tmp_path: Path) -> None:
    """``%YAML 1.2`` is welcome; ``%YAML 1.1`` (which editors would honour) is refused."""
    pack, found = check_text(tmp_path, "%YAML 1.2\n---\n" + VALID)
    assert pack is not None, [d.render() for d in found]
    _, found = check_text(tmp_path, "%YAML 1.1\n---\n" + VALID)
    assert [(d.code, d.line, d.column, d.hint) for d in found] == [
        ("yaml_version", 1, 1, "remove the %YAML directive")
    ]
