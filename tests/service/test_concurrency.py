"""Evaluations keep flowing while pack versions are activated: every decision names
exactly one version, and what was answered is exactly what was stored."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from servicekit import LATER_AS_OF, Service, healthy_facts, pack_text

from sellerpolicy.engine.store.keys import Role

WORKERS = 4
MIN_REQUESTS = 8  # per worker, after the activations are done
SELLERS_PER_REQUEST = 3


def test_activation_during_evaluations_loses_and_duplicates_nothing(service: Service) -> None:
    """Worker threads evaluate while another thread flips the active version back and
    forth: each response uses one version (its digest), both versions answer, stored
    decisions equal responses one to one, with no duplicate ids."""
    pack_id = f"cc-{uuid.uuid4().hex[:8]}"
    client, admin = service.client, service.auth(Role.ADMIN)
    digests = {}
    for version in ("1.0.0", "2.0.0"):
        created = client.post(
            "/v1/packs", json={"content": pack_text(pack_id, version)}, headers=admin
        )
        digests[version] = created.json()["digest"]
    client.post(f"/v1/packs/{pack_id}/versions/1.0.0/activate", headers=admin)

    responses: list[dict[str, Any]] = []
    failures: list[str] = []
    lock = threading.Lock()
    activations_done = threading.Event()
    first_answers = threading.Barrier(WORKERS + 1)

    def worker() -> None:
        evaluator = service.auth(Role.EVALUATOR)
        done_after = 0
        waited = False
        while done_after < MIN_REQUESTS:
            sellers = [
                {"seller_id": f"{pack_id}-{uuid.uuid4().hex[:10]}", "facts": healthy_facts()}
                for _ in range(SELLERS_PER_REQUEST)
            ]
            body = {"pack": pack_id, "as_of": LATER_AS_OF, "sellers": sellers}
            response = client.post("/v1/evaluations", json=body, headers=evaluator)
            with lock:
                if response.status_code == 200:
                    responses.append(response.json())
                else:
                    failures.append(response.text)
            if not waited:
                first_answers.wait()
                waited = True
            if activations_done.is_set():
                done_after += 1

    def activator() -> None:
        first_answers.wait()
        for version in ("2.0.0", "1.0.0", "2.0.0", "1.0.0", "2.0.0"):
            done = client.post(f"/v1/packs/{pack_id}/versions/{version}/activate", headers=admin)
            if done.status_code != 200:
                with lock:
                    failures.append(done.text)
        activations_done.set()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    threads.append(threading.Thread(target=activator))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []

    answered: dict[str, tuple[str, str]] = {}
    for response in responses:
        version = response["pack"]["version"]
        assert response["pack"]["digest"] == digests[version]
        for decision in response["decisions"]:
            assert (decision["pack_version"], decision["pack_digest"]) == (
                version,
                digests[version],
            )
            assert decision["seller_id"] not in answered
            answered[decision["seller_id"]] = (decision["decision_id"], version)
    assert {version for _, version in answered.values()} == {"1.0.0", "2.0.0"}
    stored_ids = []
    for seller, (decision_id, version) in answered.items():
        stored = service.state.store.decisions(seller)
        assert [(d.decision_id, d.pack_version) for d in stored] == [(decision_id, version)]
        stored_ids.append(decision_id)
    assert len(stored_ids) == len(set(stored_ids)) == len(responses) * SELLERS_PER_REQUEST
