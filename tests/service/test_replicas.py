"""Two ``sellerpolicy serve`` replicas on two ports sharing one PostgreSQL database behave
as one service: an activation through one is in force on the other within 1 s, an
Idempotency-Key retried on the other replica returns the same decisions and stores
nothing new, and escalation history written through one is read through the other."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pgkit import fresh_postgres_database
from servicekit import LATER_AS_OF, free_port, healthy_facts, pack_text, start_serve, stop
from servicekit import stored_runs as runs_in

from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import KeyStore, Role

pytestmark = pytest.mark.postgres

PACK = "walmart-seller-performance"


@dataclass
class Replicas:
    """Two running replicas on one database, and a key per role."""

    database: str
    bases: tuple[str, str]
    keys: dict[Role, str]

    def post(self, replica: int, path: str, role: Role, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}", **kwargs.pop("headers", {})}
        return httpx.post(self.bases[replica] + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """Replica 0 starts first (it migrates the fresh database), then replica 1."""
    folder = tmp_path_factory.mktemp("replicas")
    for database in fresh_postgres_database("sp_replicas"):
        with DecisionStore(database) as opened:
            store = KeyStore(opened.engine, opened.where)
            keys = {role: store.create(role, actor="test")[1] for role in Role}
        processes: list[subprocess.Popen[bytes]] = []
        try:
            ports = []
            for index in range(2):
                port = free_port()
                log = Path(folder) / f"replica{index}.log"
                processes.append(start_serve(database, port, "--no-require-approval", log=log))
                ports.append(port)
            bases = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
            yield Replicas(database, bases, keys)
        finally:
            for process in processes:
                stop(process)


def _evaluate(
    replicas: Replicas, replica: int, pack: str, seller: str, **kwargs: Any
) -> dict[str, Any]:
    facts = kwargs.pop("facts", healthy_facts())
    as_of = kwargs.pop("as_of", LATER_AS_OF)
    body = {"pack": pack, "as_of": as_of, "sellers": [{"seller_id": seller, "facts": facts}]}
    answer = replicas.post(replica, "/v1/evaluations", Role.EVALUATOR, json=body, **kwargs)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_an_activation_through_one_is_in_force_on_the_other_within_a_second(
    replicas: Replicas,
) -> None:
    pack_id = f"rp-{uuid.uuid4().hex[:8]}"
    for version in ("1.0.0", "2.0.0"):
        body = {"content": pack_text(pack_id, version)}
        created = replicas.post(0, "/v1/packs", Role.EDITOR, json=body)
        assert created.status_code == 201, created.text
    path = f"/v1/packs/{pack_id}/versions/{{}}/activate"
    assert replicas.post(0, path.format("1.0.0"), Role.ADMIN).status_code == 200
    for _ in range(3):  # replica 1 remembers 1.0.0 (and the key: its fast path is used)
        deadline = time.monotonic() + 1.0
        while _evaluate(replicas, 1, pack_id, "S-1")["pack"]["version"] != "1.0.0":
            assert time.monotonic() < deadline
    activated = replicas.post(0, path.format("2.0.0"), Role.ADMIN)
    assert activated.status_code == 200, activated.text
    done = time.monotonic()
    while True:
        answer = _evaluate(replicas, 1, pack_id, "S-1")
        if answer["pack"]["version"] == "2.0.0":
            break
        assert time.monotonic() - done < 1.0, "replica 1 still uses 1.0.0 after 1 s"
        time.sleep(0.02)
    assert time.monotonic() - done <= 1.0
    assert answer["pack_selection"]["version"] == "2.0.0"


def test_an_idempotent_retry_on_the_other_replica_stores_nothing_new(replicas: Replicas) -> None:
    key = {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
    seller = f"I-{uuid.uuid4().hex[:8]}"
    first = _evaluate(replicas, 0, PACK, seller, as_of="2026-11-01", headers=key)
    stored = runs_in(replicas.database)
    again = _evaluate(replicas, 1, PACK, seller, as_of="2026-11-01", headers=key)
    assert again == first  # same run id, same decision ids
    assert runs_in(replicas.database) == stored


def test_escalation_history_written_through_one_is_read_through_the_other(
    replicas: Replicas,
) -> None:
    """A breach on three consecutive dates, alternating replicas, climbs the ladder."""
    seller = f"E-{uuid.uuid4().hex[:8]}"
    breach = {**healthy_facts(), "cancellation_rate": 0.05, "cancellation_rate__num": 60}
    actions = []
    for replica, day in ((0, "2026-09-01"), (1, "2026-10-01"), (0, "2026-11-01")):
        decision = _evaluate(replicas, replica, PACK, seller, facts=breach, as_of=day)
        decision = decision["decisions"][0]
        actions.append({a["action"] for a in decision["actions"] if a["enforced"]})
    assert actions[0] != actions[2]
    rule = next(r for r in decision["rules"] if r["rule"].startswith("cancel"))
    assert rule["streak"] == 2
