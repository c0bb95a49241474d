"""Request and response bodies of the HTTP service (Pydantic, published in OpenAPI).

Requests are strict: unknown fields are refused, facts are JSON numbers
(no strings, no booleans, no NaN) or null, and a batch holds at most
:data:`MAX_SELLERS` sellers (:data:`MAX_EVENT_ROWS` event rows). An approval
comment is 1 to :data:`MAX_COMMENT` characters, not all blank; a scheduled
activation's ``at`` is an instant (a naive one is UTC).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from sellerpolicy.engine.metrics.facts import check_as_of
from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.engine.store.approvals import MAX_COMMENT

__all__ = [
    "AS_OF_PATTERN",
    "MAX_COMMENT",
    "MAX_EVENT_ROWS",
    "MAX_SELLERS",
    "Action",
    "ActivationRequest",
    "ApprovalOut",
    "ApprovalRequest",
    "Decision",
    "DecisionDocument",
    "DecisionList",
    "EvaluationRequest",
    "EvaluationResponse",
    "EventsIn",
    "PackChange",
    "PackDiff",
    "PackList",
    "PackSelection",
    "PackSummary",
    "PackUpload",
    "PackVersionOut",
    "PackVersionRef",
    "SellerIn",
    "Status",
    "StoredDecisionOut",
    "ValidationResult",
]

#: The most sellers one evaluation request may carry.
MAX_SELLERS = 10_000
#: The most rows one table of an events request may carry.
MAX_EVENT_ROWS = 100_000
#: The most fixture documents an upload may carry.
MAX_FIXTURES = 50

#: An evaluation date or instant within the range sellerpolicy evaluates (else a 422).
AsOf = Annotated[date | datetime, AfterValidator(check_as_of)]
AsOfDay = Annotated[date, AfterValidator(check_as_of)]
SellerId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]
PackRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=301,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9][A-Za-z0-9._+-]*)?$",
        description="a pack id (its active version) or id@version",
        examples=["amazon", "amazon@2026.11"],
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SellerIn(_Strict):
    """One seller's metric facts (as ``sellerpolicy metrics`` writes them)."""

    seller_id: SellerId
    as_of: AsOf | None = Field(None, description="evaluation date; defaults to the request's as_of")
    facts: dict[str, int | float | None] = Field(
        description="metric facts by name (orders, <metric>, <metric>__num, <metric>__den)",
        max_length=500,
    )

    @field_validator("facts", mode="before")
    @classmethod
    def _numbers(cls, facts: Any) -> Any:
        """Facts are finite JSON numbers or null: no strings, booleans or NaN."""
        if isinstance(facts, dict):
            for name, value in facts.items():
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if not (value is None or (number and math.isfinite(value))):
                    raise ValueError(f"fact {name!r} is {value!r}: give a finite number or null")
        return facts


class EventsIn(_Strict):
    """One seller's raw order events, as the canonical input tables (data contract)."""

    seller_id: SellerId
    as_of: AsOf | None = None
    tables: dict[str, Annotated[list[dict[str, Any]], Field(max_length=MAX_EVENT_ROWS)]] = Field(
        description="rows by table name: " + ", ".join(TABLES)
    )

    @field_validator("tables")
    @classmethod
    def _known_tables(cls, tables: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(tables) - set(TABLES))
        if unknown:
            raise ValueError(
                f"unknown table(s) {', '.join(unknown)}: tables are {', '.join(TABLES)}"
            )
        return tables


def _sellers_or_events(schema: dict[str, Any]) -> None:
    """Publish ``sellers`` xor ``events`` as a ``oneOf`` (neither is ``null`` on the wire)."""
    properties = schema.get("properties", {})
    for name in ("sellers", "events"):
        found = properties.get(name, {})
        variants = [v for v in found.pop("anyOf", ()) if v.get("type") != "null"]
        if variants:
            found.update(variants[0])
        found.pop("default", None)
    schema["oneOf"] = [{"required": ["sellers"]}, {"required": ["events"]}]


