"""Reading a mapping file: YAML with positions, walked into checked plain values.

:func:`read_document` parses the file with the rule-pack loader (positions kept,
duplicate keys refused); :class:`Node` walks it, each accessor checking the
type it expects and the keys an object may have. The first problem raises
:class:`MappingError` located as ``file:line:column: bad_mapping: $.path:
message``: mapping files are data, and a broken one is refused before any
report is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sellerpolicy.rules.catalog import CATALOG
from sellerpolicy.rules.diagnostics import Diagnostic, SellerPolicyError
from sellerpolicy.rules.loader import LoadedDocument, load_yaml

__all__ = [
    "COMMON_KEYS",
    "DocRef",
    "MappingError",
    "MappingInfo",
    "Node",
    "read_document",
    "read_info",
]


class MappingError(SellerPolicyError):
    """A mapping file that cannot be used, located (exit 2 on the command line)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
        super().__init__(diagnostic.render())

    @classmethod
    def missing(cls, path: Path) -> MappingError:
        """No mapping file at ``path``."""
        return cls(Diagnostic(str(path), 1, 1, "unreadable", "$", "no such mapping file"))

    @classmethod
    def wrong_id(cls, path: Path, found: str, expected: str) -> MappingError:
        """A mapping file of another report than the command reads."""
        message = f"maps the report {found!r}, not {expected!r}"
        return cls(Diagnostic(str(path), 1, 1, "bad_mapping", "$.id", message))


@dataclass(frozen=True, slots=True)
class DocRef:
    """A page of public documentation a mapping was taken from."""

    url: str
    title: str
    checked: date


@dataclass(frozen=True, slots=True)
class MappingInfo:
    """What every mapping says about itself."""

    kind: str
    id: str
    version: str
    report_type: str
    title: str
    documentation: tuple[DocRef, ...]
    notes: tuple[str, ...]
    path: Path


@dataclass(frozen=True, slots=True)
class Node:
    """A value of a mapping document and its JSON path."""

    doc: LoadedDocument
    path: str
    value: object

    def fail(self, message: str) -> MappingError:
        """The located error for this value."""
        where = self.doc.locate(self.path)
        diag = Diagnostic(
            self.doc.file, where.line, where.column, "bad_mapping", self.path, message
        )
        return MappingError(diag)

    def keys(self, required: Sequence[str], optional: Sequence[str] = ()) -> None:
        """Refuse an object missing a required key or holding an unknown one."""
        data = self._object()
        for key in required:
            if key not in data:
                raise self.fail(f"missing key {key!r}")
        unknown = [k for k in data if k not in required and k not in optional]
        if unknown:
            raise self.at(unknown[0]).fail(f"unknown key {unknown[0]!r}")

    def at(self, key: str) -> Node:
        """The value under ``key`` (null when absent)."""
        return Node(self.doc, f"{self.path}.{key}", self._object().get(key))

    def has(self, key: str) -> bool:
        """Whether the object has ``key`` (with any value, null included)."""
        return key in self._object()

    def items(self) -> Iterator[tuple[str, Node]]:
        """The entries of an object, in file order."""
        for key in self._object():
            yield key, self.at(key)

    def elements(self) -> Iterator[Node]:
        """The elements of a list."""
        if not isinstance(self.value, list):
            raise self.fail("must be a list")
        for i, value in enumerate(self.value):
            yield Node(self.doc, f"{self.path}[{i}]", value)

    def text(self) -> str:
        """A non-empty string."""
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.fail("must be a non-empty string")
        return self.value

    def optional_text(self) -> str | None:
        """A non-empty string, or null."""
        return None if self.value is None else self.text()

    def texts(self) -> tuple[str, ...]:
        """A list of distinct non-empty strings."""
        values = tuple(e.text() for e in self.elements())
        for i, value in enumerate(values):
            if value in values[:i]:
                raise Node(self.doc, f"{self.path}[{i}]", value).fail(f"{value!r} is listed twice")
        return values

    def day(self) -> date:
        """A calendar date written ``2026-12-07``."""
        if isinstance(self.value, date):
            return self.value
        try:
            return date.fromisoformat(self.text())
        except ValueError:
            raise self.fail("must be a date (YYYY-MM-DD)") from None

    def choice(self, allowed: Sequence[str]) -> str:
        """One of ``allowed``."""
        value = self.text()
        if value not in allowed:
            raise self.fail(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def metric(self) -> str:
        """The name of a catalog metric."""
        value = self.text()
        if value not in CATALOG:
            raise self.fail(f"{value!r} is not a catalog metric")
        return value

    def _object(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            raise self.fail("must be an object")
        return self.value


def read_document(path: Path) -> Node:
    """The root of the mapping file at ``path``; MappingError when it is no YAML object."""
    document, diagnostics = load_yaml(path)
    errors = [d for d in diagnostics if d.level.value == "error"]
    if document is None or errors:
        first = (errors or diagnostics)[0]
        raise MappingError(first)
    root = Node(document, "$", document.data)
    if not isinstance(document.data, dict):
        raise root.fail("a mapping file is a YAML object")
    return root


def read_info(root: Node, kind: str) -> MappingInfo:
    """The common header of a mapping of ``kind`` (its other keys are the caller's)."""
    found = root.at("kind").text()
    if found != kind:
        raise root.at("kind").fail(f"is {found!r}, expected {kind!r}")
    docs = []
    for entry in root.at("documentation").elements():
        entry.keys(["url", "title", "checked"])
        url = entry.at("url").text()
        if not url.startswith("https://"):
            raise entry.at("url").fail("must be an https:// address")
        docs.append(DocRef(url, entry.at("title").text(), entry.at("checked").day()))
    if not docs:
        raise root.at("documentation").fail("a mapping cites at least one documentation page")
    version = root.at("version").value
    if not isinstance(version, str):
        raise root.at("version").fail("must be a string (quote it)")
    notes = root.at("notes").texts() if root.has("notes") else ()
    return MappingInfo(
        kind=kind,
        id=root.at("id").text(),
        version=version,
        report_type=root.at("report_type").text(),
        title=root.at("title").text(),
        documentation=tuple(docs),
        notes=notes,
        path=Path(root.doc.file),
    )


COMMON_KEYS = ("kind", "id", "version", "report_type", "title", "documentation", "notes")
"""The keys :func:`read_info` reads, allowed in every mapping."""
