"""The invalid-pack corpus: each file names the error code and line:col it must produce."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from sellerpolicy.rules import Level, check_pack

CORPUS = Path(__file__).resolve().parents[1] / "broken_packs"
_EXPECT = re.compile(
    r"^# expect: (?P<code>[a-z_A-Z]+) (?P<line>\d+):(?P<col>\d+)(?: \((?P<hint>.*)\))?$"
)


def _expectation(path: Path) -> tuple[str, int, int, str | None]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = _EXPECT.match(first)
    assert match, f"{path.name}: first line must be '# expect: <code> <line>:<col> [(hint)]'"
    return match["code"], int(match["line"]), int(match["col"]), match["hint"]


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))


def test_corpus_is_large_and_varied() -> None:
    """At least 22 broken packs, covering at least 20 distinct codes."""
    files = _corpus()
    assert len(files) >= 22
    assert len({_expectation(p)[0] for p in files}) >= 20


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.stem)
def test_broken_pack_gives_its_expected_error(path: Path) -> None:
    """The pack is rejected with exactly the recorded error at the recorded line:col
    (and the recorded hint, when there is one), in well under a second."""
    code, line, column, hint = _expectation(path)
    started = time.perf_counter()
    pack, found = check_pack(path)
    elapsed = time.perf_counter() - started
    assert pack is None
    errors = [d for d in found if d.level is Level.ERROR]
    assert [(d.code, d.line, d.column) for d in errors] == [(code, line, column)], [
        d.render() for d in found
    ]
    if hint is not None:
        assert errors[0].hint == hint
    assert errors[0].file == str(path)
    assert elapsed < 1.0
