"""A typed Python client of the HTTP service (``sellerpolicy.client``), on httpx.

::

    from sellerpolicy.client import Client, ProblemError

    with Client("http://127.0.0.1:8000", api_key="spk_...") as client:
        evaluation = client.evaluate(
            "walmart-seller-performance",
            sellers=[{"seller_id": "S-1", "facts": {"orders": 1200, ...}}],
            as_of="2026-11-15",
        )
        for decision in evaluation.decisions:
            print(decision.seller_id, decision.status, [a.action for a in decision.actions])

Each method is one operation of the published OpenAPI document (its
``operationId`` in the method's docstring) and returns frozen dataclasses
mirroring that document's schemas: :class:`Decision` is
``schemas/decision.schema.json`` (``status`` a :data:`Status`, ``actions``
:class:`Action` objects). Fields the service adds later are ignored, so an
older client keeps working against a newer service. An answer of 4xx or 5xx
raises :class:`ProblemError`, which carries the problem document
(:class:`Problem`: ``type``, ``status``, ``detail``, ``errors``).

The module imports nothing of the engine: it needs only httpx (the
``client`` extra, ``pip install 'sellerpolicy[client]'``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import quote

import httpx

__all__ = [
    "Action",
    "Client",
    "Decision",
    "DecisionPage",
    "Distance",
    "Evaluation",
    "FieldProblem",
    "PackSummary",
    "PackValidation",
    "PackVersion",
    "Problem",
    "ProblemError",
    "RuleResult",
    "Status",
    "StoredDecision",
]

Status = Literal["healthy", "at_risk", "critical"]
Severity = Literal["low", "medium", "high", "critical"]
Outcome = Literal["matched", "not_matched", "not_assessed"]
ExplainLevel = Literal["none", "summary", "full"]

_PROBLEM = "application/problem+json"
_NDJSON = "application/x-ndjson"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One offending field of a request (an entry of a problem's ``errors``)."""

    field: str
    message: str
    json_path: str | None = None
    code: str | None = None
    line: int | None = None
    column: int | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> FieldProblem:
        """From its JSON object."""
        return cls(
            field=str(data.get("field", "")),
            message=str(data.get("message", "")),
            json_path=data.get("json_path"),
            code=data.get("code"),
            line=data.get("line"),
            column=data.get("column"),
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 9457 problem document, as every error answer of the service carries."""

    type: str
    title: str
    status: int
    detail: str
    errors: tuple[FieldProblem, ...] = ()
    correlation_id: str | None = None

    @property
    def slug(self) -> str:
        """The last part of ``type``: ``pack_not_found``, ``invalid_request``..."""
        return self.type.rsplit(":", 1)[-1]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Problem:
        """From its JSON object."""
        return cls(
            type=str(data.get("type", "about:blank")),
            title=str(data.get("title", "")),
            status=int(data.get("status", 0)),
            detail=str(data.get("detail", "")),
            errors=tuple(FieldProblem.of(e) for e in data.get("errors", ())),
            correlation_id=data.get("correlation_id"),
        )


class ProblemError(Exception):
    """The service answered with an error; :attr:`problem` is its problem document."""

    def __init__(self, problem: Problem, response: httpx.Response) -> None:
        super().__init__(f"{problem.status} {problem.slug}: {problem.detail}")
        self.problem = problem
        self.response = response

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.problem.status


@dataclass(frozen=True, slots=True)
class Action:
    """An action a decision takes (``$defs/action`` of the decision schema)."""

    action: str
    rule: str
    severity: Severity
    metric: str | None
    value: float | None
    threshold: float | None
    explanation: str | None
    enforced: bool
    exemption: str | None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Action:
        """From its JSON object."""
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class Distance:
    """How far a rule's metric is from flipping."""

    headroom: int | None
    excess: int | None
    good_needed: int | None
    clears_on: str | None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Distance:
        """From its JSON object."""
        return cls(**_known(cls, data))


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's outcome in a decision (``$defs/rule``)."""

    rule: str
    outcome: Outcome
    mode: Literal["enforce", "shadow"]
    reason: str | None
    metric: str | None
    op: str | None
    value: float | None
    threshold: float | None
    num: float | None
    den: float | None
    window_start: str | None
    window_end: str | None
    explanation: str | None
    distance: Distance | None
    streak: int

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> RuleResult:
        """From its JSON object."""
        found = _known(cls, data)
        distance = found.get("distance")
        found["distance"] = Distance.of(distance) if distance is not None else None
        return cls(**found)


@dataclass(frozen=True, slots=True)
class Decision:
    """One seller's decision (``schemas/decision.schema.json``); ``scores`` as JSON objects."""

    decision_id: str
    seller_id: str
    as_of: str
    pack: str
    pack_version: str
    pack_digest: str
    status: Status
    actions: tuple[Action, ...]
    facts: Mapping[str, float | None]
    rules: tuple[RuleResult, ...]
    scores: tuple[Mapping[str, Any], ...]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Decision:
        """From its JSON object."""
        found = _known(cls, data)
        found["actions"] = tuple(Action.of(a) for a in data.get("actions", ()))
        found["rules"] = tuple(RuleResult.of(r) for r in data.get("rules", ()))
        found["scores"] = tuple(data.get("scores", ()))
        found["facts"] = dict(data.get("facts", {}))
        return cls(**found)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The answer of :meth:`Client.evaluate`: the run and its decisions, in request order."""

    run_id: str
    pack_id: str
    pack_version: str
    pack_digest: str
    selection_reason: str | None
    decisions: tuple[Decision, ...]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Evaluation:
        """From its JSON object."""
        pack = data["pack"]
        selection = data.get("pack_selection") or {}
        return cls(
            run_id=data["run_id"],
            pack_id=pack["id"],
            pack_version=pack["version"],
            pack_digest=pack["digest"],
            selection_reason=selection.get("reason"),
            decisions=tuple(Decision.of(d) for d in data["decisions"]),
        )


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision as the store keeps it (``as_of`` is the decision's own)."""

    decision_id: str
    run_id: str
    seller_id: str
    pack_id: str
    pack_version: str
    pack_digest: str
    as_of: str
    status: Status
    evaluated_at: str
    decision: Decision

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> StoredDecision:
        """From its JSON object."""
        found = _known(cls, data)
        found["decision"] = Decision.of(data["decision"])
        return cls(**found)


@dataclass(frozen=True, slots=True)
class DecisionPage:
    """A page of a seller's decisions, newest first; ``next_cursor`` reads the next."""

    decisions: tuple[StoredDecision, ...]
    next_cursor: str | None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> DecisionPage:
        """From its JSON object."""
        decisions = tuple(StoredDecision.of(d) for d in data["decisions"])
        return cls(decisions, data.get("next_cursor"))


@dataclass(frozen=True, slots=True)
class PackVersion:
    """A stored pack version (``content`` and ``approvals`` only from :meth:`Client.pack`)."""

    pack_id: str
    version: str
    digest: str
    state: Literal["draft", "active", "retired"]
    author: str
    created_at: str
    activate_at: str | None = None
    scheduled_by: str | None = None
    content: str | None = None
    approvals: tuple[Mapping[str, Any], ...] | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> PackVersion:
        """From its JSON object."""
        found = _known(cls, data)
        if found.get("approvals") is not None:
            found["approvals"] = tuple(found["approvals"])
        return cls(**found)


@dataclass(frozen=True, slots=True)
class PackSummary:
    """A pack id, its active and scheduled versions, and every version stored."""

    pack_id: str
    active_version: str | None
    scheduled_version: str | None
    versions: tuple[PackVersion, ...] = field(default=())

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> PackSummary:
        """From its JSON object."""
        return cls(
            pack_id=data["pack_id"],
            active_version=data.get("active_version"),
            scheduled_version=data.get("scheduled_version"),
            versions=tuple(PackVersion.of(v) for v in data.get("versions", ())),
        )


@dataclass(frozen=True, slots=True)
class PackValidation:
    """A pack that passed validation, with how many fixture cases ran."""

    pack_id: str
    version: str
    digest: str
    fixture_cases: int
    warnings: tuple[Mapping[str, Any], ...]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> PackValidation:
        """From its JSON object."""
        found = _known(cls, data)
        found["warnings"] = tuple(found.get("warnings", ()))
        return cls(**found)


class Client:
    """The service at ``base_url``, called with ``api_key`` (a bearer token).

    ``http``: an :class:`httpx.Client` to use instead of a new one (its base
    URL is then the caller's; ``api_key`` is still sent with each request).
    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owned = http is None
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (unless the :class:`httpx.Client` was the caller's)."""
        if self._owned:
            self.http.close()

    # evaluations and decisions

    def evaluate(
        self,
        pack: str,
        *,
        sellers: Sequence[Mapping[str, Any]] | None = None,
        events: Mapping[str, Any] | None = None,
        as_of: str | None = None,
        explain: ExplainLevel | None = None,
        idempotency_key: str | None = None,
    ) -> Evaluation:
        """``evaluate``: decide ``sellers`` (metric facts) or ``events`` (one seller's rows).

        ``pack`` is a pack id (its version active at ``as_of``) or ``id@version``.
        """
        body: dict[str, Any] = {"pack": pack}
        if sellers is not None:
            body["sellers"] = [dict(s) for s in sellers]
        if events is not None:
            body["events"] = dict(events)
        if as_of is not None:
            body["as_of"] = as_of
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        params = {"explain": explain} if explain else None
        answer = self._call("POST", "/v1/evaluations", json=body, params=params, headers=headers)
        return Evaluation.of(answer)

    def iter_evaluate(
        self,
        pack: str,
        *,
        sellers: Sequence[Mapping[str, Any]],
        as_of: str | None = None,
        explain: ExplainLevel | None = None,
        idempotency_key: str | None = None,
    ) -> Iterator[Decision]:
        """``evaluate`` answered as JSON lines (``Accept: application/x-ndjson``): each
        decision as it arrives, so a large batch is never held whole in memory.

        Every decision is stored before the first line is sent; a 4xx or 5xx raises
        :class:`ProblemError` before anything is yielded.
        """
        body: dict[str, Any] = {"pack": pack, "sellers": [dict(s) for s in sellers]}
        if as_of is not None:
            body["as_of"] = as_of
        headers = self._auth | {"Accept": _NDJSON}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        params = {"explain": explain} if explain else None
        with self.http.stream(
            "POST", "/v1/evaluations", json=body, params=params, headers=headers
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise ProblemError(_problem_of(response), response)
            for line in response.iter_lines():
                if line:
                    yield Decision.of(json.loads(line))

    def seller_decisions(
        self,
        seller_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        **filters: str,
    ) -> DecisionPage:
        """``listSellerDecisions``: one page of a seller's decisions, newest first.

        ``filters``: the operation's other query parameters (``pack``, ``status``...).
        """
        params: dict[str, Any] = dict(filters)
        if limit is not None:
            params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        path = f"/v1/sellers/{_segment(seller_id)}/decisions"
        return DecisionPage.of(self._call("GET", path, params=params))

    def iter_seller_decisions(self, seller_id: str, **filters: Any) -> Iterator[StoredDecision]:
        """Every decision of a seller, newest first, reading page after page."""
        cursor: str | None = None
        while True:
            page = self.seller_decisions(seller_id, cursor=cursor, **filters)
            yield from page.decisions
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def decision(self, decision_id: str) -> StoredDecision:
        """``getDecision``: one stored decision by id."""
        return StoredDecision.of(self._call("GET", f"/v1/decisions/{_segment(decision_id)}"))

    # packs

    def packs(self) -> list[PackSummary]:
        """``listPacks``: every pack with its active, scheduled and stored versions."""
        return [PackSummary.of(p) for p in self._call("GET", "/v1/packs")["packs"]]

    def pack(self, pack_id: str, version: str) -> PackVersion:
        """``getPackVersion``: one stored version, with its YAML and approvals."""
        return PackVersion.of(self._call("GET", _version(pack_id, version)))

    def validate(self, content: str, fixtures: Sequence[str] = ()) -> PackValidation:
        """``validatePack``: check pack YAML (and its ``PackTest`` fixtures); store nothing."""
        body = {"content": content, "fixtures": list(fixtures)}
        return PackValidation.of(self._call("POST", "/v1/packs:validate", json=body))

    def upload(self, content: str, fixtures: Sequence[str] = ()) -> PackVersion:
        """``uploadPack``: store a new draft version (validated, fixtures run)."""
        body = {"content": content, "fixtures": list(fixtures)}
        return PackVersion.of(self._call("POST", "/v1/packs", json=body))

    def approve(self, pack_id: str, version: str, comment: str) -> Mapping[str, Any]:
        """``approvePackVersion``: an admin's approval, as the service records it."""
        path = _version(pack_id, version) + "/approve"
        return cast(Mapping[str, Any], self._call("POST", path, json={"comment": comment}))

    def activate(self, pack_id: str, version: str, *, at: str | None = None) -> PackVersion:
        """``activatePackVersion``: make the version active now, or schedule it ``at``."""
        path = _version(pack_id, version) + "/activate"
        body = {"at": at} if at is not None else None
        return PackVersion.of(self._call("POST", path, json=body))

    def cancel_schedule(self, pack_id: str, version: str) -> PackVersion:
        """``cancelScheduledActivation``: drop the version's pending scheduled activation."""
        path = _version(pack_id, version) + "/schedule"
        return PackVersion.of(self._call("DELETE", path))

    def diff(self, pack_id: str, new: str, old: str | None = None) -> dict[str, Any]:
        """``diffPackVersions``: what changed from ``old`` (default: the active one) to ``new``."""
        params = {"to": new} | ({"from": old} if old is not None else {})
        return self._call("GET", f"/v1/packs/{_segment(pack_id)}/diff", params=params)

    def impact(
        self, pack_id: str, version: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``packVersionImpact``: how the version would change recent decisions."""
        path = _version(pack_id, version) + "/impact"
        return self._call("POST", path, json=dict(body) if body is not None else {})

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """Send the request; the JSON answer, or :class:`ProblemError` for 4xx and 5xx."""
        if options.get("json") is None:
            options.pop("json", None)
        options["headers"] = self._auth | (options.get("headers") or {})
        response = self.http.request(method, path, **options)
        if response.status_code >= 400:
            raise ProblemError(_problem_of(response), response)
        answer = response.json()
        if not isinstance(answer, dict):
            raise TypeError(f"{method} {path}: expected a JSON object, got {type(answer)}")
        return answer


def _problem_of(response: httpx.Response) -> Problem:
    """The problem document of an error answer (one made up if it carries none)."""
    if response.headers.get("content-type", "").startswith(_PROBLEM):
        try:
            return Problem.of(response.json())
        except ValueError:
            pass
    status = response.status_code
    return Problem("about:blank", response.reason_phrase, status, response.text[:200])


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of the dataclass ``cls`` (newer ones dropped)."""
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {name: value for name, value in data.items() if name in names}


def _segment(value: str) -> str:
    """``value`` as one path segment (``/`` and the rest escaped)."""
    return quote(value, safe="")


def _version(pack_id: str, version: str) -> str:
    return f"/v1/packs/{_segment(pack_id)}/versions/{_segment(version)}"
