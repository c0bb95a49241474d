"""docs/metrics.md keeps up with the catalog of ``rules/catalog.py``.

Every catalog metric has a ``### `name``` section under ``## Metrics`` whose
``**Kind:**`` line is the metric's kind and whose ``**Knobs:**`` line lists
exactly its knobs with their catalog defaults; every knob has a section under
``## Knobs`` naming every metric that reads it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import Enum
from pathlib import Path

import pytest

from sellerpolicy.rules.catalog import CATALOG, DAILY_SCORE, Knob
from sellerpolicy.rules.durations import format_duration, parse_duration

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
_H2 = re.compile(r"^## (.+)$", re.MULTILINE)
_H3 = re.compile(r"^### `([a-z_]+)`$", re.MULTILINE)
_KIND = re.compile(r"^- \*\*Kind:\*\* (\w+)$", re.MULTILINE)
_KNOBS = re.compile(r"^- \*\*Knobs:\*\* (.+)$", re.MULTILINE)
_KNOB_VALUE = re.compile(r"`([a-z_]+)` = `([^`]*)`")


def _chapter(text: str, title: str) -> str:
    """The text of the ``## title`` chapter, up to the next ``##``."""
    heads = list(_H2.finditer(text))
    for i, head in enumerate(heads):
        if head.group(1).strip() == title:
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            return text[head.end() : end]
    raise AssertionError(f"docs/metrics.md has no '## {title}' chapter")


def _sections(chapter: str) -> dict[str, str]:
    """``### `name``` sections of a chapter, by name."""
    heads = list(_H3.finditer(chapter))
    out: dict[str, str] = {}
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(chapter)
        assert head.group(1) not in out, f"two sections for {head.group(1)!r}"
        out[head.group(1)] = chapter[head.end() : end]
    return out


def _spelled(value: object) -> str:
    """A catalog default as the document writes it."""
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(value)) + "]"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):  # as YAML writes it
        return str(value).lower()
    return str(value)


def _read_knobs(line: str) -> dict[str, str]:
    if line.strip() == "none":
        return {}
    pairs = _KNOB_VALUE.findall(line)
    assert pairs, f"cannot read the knobs line {line!r}"
    out: dict[str, str] = {}
    for name, written in pairs:
        value = written
        if written.startswith("["):
            value = "[" + ", ".join(sorted(v.strip() for v in written[1:-1].split(","))) + "]"
        elif re.fullmatch(r"[0-9]+[hd]", written):
            value = format_duration(parse_duration(written))  # 24h and 1d are one duration
        out[name] = value
    return out


TEXT = DOC.read_text(encoding="utf-8")
METRICS = _sections(_chapter(TEXT, "Metrics"))
KNOBS = _sections(_chapter(TEXT, "Knobs"))


def test_every_catalog_metric_and_no_other_has_a_section() -> None:
    assert sorted(METRICS) == sorted(CATALOG)


def test_the_metric_of_a_daily_average_has_its_section() -> None:
    """Not in the catalog (packs do not declare it), documented apart."""
    derived = _sections(_chapter(TEXT, "Metrics a score declares"))
    assert sorted(derived) == [DAILY_SCORE]
    assert "- **Kind:** score" in derived[DAILY_SCORE]


def test_every_knob_and_no_other_has_a_section() -> None:
    assert sorted(KNOBS) == sorted(knob.value for knob in Knob)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_metric_section_states_the_kind_and_the_knob_defaults(name: str) -> None:
    spec = CATALOG[name]
    section = METRICS[name]
    kind = _KIND.search(section)
    knobs = _KNOBS.search(section)
    assert kind is not None, f"{name}: no '- **Kind:**' line"
    assert knobs is not None, f"{name}: no '- **Knobs:**' line"
    assert kind.group(1) == spec.kind.value
    expected = {knob.value: _spelled(spec.defaults[knob]) for knob in spec.knobs}
    assert _read_knobs(knobs.group(1)) == expected
    assert len(section.split()) > 15, f"{name}: the section defines nothing"


@pytest.mark.parametrize("knob", sorted(Knob, key=lambda k: k.value))
def test_knob_section_names_every_metric_reading_it(knob: Knob) -> None:
    section = KNOBS[knob.value]
    readers = {name for name, spec in CATALOG.items() if knob in spec.knobs}
    named = set(re.findall(r"`([a-z_]+)`", section)) & set(CATALOG)
    assert named == readers


def test_the_knob_spelling_is_read_back() -> None:
    # the parser under the tests above must see a wrong default as wrong
    line = "`claim_statuses` = `[granted, open]`, `late_after` = `48h`"
    assert _read_knobs(line) == {"claim_statuses": "[granted, open]", "late_after": "2d"}
    assert _read_knobs(line) != {"claim_statuses": "[granted]", "late_after": "2d"}
