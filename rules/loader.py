"""Stage 1, load: safe YAML to plain data, with the position of every node.

PyYAML composes a node graph (which keeps marks) and then silently keeps the
last of two equal mapping keys. We compose with :class:`yaml.SafeLoader` and
construct the plain data ourselves so that we can

* record ``json_path -> (line, column)`` (1-based) for every value and key,
* report duplicate keys, non-string keys and unsupported tags,
* bound the work: file size, node count, nesting depth and alias expansions
  (a "billion laughs" document is rejected after a few thousand steps).

Plain scalars mean what YAML 1.2 says (its core schema), which is what editors
and most tools read: ``yes``, ``on``, ``1:40`` and ``1_000`` are text, ``1e-2``
a number, ``0o10`` octal. Timestamps stay strings (``2026-01-01``): the schema
decides what a date is. A number that YAML 1.1 (PyYAML's default) reads as a
different number (``010``: 10 here, 8 there) is an error, ``yaml_dialect``,
and so is a ``%YAML 1.1`` directive (``yaml_version``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import yaml

from .diagnostics import Diagnostic
from .jsonpath import child_path

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 20_000
MAX_ALIAS_EXPANSIONS = 1_000
MAX_DEPTH = 64

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

#: The plain scalars of the YAML 1.2 core schema (spec 1.2.2, section 10.3.2), by tag.
CORE_SCHEMA: Mapping[str, re.Pattern[str]] = MappingProxyType(
    {
        _NULL: re.compile(r"^(?:~|null|Null|NULL|)$"),
        _BOOL: re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        _INT: re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
        _FLOAT: re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
    }
)
_SCALAR_TAGS = frozenset({_STR, *CORE_SCHEMA})
_FIRST_CHARACTERS: Mapping[str, str] = MappingProxyType(
    {
        _NULL: "~nN",
        _BOOL: "tTfF",
        _INT: "-+0123456789",
        _FLOAT: "-+.0123456789",
    }
)


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based ``line:column`` in a file."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """A YAML document as plain data, with where each part was written.

    ``positions`` maps a JSON path (``$.spec.rules[0].when``) to the start of
    its value; ``key_positions`` maps the path of a mapping entry to its key.
    """

    file: str
    data: Any
    positions: Mapping[str, Position] = field(default_factory=dict)
    key_positions: Mapping[str, Position] = field(default_factory=dict)

    def locate(self, json_path: str, *, key: bool = False) -> Position:
        """Where ``json_path`` was written, else its nearest written parent."""
        table = self.key_positions if key else self.positions
        if json_path in table:
            return table[json_path]
        parent = _parent_path(json_path)
        while parent is not None:
            if parent in self.positions:
                return self.positions[parent]
            parent = _parent_path(parent)
        return Position(1, 1)


def _parent_path(json_path: str) -> str | None:
    if json_path == "$":
        return None
    cut = max(json_path.rfind("."), json_path.rfind("["))
    return json_path[:cut] if cut > 0 else "$"


def _core_resolvers() -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    """PyYAML's resolver table for the core schema; ``<<`` stays a merge key (refused)."""
    table: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {"": [(_NULL, CORE_SCHEMA[_NULL])]}
    for tag, firsts in _FIRST_CHARACTERS.items():  # int before float: 1 is an int
        for first in firsts:
            table.setdefault(first, []).append((tag, CORE_SCHEMA[tag]))
    table["<"] = [(_MERGE, re.compile(r"^(?:<<)$"))]
    return table


_RESOLVERS = _core_resolvers()

#: PyYAML's own (YAML 1.1) table, timestamps left out as here: what older tools read.
_YAML11_RESOLVERS = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


_YAML11_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def core_value(tag: str, text: str) -> object:
    """The value of a scalar of a core-schema ``tag`` (``text`` matches its pattern)."""
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return text.lower() == "true"
    if tag == _INT:
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(text)


def yaml11_reading(text: str) -> object:
    """What a YAML 1.1 reader (PyYAML's safe loader) makes of the plain scalar ``text``.

    Timestamps stay text, as they always did here.
    """
    resolvers = _YAML11_RESOLVERS.get(text[:1], [])
    tag = next((tag for tag, regexp in resolvers if regexp.match(text)), _STR)
    if tag not in CORE_SCHEMA:
        return text
    construct = _YAML11_CONSTRUCTOR.yaml_constructors[tag]  # scalars: no state kept
    return construct(_YAML11_CONSTRUCTOR, yaml.ScalarNode(tag, text))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_number(first: object, second: object) -> bool:
    nans = [isinstance(v, float) and math.isnan(v) for v in (first, second)]
    return all(nans) or (not any(nans) and first == second)


