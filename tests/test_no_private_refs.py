"""Nothing shipped cites documents that are not in the repository.

The code, schemas, packs and docs once cited the founders' private notes
(``shared/spec/...``, ``domain.md``, ``data-contract.md``). The project's own
documents are docs/metrics.md and docs/data-contract.md; this test keeps any
other citation out of what users get.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("rules", "engine", "schemas", "policies", "docs", "README.md")
TEXT_SUFFIXES = {".py", ".md", ".json", ".yaml", ".yml", ".j2", ".mako", ".txt", ".toml", ".html"}
PRIVATE = re.compile(r"shared/spec|domain\.md|data-contract\.md")
# docs/data-contract.md itself, written from anywhere or as a link between docs/ pages
ALLOWED = re.compile(r"docs/data-contract\.md|\]\(data-contract\.md(#[\w-]+)?\)")


def private_citations(path: Path) -> list[str]:
    """``file:line: text`` of every private citation in ``path``."""
    found = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        if PRIVATE.search(ALLOWED.sub("", line)):
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            found.append(f"{shown}:{number}: {line.strip()}")
    return found


def shipped_files() -> list[Path]:
    files: list[Path] = []
    for name in SHIPPED:
        top = ROOT / name
        if top.is_file():
            files.append(top)
            continue
        files += [
            p
            for p in sorted(top.rglob("*"))
            if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts
        ]
    return files


def test_nothing_shipped_cites_private_documents() -> None:
    files = shipped_files()
    assert len(files) > 100
    found = [hit for path in files for hit in private_citations(path)]
    assert found == []


def test_the_check_sees_a_citation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.md"
    sample.write_text(
        "see [the contract](data-contract.md) and docs/data-contract.md\n"
        "as domain.md says\nsee shared/spec/data-contract.md\n",
        encoding="utf-8",
    )
    assert [hit.split(":")[1] for hit in private_citations(sample)] == ["2", "3"]
