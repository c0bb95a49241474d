"""Request and response bodies of the HTTP service (Pydantic, published in OpenAPI).

Requests are strict: unknown fields are refused, facts are JSON numbers
(no strings, no booleans, no NaN) or null, and a batch holds at most
:data:`MAX_SELLERS` sellers (:data:`MAX_EVENT_ROWS` event rows).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sellerpolicy.engine.metrics.facts import check_as_of
from sellerpolicy.engine.sources.tables import TABLES

__all__ = [
    "MAX_EVENT_ROWS",
    "MAX_SELLERS",
    "DecisionList",
    "EvaluationRequest",
    "EvaluationResponse",
    "EventsIn",
    "PackList",
    "PackSummary",
    "PackUpload",
    "PackVersionOut",
    "PackVersionRef",
    "SellerIn",
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


class EvaluationRequest(_Strict):
    """Evaluate sellers: give ``sellers`` (metric facts) or ``events`` (one seller's rows)."""

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


class PackVersionRef(BaseModel):
    """The exact pack version that made decisions."""

    id: str
    version: str
    digest: str


class EvaluationResponse(BaseModel):
    """The decisions of one evaluation request, in request order (stored already)."""

    run_id: str
    pack: PackVersionRef
    decisions: list[dict[str, Any]]


class StoredDecisionOut(BaseModel):
    """A decision as the store keeps it."""

    decision_id: str
    run_id: str
    seller_id: str
    pack_id: str
    pack_version: str
    pack_digest: str
    as_of: datetime
    status: str
    evaluated_at: datetime
    decision: dict[str, Any]


class DecisionList(BaseModel):
    """A page of a seller's decisions, newest first."""

    decisions: list[StoredDecisionOut]
    next_cursor: str | None


class PackVersionOut(BaseModel):
    """A stored pack version (``content`` only when asked for one version)."""

    pack_id: str
    version: str
    digest: str
    state: Literal["draft", "active", "retired"]
    author: str
    created_at: datetime
    content: str | None = None


class PackSummary(BaseModel):
    """A pack id, its active version and every version stored."""

    pack_id: str
    active_version: str | None
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


class ValidationResult(BaseModel):
    """A pack that passed validation and its fixtures."""

    pack_id: str
    version: str
    digest: str
    fixture_cases: int
    warnings: list[dict[str, Any]]
