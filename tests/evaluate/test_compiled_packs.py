"""The per-process cache of compiled pack versions is bounded (least recently used)."""

from __future__ import annotations

from datetime import UTC, datetime

from sellerpolicy.engine.store.packs import CompiledPacks, PackState, PackVersion
from sellerpolicy.rules import resolve_pack


def _version(text: str, version: str) -> PackVersion:
    content = text.replace("version: ", f"version: {version}  # was ", 1)
    return PackVersion(
        pack_id="p",
        version=version,
        digest=f"sha256:{version}",
        content=content,
        author="test",
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        state=PackState.DRAFT,
    )


def test_each_version_compiles_once_while_kept_and_the_least_recent_is_dropped() -> None:
    text = resolve_pack("walmart").read_text(encoding="utf-8")
    first, second, third = (_version(text, v) for v in ("1.0.0", "1.0.1", "1.0.2"))
    packs = CompiledPacks(kept=2)
    one = packs.get(first)
    assert packs.get(first) is one  # compiled once
    two = packs.get(second)
    assert packs.get(first) is one  # first is now the most recent
    packs.get(third)  # drops second, the least recently used
    assert packs.get(first) is one
    assert packs.get(second) is not two  # compiled again
    assert packs.get(second).version == "1.0.1"