class EvaluationRequest(_Strict):
    """Evaluate sellers: give ``sellers`` (metric facts) or ``events`` (one seller's rows)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sellers_or_events)

    pack: PackRef
    as_of: AsOf | None = None
    sellers: list[SellerIn] | None = Field(None, min_length=1, max_length=MAX_SELLERS)
    events: EventsIn | None = None

    @model_validator(mode="after")
    def _one_input(self) -> EvaluationRequest:
        if (self.sellers is None) == (self.events is None):
            raise ValueError("give exactly one of 'sellers' (metric facts) or 'events'")
        return self

    @field_validator("sellers")
    @classmethod
    def _each_seller_once(cls, sellers: list[SellerIn] | None) -> list[SellerIn] | None:
        first: dict[tuple[str, object], int] = {}
        for index, seller in enumerate(sellers or ()):
            key = (seller.seller_id, seller.as_of)
            if key in first:
                raise ValueError(
                    f"seller {seller.seller_id!r} is given twice (sellers[{first[key]}] and "
                    f"sellers[{index}]); give each seller once per as_of"
                )
            first[key] = index
        return sellers


#: ``as_of`` in every answer: the day evaluated (``2026-11-15``), or the instant when one
#: was asked for (``2026-11-15T12:00:00Z``); the same string in a stored record and in
#: the decision it holds.
AS_OF_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z)?$"
AsOfOut = Annotated[
    str,
    Field(
        pattern=AS_OF_PATTERN,
        description="the day evaluated (YYYY-MM-DD), or the UTC instant when one was asked for",
        examples=["2026-11-15"],
    ),
]
Status = Literal["healthy", "at_risk", "critical"]
Severity = Literal["low", "medium", "high", "critical"]


class Action(BaseModel):
    """An action a decision takes (``schemas/decision.schema.json``, ``$defs/action``)."""

    action: str = Field(min_length=1, description="a built-in action (warn, suspend...) or custom")
    rule: str = Field(min_length=1, description="the rule or score that caused the action")
    severity: Severity
    metric: str | None
    value: float | None
    threshold: float | None
    explanation: str | None
    enforced: bool = Field(description="false for shadow-mode and exempted actions")
    exemption: str | None = Field(description="the exemption document that waived it")


class Distance(BaseModel):
    """How far a rule's metric is from flipping (``$defs/distance``)."""

    headroom: int | None = Field(ge=0)
    excess: int | None = Field(ge=0)
    good_needed: int | None = Field(ge=0)
    clears_on: date | None


class RuleResult(BaseModel):
    """One rule's outcome in a decision (``$defs/rule``)."""

    rule: str = Field(min_length=1)
    outcome: Literal["matched", "not_matched", "not_assessed"]
    mode: Literal["enforce", "shadow"]
    reason: str | None
    metric: str | None
    op: Literal["gt", "gte", "lt", "lte", "eq"] | None
    value: float | None
    threshold: float | None
    num: float | None
    den: float | None
    window_start: date | None
    window_end: date | None
    explanation: str | None
    distance: Distance | None
    streak: int = Field(ge=0)


class Dimension(BaseModel):
    """One weighted dimension of a score (``$defs/dimension``)."""

    dimension: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    weight: float
    value: float | None
    points: float | None


class Score(BaseModel):
    """A score's total and grade in a decision (``$defs/score``)."""

    score: str = Field(min_length=1)
    total: float | None
    grade: str | None
    dimensions: list[Dimension]
    reason: str | None
    explanation: str | None


class Decision(BaseModel):
    """One seller's decision, as ``schemas/decision.schema.json`` defines it.

    Published in OpenAPI (``components/schemas/Decision``) so that generated
    clients type ``status``, ``actions`` and ``rules``; the service sends the
    stored document as it is.
    """

    decision_id: str = Field(min_length=36, max_length=36, json_schema_extra={"format": "uuid"})
    seller_id: str = Field(min_length=1)
    as_of: AsOfOut
    pack: str
    pack_version: str = Field(min_length=1)
    pack_digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    status: Status
    actions: list[Action]
    facts: dict[str, float | None]
    rules: list[RuleResult]
    scores: list[Score]


