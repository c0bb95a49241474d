"""A client generated from /openapi.json by openapi-python-client builds, reads as the
operation ids say, and types decisions: ``status`` an enum, ``actions`` Action objects."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servicekit import Service, healthy_facts

from sellerpolicy.engine.store.keys import Role

PACK = "walmart-seller-performance"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "sellerpolicy_generated_client"


@pytest.fixture(scope="module")
def generated(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The generated package, imported from a temporary folder (sys.path restored after)."""
    folder: Path = tmp_path_factory.mktemp("generated")
    spec = folder / "openapi.json"
    spec.write_text(json.dumps(service.client.get("/openapi.json").json()), encoding="utf-8")
    output = ["--output-path", str(folder / PACKAGE)]
    run = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec), "--meta", "none", *output],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "warning" not in (run.stdout + run.stderr).lower(), run.stdout + run.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_the_generated_client_builds_with_named_operations(generated: Any) -> None:
    """Every operation is a module named after its operation id."""
    for module in (
        "api.evaluations.evaluate",
        "api.decisions.list_seller_decisions",
        "api.decisions.get_decision",
        "api.packs.list_packs",
        "api.packs.upload_pack",
        "api.packs.activate_pack_version",
        "api.packs.diff_pack_versions",
        "api.operations.metrics",
    ):
        found = importlib.import_module(f"{PACKAGE}.{module}")
        assert callable(found.sync_detailed), module


def test_the_generated_decision_model_is_typed(
    generated: Any, service: Service, seller: str
) -> None:
    """``Decision.status`` is an enum of the three statuses, ``actions`` a list of Action;
    a real answer of the service parses into them."""
    models = importlib.import_module(f"{PACKAGE}.models")
    status_type = models.DecisionStatus
    assert {s.value for s in status_type} == {"healthy", "at_risk", "critical"}
    hints = models.Decision.__annotations__
    assert hints["status"] == "DecisionStatus"
    assert hints["actions"] == "list[Action]"
    facts = {**healthy_facts(), "cancellation_rate": 0.05, "cancellation_rate__num": 60}
    body = {"pack": PACK, "as_of": "2026-11-15", "sellers": [{"seller_id": seller, "facts": facts}]}
    answer = service.client.post("/v1/evaluations", json=body, headers=service.auth(Role.ADMIN))
    assert answer.status_code == 200, answer.text
    parsed = models.EvaluationResponse.from_dict(answer.json())
    decision = parsed.decisions[0]
    assert decision.status is status_type.AT_RISK
    assert isinstance(decision.actions[0], models.Action)
    assert decision.actions[0].enforced is True
