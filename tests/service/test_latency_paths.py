"""The service's fast paths keep their promises: a remembered pack reference never
outlives an activation made through this service, only briefly one made elsewhere,
and freezing the startup heap leaves the collector working for new objects."""

from __future__ import annotations

import gc
import uuid
from pathlib import Path

from servicekit import LATER_AS_OF, Service, fixture_texts, healthy_facts, pack_text

from sellerpolicy.engine.cli.serve import _freeze_heap
from sellerpolicy.engine.service.state import ServiceState, Settings
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.packs import compile_content


def _evaluate(service: Service, pack: str, seller: str) -> str:
    body = {
        "pack": pack,
        "as_of": LATER_AS_OF,
        "sellers": [{"seller_id": seller, "facts": healthy_facts()}],
    }
    answer = service.client.post("/v1/evaluations", json=body, headers=service.auth(Role.ADMIN))
    assert answer.status_code == 200, answer.text
    version: str = answer.json()["pack"]["version"]
    return version


def test_an_activation_through_the_service_is_used_by_the_next_evaluation(
    service: Service, seller: str
) -> None:
    """Right after an activation, evaluations by pack id use the new version, even though
    the previous version was remembered for that id a moment before."""
    pack_id = f"pk-{uuid.uuid4().hex[:8]}"
    for version in ("1.0.0", "1.1.0"):
        body = {"content": pack_text(pack_id, version), "fixtures": fixture_texts(pack_id)}
        created = service.client.post("/v1/packs", json=body, headers=service.auth(Role.EDITOR))
        assert created.status_code == 201, created.text
    activate = f"/v1/packs/{pack_id}/versions/{{}}/activate"
    service.client.post(activate.format("1.0.0"), headers=service.auth(Role.ADMIN))
    assert _evaluate(service, pack_id, seller) == "1.0.0"
    assert _evaluate(service, pack_id, seller) == "1.0.0"
    service.client.post(activate.format("1.1.0"), headers=service.auth(Role.ADMIN))
    assert _evaluate(service, pack_id, seller) == "1.1.0"


def _two_versions(path: Path, cache_seconds: float) -> tuple[ServiceState, str]:
    """A service state on a fresh SQLite store holding versions 1.0.0 (active) and 1.1.0."""
    settings = Settings(store_url=str(path), import_shipped=False, pack_cache_seconds=cache_seconds)
    state = ServiceState(settings)
    pack_id = f"pk-{uuid.uuid4().hex[:8]}"
    for version in ("1.0.0", "1.1.0"):
        content = pack_text(pack_id, version)
        pack, _ = compile_content(content, f"{pack_id}@{version}")
        state.packs.add(pack, content, author="test")
    state.packs.activate(pack_id, "1.0.0", actor="test")
    return state, pack_id


def test_an_activation_elsewhere_is_seen_once_the_reference_is_forgotten(
    tmp_path: Path,
) -> None:
    """An activation this service did not make (another process on the same database) is
    not seen while the reference is remembered, and is seen once it is forgotten."""
    state, pack_id = _two_versions(tmp_path / "cache.db", 60.0)
    try:
        assert state.resolve(pack_id)[0].version == "1.0.0"
        state.packs.activate(pack_id, "1.1.0", actor="elsewhere")
        stored, pack = state.resolve(pack_id)
        assert (stored.version, pack.version) == ("1.0.0", "1.0.0")
        state.forget_packs()
        stored, pack = state.resolve(pack_id)
        assert (stored.version, pack.version) == ("1.1.0", "1.1.0")
    finally:
        state.close()


def test_without_a_cache_interval_every_resolution_reads_the_store(tmp_path: Path) -> None:
    """With ``pack_cache_seconds=0`` an activation made elsewhere is seen at once."""
    state, pack_id = _two_versions(tmp_path / "nocache.db", 0.0)
    try:
        assert state.resolve(pack_id)[0].version == "1.0.0"
        state.packs.activate(pack_id, "1.1.0", actor="elsewhere")
        assert state.resolve(pack_id)[0].version == "1.1.0"
    finally:
        state.close()


def test_freezing_the_heap_exempts_existing_objects_but_collects_new_cycles() -> None:
    """After the freeze, the objects that existed are out of the collector's reach, and
    a reference cycle made later is still collected."""
    try:
        _freeze_heap()
        assert gc.get_freeze_count() > 1000

        class Node:
            partner: object = None

        first, second = Node(), Node()
        first.partner, second.partner = second, first
        del first, second
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
