"""Pack references of the policy-change commands: a shipped name, a path, or ``id@version``.

``diff``, ``impact`` and ``backtest`` compare packs that may live on disk (a
shipped name such as ``amazon``, a folder, a ``pack.yaml``) or in the pack
store of a service (``amazon-seller-performance@2026.12.0``): the stored
YAML text is compiled with the same checks as an upload.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.rules import load_pack

if TYPE_CHECKING:
    from sellerpolicy.engine.store.decisions import DecisionStore
    from sellerpolicy.rules.model import CompiledPack

__all__ = ["is_stored_ref", "resolve_pack"]


def is_stored_ref(ref: str) -> bool:
    """Whether ``ref`` reads as ``id@version`` rather than a name or a path on disk."""
    pack_id, at, version = ref.rpartition("@")
    return bool(at and pack_id and version) and not Path(ref).exists()


def resolve_pack(ref: str, store: DecisionStore | None = None) -> CompiledPack:
    """The compiled pack ``ref`` names; ``id@version`` is read from ``store``.

    StoreError when an ``id@version`` is given without a store, or the store
    has no such version; the rules' PackNotFoundError / PackError otherwise.
    """
    if not is_stored_ref(ref):
        return load_pack(ref)
    if store is None:
        raise StoreError(f"{ref}: an id@version pack is read from a pack store: give --store")
    # The store's modules (SQLAlchemy) load only for a stored pack: `diff` of files stays quick.
    from sellerpolicy.engine.store.packs import PackStore, compile_content  # noqa: PLC0415

    pack_id, _, version = ref.rpartition("@")
    stored = PackStore(store.engine, store.where).get(pack_id, version)
    pack, _warnings = compile_content(stored.content, stored.ref)
    return pack