_Loader = yaml.CSafeLoader | yaml.SafeLoader


def _loader_class() -> type[_Loader]:
    """libyaml's parser when PyYAML was built with it (several times faster)."""
    return yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


def _new_loader(text: str) -> _Loader:
    """A safe loader that resolves plain scalars by the YAML 1.2 core schema."""
    loader = _loader_class()(text)
    loader.yaml_implicit_resolvers = _RESOLVERS  # shadows the class table, for this loader only
    return loader


class _RejectedError(Exception):
    """Construction stopped at the first diagnostic it cannot get past."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _pos(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns one composed node graph into plain data, within limits."""

    def __init__(self, file: str, loader: _Loader) -> None:
        self.file = file
        self.loader = loader
        self.positions: dict[str, Position] = {}
        self.key_positions: dict[str, Position] = {}
        self.diagnostics: list[Diagnostic] = []
        self.nodes = 0
        self.alias_expansions = 0
        self.seen: set[int] = set()
        self.active: set[int] = set()

    def diag(self, node: yaml.Node, code: str, path: str, message: str) -> Diagnostic:
        where = _pos(node)
        return Diagnostic(self.file, where.line, where.column, code, path, message)

    def build(self, node: yaml.Node, path: str, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _RejectedError(
                self.diag(node, "document_too_large", path, f"more than {MAX_NODES} YAML nodes")
            )
        if depth > MAX_DEPTH:
            raise _RejectedError(
                self.diag(node, "document_too_large", path, f"nested deeper than {MAX_DEPTH}")
            )
        key = id(node)
        if key in self.active:
            raise _RejectedError(self.diag(node, "alias_limit", path, "recursive alias"))
        if key in self.seen and not isinstance(node, yaml.ScalarNode):
            self.alias_expansions += 1
            if self.alias_expansions > MAX_ALIAS_EXPANSIONS:
                raise _RejectedError(
                    self.diag(
                        node,
                        "alias_limit",
                        path,
                        f"more than {MAX_ALIAS_EXPANSIONS} alias expansions",
                    )
                )
        self.seen.add(key)
        self.positions.setdefault(path, _pos(node))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        self.active.add(key)
        try:
            if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
                return [
                    self.build(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value)
                ]
            if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
                return self.mapping(node, path, depth)
        finally:
            self.active.discard(key)
        raise _RejectedError(
            self.diag(node, "yaml_tag", path, f"unsupported YAML tag {node.tag!r}")
        )

    def scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        if node.tag not in _SCALAR_TAGS:
            raise _RejectedError(
                self.diag(node, "yaml_tag", path, f"unsupported YAML tag {node.tag!r}")
            )
        text = str(node.value)
        if node.tag == _STR:
            return text
        if not CORE_SCHEMA[node.tag].match(text):  # an explicit tag: !!int 1_000
            kind = node.tag.rsplit(":", 1)[-1]
            raise _RejectedError(
                self.diag(node, "yaml_tag", path, f"{text!r} is not a YAML 1.2 {kind}")
            )
        value = core_value(node.tag, text)
        if not node.style:  # plain: None from PyYAML, '' from libyaml
            self.check_dialect(node, path, value)
        if isinstance(value, float) and not math.isfinite(value):
            self.diagnostics.append(
                self.diag(
                    node, "non_finite_number", path, f"{node.value!r}: numbers must be finite"
                )
            )
        return value

    def check_dialect(self, node: yaml.ScalarNode, path: str, value: object) -> None:
        """Refuse a number that YAML 1.1 reads as another number (``010``: 10 or 8)."""
        text = str(node.value)
        older = yaml11_reading(text)
        if not (_is_number(value) and _is_number(older)) or _same_number(value, older):
            return
        hint = "quote it if it is text"
        if re.fullmatch(r"[-+]?0[0-9]+", text):
            hint = f"write {value} without the leading 0"
            if isinstance(older, int) and older >= 0:
                hint += f", or 0o{older:o} for octal {older}"
        self.diagnostics.append(
            Diagnostic(
                self.file,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                "yaml_dialect",
                path,
                f"{text!r} is {value!r} in YAML 1.2, which sellerpolicy and editors read, "
                f"but {older!r} in YAML 1.1",
                hint,
            )
        )

    def mapping(self, node: yaml.MappingNode, path: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _RejectedError(
                    self.diag(key_node, "yaml_merge_key", path, "merge keys ('<<') are not allowed")
                )
            self.nodes += 1
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR):
                raise _RejectedError(
                    self.diag(
                        key_node,
                        "yaml_key_type",
                        path,
                        f"mapping keys must be strings, got {key_node.value!r} "
                        f"({key_node.tag.rsplit(':', 1)[-1]}); quote it",
                    )
                )
            name = str(key_node.value)
            sub = child_path(path, name)
            if name in out:
                first = self.key_positions[sub]
                self.diagnostics.append(
                    self.diag(
                        key_node,
                        "duplicate_key",
                        sub,
                        f"key {name!r} appears twice in this mapping (first at line "
                        f"{first.line}, column {first.column}); the first is kept",
                    )
                )
                continue
            self.key_positions[sub] = _pos(key_node)
            out[name] = self.build(value_node, sub, depth + 1)
        return out


class _Mark(Protocol):
    """Where an event starts (PyYAML's and libyaml's marks alike), 0-based."""

    line: int
    column: int


def _mark(mark: _Mark | None) -> Position:
    return Position(mark.line + 1, mark.column + 1) if mark is not None else Position(1, 1)


def _prescan(text: str, file: str) -> tuple[Diagnostic | None, list[Diagnostic]]:
    """Refuse too many or too deeply nested nodes from the event stream alone.

    This bounds the work before anything is composed: composing (in PyYAML or
    libyaml) is not interruptible and libyaml's composer recurses in C.
    Returns that refusal, if any, and the ``%YAML`` directives asking for
    another version than 1.2 (the document is still read as YAML 1.2).
    """
    depth = 0
    found: list[Diagnostic] = []
    for events, event in enumerate(yaml.parse(text, Loader=_loader_class()), start=1):
        if isinstance(event, yaml.DocumentStartEvent) and event.version not in (None, (1, 2)):
            where = _mark(event.start_mark)
            major, minor = event.version
            found.append(
                Diagnostic(
                    file,
                    where.line,
                    where.column,
                    "yaml_version",
                    "$",
                    f"%YAML {major}.{minor}: packs are YAML 1.2, as editors read them",
                    "remove the %YAML directive",
                )
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        problem = None
        if events > 2 * MAX_NODES + 8:
            problem = f"more than {MAX_NODES} YAML nodes"
        elif depth > MAX_DEPTH:
            problem = f"nested deeper than {MAX_DEPTH}"
        if problem:
            where = _mark(event.start_mark)
            too_large = Diagnostic(
                file, where.line, where.column, "document_too_large", "$", problem
            )
            return too_large, found
    return None, found


def _syntax_error(file: str, exc: yaml.YAMLError) -> Diagnostic:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"{context}: {problem}" if context else str(problem)
    return Diagnostic(file, line, column, "yaml_syntax", "$", message)


def parse_text(text: str, file: str) -> tuple[LoadedDocument | None, list[Diagnostic]]:
    """Parse YAML text into a :class:`LoadedDocument`, or say why not."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return None, [
            Diagnostic(
                file, 1, 1, "document_too_large", "$", f"file is over {MAX_FILE_BYTES} bytes"
            )
        ]
    loader = _new_loader(text)
    try:
        too_large, found = _prescan(text, file)
        if too_large is not None:
            return None, [too_large]
        node = loader.get_single_node()
        if node is None:
            return None, [Diagnostic(file, 1, 1, "empty_document", "$", "the document is empty")]
        builder = _Builder(file, loader)
        builder.diagnostics.extend(found)
        data = builder.build(node, "$", 0)
    except _RejectedError as rejected:
        return None, [rejected.diagnostic]
    except yaml.YAMLError as exc:
        return None, [_syntax_error(file, exc)]
    except RecursionError:
        return None, [
            Diagnostic(file, 1, 1, "document_too_large", "$", "the document is nested too deeply")
        ]
    finally:
        loader.dispose()
    document = LoadedDocument(
        file,
        data,
        MappingProxyType(builder.positions),
        MappingProxyType(builder.key_positions),
    )
    return document, builder.diagnostics


def load_yaml(path: Path) -> tuple[LoadedDocument | None, list[Diagnostic]]:
    """Read and parse one YAML file; unreadable files are diagnostics too."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [
                Diagnostic(
                    file, 1, 1, "document_too_large", "$", f"file is over {MAX_FILE_BYTES} bytes"
                )
            ]
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Diagnostic(file, 1, 1, "unreadable", "$", exc.strerror or str(exc))]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic(file, 1, 1, "not_utf8", "$", f"not UTF-8 text: {exc.reason}")]
    return parse_text(text, file)
