"""Pack versions follow one grammar, so every stored version can be read and pinned
(``id@version``) and fits the store's column."""

from __future__ import annotations

from pathlib import Path

import pytest
from rulekit import check_text, error_codes, variant

GOOD = 'version: "1"'


@pytest.mark.parametrize(
    "version",
    ["../../x/y", "1@2", "1\\n2", "x" * 65, " 1.0", "-1", ".1", "1/2", "1 2", "1.0?a=b", "é"],
    ids=["path", "at", "newline", "too-long", "space-first", "dash-first", "dot-first",
         "slash", "space", "query", "non-ascii"],
)  # fmt: skip
def test_bad_version_is_a_located_error(tmp_path: Path, version: str) -> None:
    pack, found = check_text(tmp_path, variant(GOOD, f'version: "{version}"'))
    assert pack is None
    assert error_codes(found)
    diag = next(d for d in found if d.json_path == "$.metadata.version")
    assert "a version is 1 to 64 letters" in diag.message
    assert (diag.line, diag.column) == (7, 12)


@pytest.mark.parametrize("version", ["1", "1.4.0", "2026-11", "v2+eu", "1.0.0-rc_1", "9" * 64])
def test_good_versions_validate(tmp_path: Path, version: str) -> None:
    pack, found = check_text(tmp_path, variant(GOOD, f'version: "{version}"'))
    assert pack is not None, [d.render() for d in found]
    assert pack.version == version
