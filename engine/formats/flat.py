"""Mappings of tab-separated report files (``kind: flat-file``) to one contract table.

A :class:`FlatFileMapping` names the report's documented columns (a header
with any other column is refused), the contract column each used report
column fills and how it is parsed (:class:`FieldType`), how the lines of one
record are folded together (``fold_by``: the item lines of one order), the
status vocabulary (each value's :class:`StatusRole`), constant values, and
which catalog metrics the table carries or leaves not assessable, each with
its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _default
from enum import StrEnum
from types import MappingProxyType

from sellerpolicy.engine.formats.document import COMMON_KEYS, MappingInfo, Node, read_info
from sellerpolicy.rules.catalog import RETURN_REASONS

__all__ = [
    "CarriedMetric",
    "FieldMap",
    "FieldType",
    "FlatFileMapping",
    "Fold",
    "NotAssessable",
    "StatusMap",
    "StatusRole",
    "read_flat_mapping",
]

#: Contract tables a flat-file mapping may fill, and their columns.
_TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "orders": ("order_id", "ordered_at", "amount", "currency"),
        "feedback": ("order_id", "rating", "at", "event"),
        "returns": ("return_id", "order_id", "requested_at", "reason"),
    }
)
_REQUIRED: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "orders": ("order_id", "ordered_at"),
        "feedback": ("order_id", "rating", "at", "event"),
        "returns": ("return_id", "order_id", "requested_at", "reason"),
    }
)
#: The contract's values of the columns a ``type: code`` field may fill.
_CODE_VALUES: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType(
    {("returns", "reason"): RETURN_REASONS}
)
_DELIMITERS = MappingProxyType({"tab": "\t"})
_KNOBS = ("negative_max_rating",)


class FieldType(StrEnum):
    """How a report value is parsed (the reject code of a value that does not parse)."""

    TEXT = "text"  # as written (trimmed)
    TIMESTAMP = "timestamp"  # ISO 8601; without an offset, UTC (bad_timestamp)
    DATE = "date"  # an ISO 8601 date (the start of the day, UTC) or timestamp
    DECIMAL = "decimal"  # a decimal number (bad_number)
    INTEGER = "integer"  # a whole number (bad_integer)
    CURRENCY = "currency"  # an ISO 4217 code, three letters (bad_currency)
    CODE = "code"  # a listed code, mapped to a contract value (``codes``, ``otherwise``)


class Fold(StrEnum):
    """How the lines of one record combine a value."""

    SAME = "same"  # every line has the same value (conflicting_value otherwise)
    SUM = "sum"  # the sum over the lines (null when every line is empty)


class StatusRole(StrEnum):
    """What a status value means for the contract (only a sale keeps its amount)."""

    SALE = "sale"
    PENDING = "pending"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One contract column filled from one report column; a ``code`` field maps each
    listed report value to a contract value, and any other value to ``otherwise``."""

    target: str
    column: str
    type: FieldType
    fold: Fold | None
    codes: Mapping[str, str] = _default(default_factory=lambda: MappingProxyType({}))
    otherwise: str | None = None


@dataclass(frozen=True, slots=True)
class StatusMap:
    """The status column and the role of each of its documented values."""

    column: str
    values: Mapping[str, StatusRole]


@dataclass(frozen=True, slots=True)
class CarriedMetric:
    """A catalog metric the table carries, with knob limits (``negative_max_rating: 3``)."""

    metric: str
    because: str
    knob_max: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class NotAssessable:
    """A catalog metric the report leaves not assessable, and why."""

    metric: str
    because: str


@dataclass(frozen=True, slots=True)
class FlatFileMapping:
    """A tab-separated report format, in one version, mapped to one contract table."""

    info: MappingInfo
    table: str
    file_names: tuple[str, ...]
    delimiter: str
    columns: tuple[str, ...]
    fold_by: str | None
    fields: tuple[FieldMap, ...]
    status: StatusMap | None
    constants: Mapping[str, str]
    carries: tuple[CarriedMetric, ...]
    not_assessable: tuple[NotAssessable, ...]

    @property
    def used_columns(self) -> tuple[str, ...]:
        """The report columns read (a header must have every one of them)."""
        used = [f.column for f in self.fields]
        if self.status is not None:
            used.append(self.status.column)
        if self.fold_by is not None:
            used.append(self.fold_by)
        return tuple(dict.fromkeys(used))

    def field(self, target: str) -> FieldMap | None:
        """The mapping of the contract column ``target``, if the report fills it."""
        return next((f for f in self.fields if f.target == target), None)


_KEYS = (
    "table",
    "file_names",
    "delimiter",
    "columns",
    "fold_by",
    "fields",
    "status",
    "constants",
    "carries",
    "not_assessable",
)