class _DocumentedAsDecision:
    """Marks a mapping that is documented as a :class:`Decision` (and not validated as one)."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(Decision.__pydantic_core_schema__)


#: A decision document in an answer: sent as stored, documented as :class:`Decision`.
DecisionDocument = Annotated[dict[str, Any], _DocumentedAsDecision]


class PackVersionRef(BaseModel):
    """The exact pack version that made decisions."""

    id: str
    version: str
    digest: str


class PackSelection(BaseModel):
    """Which version of the pack an evaluation used, and why."""

    version: str
    reason: str = Field(
        description="'version named in the request', 'active at as_of (activated <instant>)'...",
        examples=["active at as_of (activated 2026-10-01T09:30:00Z)"],
    )


class EvaluationResponse(BaseModel):
    """The decisions of one evaluation request, in request order (stored already)."""

    run_id: str
    pack: PackVersionRef
    pack_selection: PackSelection | None = Field(
        None, description="absent only in answers kept (Idempotency-Key) before it existed"
    )
    decisions: list[DecisionDocument]


class StoredDecisionOut(BaseModel):
    """A decision as the store keeps it."""

    decision_id: str
    run_id: str
    seller_id: str
    pack_id: str
    pack_version: str
    pack_digest: str
    as_of: AsOfOut
    status: Status
    evaluated_at: datetime
    decision: DecisionDocument


class DecisionList(BaseModel):
    """A page of a seller's decisions, newest first."""

    decisions: list[StoredDecisionOut]
    next_cursor: str | None


class ApprovalOut(BaseModel):
    """An approval of a pack version."""

    pack_id: str
    version: str
    approver: str
    comment: str
    at: datetime
    impact: Any = Field(None, description="the impact report stored with the approval, if any")


class PackVersionOut(BaseModel):
    """A stored pack version (``content`` and ``approvals`` only when asked for one version)."""

    pack_id: str
    version: str
    digest: str
    state: Literal["draft", "active", "retired"]
    author: str
    created_at: datetime
    activate_at: datetime | None = Field(None, description="a pending scheduled activation")
    scheduled_by: str | None = None
    content: str | None = None
    approvals: list[ApprovalOut] | None = None


class PackSummary(BaseModel):
    """A pack id, its active version, its scheduled version and every version stored."""

    pack_id: str
    active_version: str | None
    scheduled_version: str | None = None
    versions: list[PackVersionOut]


class PackList(BaseModel):
    """Every pack in the store."""

    packs: list[PackSummary]


class PackUpload(_Strict):
    """A pack to validate or upload: its YAML text and optional ``PackTest`` fixtures."""

    content: str = Field(min_length=1, max_length=1_000_000, description="pack YAML")
    fixtures: list[Annotated[str, Field(min_length=1, max_length=1_000_000)]] = Field(
        default_factory=list, max_length=MAX_FIXTURES, description="PackTest YAML documents"
    )


class ApprovalRequest(_Strict):
    """An admin's approval of a version they did not upload."""

    comment: str = Field(min_length=1, max_length=MAX_COMMENT, description="why it may go live")

    @field_validator("comment")
    @classmethod
    def _not_blank(cls, comment: str) -> str:
        if not comment.strip():
            raise ValueError("the comment is blank: say why the version may go live")
        return comment


class ActivationRequest(_Strict):
    """Schedule the activation at an instant in the future (without a body: activate now)."""

    at: datetime = Field(
        description="when the version becomes the active one (a naive instant is UTC)",
        examples=["2026-12-01T00:00:00Z"],
    )

    @field_validator("at")
    @classmethod
    def _utc(cls, at: datetime) -> datetime:
        try:
            return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        except OverflowError:  # an offset that crosses year 1 or 9999
            raise ValueError(f"{at.isoformat()} is out of range") from None


class PackChange(BaseModel):
    """One difference between two pack versions (as ``sellerpolicy diff --format json``)."""

    section: str
    subject: str
    kind: str
    field: str | None
    old: str | None
    new: str | None
    text: str


class PackDiff(BaseModel):
    """What changed from one stored version of a pack to another."""

    old: PackVersionRef
    new: PackVersionRef
    changes: list[PackChange]


class ValidationResult(BaseModel):
    """A pack that passed validation and its fixtures."""

    pack_id: str
    version: str
    digest: str
    fixture_cases: int
    warnings: list[dict[str, Any]]
