"""GET /v1/packs/{id}/diff: the semantic diff of two stored versions, the very document
`sellerpolicy diff --format json` prints; `from` defaults to the active version; an
unknown version is a 404, a missing `to` a 422."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from servicekit import Service, pack_text
from typer.testing import CliRunner

from sellerpolicy.engine.cli.app import app
from sellerpolicy.engine.store.keys import Role

OLD_RULE = "when: {metric: cancellation_rate, gt: 2%}"
NEW_RULE = "when: {metric: cancellation_rate, gt: 3%}"


def _two_versions(service: Service, tmp_path: Path) -> tuple[str, list[Path]]:
    """A pack stored in 1.0.0 (active) and 1.1.0 (a looser cancellation rule), and the
    same two texts as files."""
    pack_id = f"df-{uuid.uuid4().hex[:8]}"
    texts = [pack_text(pack_id, "1.0.0"), pack_text(pack_id, "1.1.0").replace(OLD_RULE, NEW_RULE)]
    assert NEW_RULE in texts[1]
    files = []
    for index, text in enumerate(texts):
        created = service.client.post(
            "/v1/packs", json={"content": text}, headers=service.auth(Role.EDITOR)
        )
        assert created.status_code == 201, created.text
        path = tmp_path / f"v{index}" / "pack.yaml"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        files.append(path)
    activated = service.client.post(
        f"/v1/packs/{pack_id}/versions/1.0.0/activate", headers=service.auth(Role.ADMIN)
    )
    assert activated.status_code == 200, activated.text
    return pack_id, files


def test_the_diff_of_two_stored_versions_is_the_cli_document(
    service: Service, tmp_path: Path
) -> None:
    """The endpoint answers exactly what `sellerpolicy diff OLD NEW --format json`
    prints for the same two texts: the version and the rule's condition changed."""
    pack_id, files = _two_versions(service, tmp_path)
    reader = service.auth(Role.READER)
    answer = service.client.get(f"/v1/packs/{pack_id}/diff?from=1.0.0&to=1.1.0", headers=reader)
    assert answer.status_code == 200, answer.text
    printed = CliRunner().invoke(app, ["diff", *map(str, files), "--format", "json"])
    assert printed.exit_code == 0, printed.output
    assert answer.json() == json.loads(printed.stdout)
    changes = {(c["section"], c["subject"], c["field"]): c for c in answer.json()["changes"]}
    condition = changes[("rules", "cancellation-over-standard", "condition")]
    assert (condition["old"], condition["new"]) == (
        "cancellation_rate > 2%",
        "cancellation_rate > 3%",
    )
    assert (answer.json()["old"]["version"], answer.json()["new"]["version"]) == (
        "1.0.0",
        "1.1.0",
    )
    backwards = service.client.get(
        f"/v1/packs/{pack_id}/diff?from=1.1.0&to=1.0.0", headers=reader
    ).json()
    assert [(c["old"], c["new"]) for c in backwards["changes"]] == [
        (c["new"], c["old"]) for c in answer.json()["changes"]
    ]


def test_from_defaults_to_the_active_version(service: Service, tmp_path: Path) -> None:
    """Without `from` the active version (1.0.0) is the old side; a version against
    itself has no changes."""
    pack_id, _ = _two_versions(service, tmp_path)
    reader = service.auth(Role.READER)
    answer = service.client.get(f"/v1/packs/{pack_id}/diff?to=1.1.0", headers=reader).json()
    assert answer["old"]["version"] == "1.0.0"
    assert len(answer["changes"]) == 2
    same = service.client.get(f"/v1/packs/{pack_id}/diff?to=1.0.0", headers=reader).json()
    assert same["changes"] == []


def test_unknown_versions_and_a_missing_to_are_refused(service: Service, tmp_path: Path) -> None:
    """An unknown `from` or `to` is a 404 naming it; a pack without an active version
    and no `from` a 404; no `to` a 422 naming it."""
    pack_id, _ = _two_versions(service, tmp_path)
    reader = service.auth(Role.READER)
    for query, missing in (
        ("from=1.0.0&to=9.9.9", "9.9.9"),
        ("from=8.8.8&to=1.1.0", "8.8.8"),
    ):
        answer = service.client.get(f"/v1/packs/{pack_id}/diff?{query}", headers=reader)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert missing in answer.json()["detail"]
    nothing = service.client.get("/v1/packs/no-such-pack/diff?to=1.0.0", headers=reader)
    assert nothing.status_code == 404
    assert "no active version" in nothing.json()["detail"]
    no_to = service.client.get(f"/v1/packs/{pack_id}/diff?from=1.0.0", headers=reader)
    assert no_to.status_code == 422
    assert [e["field"] for e in no_to.json()["errors"]] == ["query.to"]
