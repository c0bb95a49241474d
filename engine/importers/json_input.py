"""JSON reports read with every problem located: the file and the JSON path.

:func:`read_json` parses a report (numbers as :class:`~decimal.Decimal`, so a
rate keeps the digits it was written with; a key given twice is an error);
:class:`JNode` walks it, each accessor checking the type it expects. The first
problem raises :class:`ReportError`, a
:class:`~sellerpolicy.engine.errors.SourceError` (exit 2 on the command line)
worded ``<file>: $.performanceMetrics[0].lateShipmentRate.orderCount: is "12",
not a whole number``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sellerpolicy.engine.errors import SourceError

__all__ = ["JNode", "ReportError", "read_json", "shown"]

_MAX_BYTES = 64 << 20


class ReportError(SourceError):
    """A report that cannot be read: its file, the JSON path and the problem."""

    def __init__(self, file: str, path: str, problem: str) -> None:
        self.json_path = path
        super().__init__(file, f"{path}: {problem}")


def shown(value: object) -> str:
    """A value as a message shows it: JSON, cut at 40 characters."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def read_json(path: Path) -> JNode:
    """The root of the JSON report at ``path``; ReportError when it is no JSON."""
    file = str(path)
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise ReportError(file, "$", f"the file is over {_MAX_BYTES >> 20} MiB")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SourceError(file, f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ReportError(file, "$", "not UTF-8 text") from None
    try:
        value = json.loads(text, parse_float=Decimal, object_pairs_hook=_pairs)
    except _DuplicateKeyError as exc:
        raise ReportError(file, "$", f"key {exc.key!r} is given twice in one object") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ReportError(file, "$", f"not JSON ({exc.msg} at {where})") from None
    except RecursionError:
        raise ReportError(file, "$", "nested too deeply") from None
    return JNode(file, "$", value)


@dataclass(frozen=True, slots=True)
class JNode:
    """A value of a JSON report and its path."""

    file: str
    path: str
    value: object

    def fail(self, problem: str) -> ReportError:
        """The located error for this value."""
        return ReportError(self.file, self.path, problem)

    def is_object(self) -> bool:
        """Whether the value is a JSON object."""
        return isinstance(self.value, dict)

    def fields(self) -> list[str]:
        """The keys of an object, in file order."""
        return list(self._object())

    def has(self, key: str) -> bool:
        """Whether the object has ``key`` (with any value)."""
        return key in self._object()

    def at(self, key: str) -> JNode:
        """The value under ``key``; an error when it is absent."""
        data = self._object()
        if key not in data:
            raise self.fail(f"missing field {key!r}")
        return JNode(self.file, f"{self.path}.{key}", data[key])

    def dotted(self, path: str) -> JNode:
        """The value at a dotted path below this one (``claims.count``)."""
        node = self
        for key in path.split("."):
            node = node.at(key)
        return node

    def only(self, allowed: Sequence[str], what: str) -> None:
        """Refuse a key not in ``allowed`` (``what`` says where they come from)."""
        for key in self._object():
            if key not in allowed:
                raise JNode(self.file, f"{self.path}.{key}", None).fail(
                    f"unknown field {key!r} (not in {what})"
                )

    def elements(self) -> Iterator[JNode]:
        """The elements of a list."""
        if not isinstance(self.value, list):
            raise self.fail(f"is {shown(self.value)}, not a list")
        for i, value in enumerate(self.value):
            yield JNode(self.file, f"{self.path}[{i}]", value)

    def text(self) -> str:
        """A non-empty string."""
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.fail(f"is {shown(self.value)}, not a non-empty string")
        return self.value

    def choice(self, allowed: Sequence[str]) -> str:
        """One of the ``allowed`` strings."""
        value = self.text()
        if value not in allowed:
            raise self.fail(f"is {shown(value)}, not one of {', '.join(allowed)}")
        return value

    def count(self, *, strings: bool = False) -> int:
        """A whole number >= 0: a JSON integer (or, with ``strings``, a string of digits,
        for formats that document their numbers as strings)."""
        value = self.value
        if strings and isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise self.fail(f"is {shown(value)}, not a whole number >= 0")

    def number(self, *, strings: bool = False) -> Decimal:
        """A finite number, its digits kept: a JSON number (or, with ``strings``, a string
        holding one)."""
        value = self.value
        if strings and isinstance(value, str):
            try:
                parsed = Decimal(value.strip())
            except ArithmeticError:
                raise self.fail(f"is {shown(value)}, not a number") from None
            if parsed.is_finite():
                return parsed
        elif isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        elif isinstance(value, Decimal) and value.is_finite():
            return value
        raise self.fail(f"is {shown(value)}, not a number")

    def instant(self) -> datetime:
        """An ISO 8601 timestamp (``2020-11-04T23:59Z``), as an aware UTC datetime."""
        text = self.text()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(f"is {shown(text)}, not an ISO 8601 timestamp") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)

    def _object(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            raise self.fail(f"is {shown(self.value)}, not an object")
        return self.value