def read_flat_mapping(root: Node) -> FlatFileMapping:
    """The flat-file mapping of a parsed document; MappingError naming the first problem."""
    root.keys(
        ["kind", "id", "version", "report_type", "title", "documentation", *_KEYS[:6]],
        [*COMMON_KEYS, *_KEYS],
    )
    info = read_info(root, "flat-file")
    table = root.at("table").choice(tuple(_TABLE_COLUMNS))
    columns = root.at("columns").texts()
    fold_by = root.at("fold_by").optional_text()
    if fold_by is not None and fold_by not in columns:
        raise root.at("fold_by").fail(f"{fold_by!r} is not one of the columns")
    fields = tuple(
        _field(node, target, table, columns) for target, node in root.at("fields").items()
    )
    constants = _constants(root, table)
    for target in _REQUIRED[table]:
        if all(f.target != target for f in fields) and target not in constants:
            raise root.at("fields").fail(f"the {table} table needs {target!r}")
    if fold_by is not None:
        for f in fields:
            if f.fold is None and f.column != fold_by:
                raise root.at("fields").at(f.target).fail("say how lines fold: fold: same|sum")
    status = _status(root.at("status"), columns) if root.has("status") else None
    return FlatFileMapping(
        info=info,
        table=table,
        file_names=root.at("file_names").texts(),
        delimiter=_DELIMITERS[root.at("delimiter").choice(tuple(_DELIMITERS))],
        columns=columns,
        fold_by=fold_by,
        fields=fields,
        status=status,
        constants=constants,
        carries=tuple(_carried(n) for n in root.at("carries").elements())
        if root.has("carries")
        else (),
        not_assessable=tuple(_not_assessable(n) for n in root.at("not_assessable").elements())
        if root.has("not_assessable")
        else (),
    )


def _field(node: Node, target: str, table: str, columns: tuple[str, ...]) -> FieldMap:
    if target not in _TABLE_COLUMNS[table]:
        raise node.fail(f"{target!r} is not a column of the {table} table")
    node.keys(["column", "type"], ["fold", "codes", "otherwise"])
    column = node.at("column").text()
    if column not in columns:
        raise node.at("column").fail(f"{column!r} is not one of the columns")
    kind = FieldType(node.at("type").choice(tuple(FieldType)))
    fold = Fold(node.at("fold").choice(tuple(Fold))) if node.has("fold") else None
    if kind is not FieldType.CODE:
        for key in ("codes", "otherwise"):
            if node.has(key):
                raise node.at(key).fail("only a field of type: code maps codes")
        return FieldMap(target, column, kind, fold)
    allowed = _CODE_VALUES.get((table, target))
    if allowed is None:
        raise node.at("type").fail(f"{table}.{target} is not a column of listed values")
    if not node.has("codes") or not node.has("otherwise"):
        raise node.fail("a code field lists its codes and what any other value is (otherwise)")
    codes = {code: v.choice(allowed) for code, v in node.at("codes").items()}
    if not codes:
        raise node.at("codes").fail("list the documented codes")
    otherwise = node.at("otherwise").choice(allowed)
    return FieldMap(target, column, kind, fold, MappingProxyType(codes), otherwise)


def _constants(root: Node, table: str) -> Mapping[str, str]:
    if not root.has("constants"):
        return MappingProxyType({})
    out = {}
    for target, node in root.at("constants").items():
        if target not in _TABLE_COLUMNS[table]:
            raise node.fail(f"{target!r} is not a column of the {table} table")
        out[target] = node.text()
    return MappingProxyType(out)


def _status(node: Node, columns: tuple[str, ...]) -> StatusMap:
    node.keys(["column", "values"])
    column = node.at("column").text()
    if column not in columns:
        raise node.at("column").fail(f"{column!r} is not one of the columns")
    values = {
        value: StatusRole(v.choice(tuple(StatusRole))) for value, v in node.at("values").items()
    }
    if not values:
        raise node.at("values").fail("list the documented values")
    return StatusMap(column, MappingProxyType(values))


def _carried(node: Node) -> CarriedMetric:
    node.keys(["metric", "because"], ["knobs"])
    knob_max: dict[str, int] = {}
    if node.has("knobs"):
        for knob, value in node.at("knobs").items():
            if knob not in _KNOBS:
                raise value.fail(f"{knob!r} cannot be limited (only {', '.join(_KNOBS)})")
            if not isinstance(value.value, int) or isinstance(value.value, bool):
                raise value.fail("must be a whole number (the largest value carried)")
            knob_max[knob] = value.value
    return CarriedMetric(node.at("metric").metric(), node.at("because").text(), knob_max)


def _not_assessable(node: Node) -> NotAssessable:
    node.keys(["metric", "because"])
    return NotAssessable(node.at("metric").metric(), node.at("because").text())
