"""docs/data-contract.md keeps up with the schemas and the reject codes.

Every input table of ``schemas/<table>.schema.json`` has a ``### <table>``
section whose column table lists exactly the schema's properties, in order,
with *yes* in the required column exactly for the schema's required ones;
the facts and decision tables name every top-level field of their schemas;
the reject codes are those of ``engine/sources/rejects.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sellerpolicy.engine.sources import rejects

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "data-contract.md"
TABLES = (
    "orders",
    "feedback",
    "claims",
    "chargebacks",
    "messages",
    "disputes",
    "ratings",
    "returns",
    "sellers",
)
TEXT = DOC.read_text(encoding="utf-8")


def _schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    )
    return data


def _section(level: str, title: str) -> str:
    """The text under the heading ``<level> title`` up to the next heading of that level or
    above."""
    head = re.search(rf"^{level} {re.escape(title)}$", TEXT, re.MULTILINE)
    assert head is not None, f"docs/data-contract.md has no '{level} {title}'"
    stop = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE)
    end = stop.search(TEXT, head.end())
    return TEXT[head.end() : end.start() if end else len(TEXT)]


def _rows(section: str) -> list[list[str]]:
    """The body rows of the Markdown tables of a section, as cells."""
    rows = []
    for line in section.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append(cells)
    return [row for row in rows if row[0] not in ("column", "field", "code")]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_the_input_tables_are_the_schemas_tables() -> None:
    documented = re.findall(r"^### (\w+)$", _section("##", "Input tables"), re.MULTILINE)
    shipped = sorted(
        p.name.removesuffix(".schema.json")
        for p in (ROOT / "schemas").glob("*.schema.json")
        if _schema(p.name.removesuffix(".schema.json")).get("title", "").endswith(" row")
    )
    assert sorted(documented) == shipped == sorted(TABLES)


@pytest.mark.parametrize("table", TABLES)
def test_table_columns_and_required_match_the_schema(table: str) -> None:
    schema = _schema(table)
    rows = _rows(_section("###", table))
    columns = [_names(row[0])[0] for row in rows]
    assert columns == list(schema["properties"]), f"{table}: columns differ from the schema"
    required = [col for col, row in zip(columns, rows, strict=True) if row[2] == "yes"]
    assert required == [c for c in schema["properties"] if c in schema["required"]]
    for column, row in zip(columns, rows, strict=True):
        assert row[3], f"{table}.{column}: no meaning given"
        enum = schema["properties"][column].get("enum")
        if enum is not None:
            assert sorted(_names(row[1])) == sorted(v for v in enum if v is not None)


def test_facts_fields_match_the_schema() -> None:
    rows = _rows(_section("##", "Output: metric facts"))
    documented = {n for row in rows for n in _names(row[0])}
    schema = _schema("metric-facts")
    assert set(schema["properties"]) <= documented
    assert {"<name>", "<name>__num", "<name>__den"} <= documented


def test_decision_fields_match_the_schema() -> None:
    rows = _rows(_section("##", "Output: decisions"))
    documented = [n for row in rows for n in _names(row[0])]
    assert sorted(documented) == sorted(_schema("decision")["properties"])


def _code_table(doc: str) -> set[str]:
    """The codes of the ``====`` table of a reStructuredText docstring."""
    lines = doc.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("====")]
    codes: set[str] = set()
    for line in lines[rules[0] + 1 : rules[-1]]:
        first = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0] if line[:1].strip() else ""
        codes |= {c.strip() for c in first.split(",") if re.fullmatch(r"[a-z_]+", c.strip())}
    return codes


def test_reject_codes_match_the_sources() -> None:
    documented = {_names(row[0])[0] for row in _rows(_section("##", "Rejects")) if row}
    documented -= {"table", "row", "column", "reason"}
    assert rejects.__doc__ is not None
    expected = _code_table(rejects.__doc__)
    assert len(expected) > 20
    assert documented == expected
