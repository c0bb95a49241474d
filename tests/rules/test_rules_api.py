"""The public API: resolving shipped packs, and its exported names."""

from __future__ import annotations

from pathlib import Path

import pytest
from rulekit import EXAMPLE

import sellerpolicy.rules as api
from sellerpolicy.rules import PackError, resolve_pack, shipped_packs


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and every name in it exists."""
    assert api.__all__ == sorted(api.__all__)
    for name in api.__all__:
        assert hasattr(api, name), name


def test_shipped_packs_are_found_through_the_package() -> None:
    """shipped_packs lists policies/<name>/pack.yaml inside sellerpolicy.policies."""
    packs = shipped_packs()
    assert packs == sorted(packs)
    assert all(p.name == "pack.yaml" and p.is_file() for p in packs)
    for pack in packs:
        assert resolve_pack(pack.parent.name) == pack


def test_resolve_accepts_files_and_folders(tmp_path: Path) -> None:
    """A file path resolves to itself, a folder to its pack.yaml."""
    assert resolve_pack(EXAMPLE) == EXAMPLE
    (tmp_path / "pack.yaml").write_text("x: 1\n")
    assert resolve_pack(tmp_path) == tmp_path / "pack.yaml"
    assert resolve_pack(str(tmp_path)) == tmp_path / "pack.yaml"


def test_unknown_reference_is_a_pack_error(tmp_path: Path) -> None:
    """An unknown name raises PackError with pack_not_found; an empty folder too."""
    with pytest.raises(PackError) as raised:
        resolve_pack("no-such-marketplace")
    assert [d.code for d in raised.value.diagnostics] == ["pack_not_found"]
    with pytest.raises(PackError):
        resolve_pack(tmp_path)


def test_shipped_packs_have_no_errors() -> None:
    """Every pack shipped in sellerpolicy.policies compiles (warnings allowed)."""
    packs = shipped_packs()
    assert packs, "no shipped packs found"
    for path in packs:
        pack, found = api.check_pack(path)
        assert pack is not None, [d.render() for d in found]
        assert all(d.level is api.Level.WARNING for d in found)
