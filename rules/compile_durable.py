"""Compile a :class:`CompiledPack` to durable-rules' JSON ruleset form.

Pure: this module builds data only; ``engine.backend_durable`` is the one
module that hands it to durable-rules. The output follows the JSON ruleset
grammar of durable-rules 2.0 (``docs/json/reference.md`` of jruizgit/rules)::

    {"<rule name>": {"all": [{"m": <expression>}]}, ...}

with expressions built from ``$and``, ``$or``, ``$gt``, ``$gte``, ``$lt``,
``$lte``, ``$neq``, ``$ex`` and plain equality ``{"<property>": value}``.

Design, each point answering one sharp edge of durable-rules:

* One durable rule per pack rule, named by the rule id (kebab-case, so it
  cannot clash with the catch-all ``sellerpolicy_catch_all``, which matches
  every fact so that no fact is ever "not handled").
* durable has no general negation, so ``not`` is pushed down to the leaves
  (De Morgan, flipped operators: ``not x >= t`` is ``x < t``; ``not x == t``
  is ``x != t``). That is exact because the back end is only asked about
  rules whose metrics are all non-null.
* Fact properties get short keys (``p0``, ``p1``, ...) in first-seen order.
  Every rule also requires each of its keys to exist (``$ex``), so a fact
  that lacks a metric never fires a rule reading it, whatever the operator.
* durable walks its alpha network with a fixed stack of 64 nodes: a fact
  that reaches more pending nodes at once fails with code 303 (measured with
  65 rules on 65 properties of one fact; process aborts followed). A rule
  holds at most :data:`MAX_RULE_EXPRESSIONS` expressions (code 113), and a
  message at most :data:`MAX_FACT_PROPERTIES` properties (``sid``, ``id``
  and ``g`` included). So rules are packed into *groups*, each within
  :data:`MAX_GROUP_COST` alpha nodes and edges and within one message's
  properties; a seller gets one fact per group, and a rule matches only
  facts of its group (``{"g": n}`` first). A rule that does not fit alone is
  rejected with a :class:`PackError` (``durable_rule_too_large``).
* durable's JSON parser only accepts an exponent after a decimal point
  (``1e-05`` is error 204, ``1.0e-05`` is fine); :func:`durable_number`
  writes numbers that it reads back to the same double, and
  :meth:`DurableRuleset.to_json` uses it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .diagnostics import Diagnostic, PackError
from .model import AllOf, Compare, CompiledPack, Condition, Field, NotOf, Op, Rule

#: Properties one durable message may carry (measured on durable-rules 2.0.28:
#: 254 with an explicit ``id``, error 302 from 255 on).
MAX_FACT_PROPERTIES = 254
#: Properties of every fact that are not metrics: ``sid``, ``id`` and ``g``.
RESERVED_PROPERTIES = ("sid", "id", "g")
#: Metric keys one fact (one group) can hold.
MAX_KEYS_PER_GROUP = MAX_FACT_PROPERTIES - len(RESERVED_PROPERTIES)
#: Alpha-network cost one group may have: durable's traversal stack holds 64
#: nodes (``MAX_STACK_SIZE`` in events.c); the rest is margin for the group
#: node, the catch-all and the root.
MAX_GROUP_COST = 48
#: Expressions in one rule: durable fails from 32 on (``MAX_SEQUENCE_EXPRESSIONS``,
#: error 113); ``$and`` and ``$or`` count twice (open and end).
MAX_RULE_EXPRESSIONS = 31
#: The rule that matches every fact, so that a fact is never "not handled".
CATCH_ALL = "sellerpolicy_catch_all"

_RULE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

_OPS: Mapping[Op, str] = {Op.GT: "$gt", Op.GTE: "$gte", Op.LT: "$lt", Op.LTE: "$lte"}
#: ``not (x <op> t)`` is ``x <negated op> t`` for non-null x.
_NEGATED: Mapping[Op, str] = {
    Op.GT: "$lte",
    Op.GTE: "$lt",
    Op.LT: "$gte",
    Op.LTE: "$gt",
    Op.EQ: "$neq",
}

JsonValue = Any  # the JSON ruleset grammar is recursive and heterogeneous


@dataclass(frozen=True, slots=True)
class FactKey:
    """A durable property (``key``) carrying one facts field of a seller."""

    key: str
    fact: str  # the SellerFacts name: the metric use, or ``<name>__num``


@dataclass(frozen=True, slots=True)
class FactGroup:
    """The keys that travel in one fact; rules of the group match only it."""

    index: int
    keys: tuple[FactKey, ...]


@dataclass(frozen=True, slots=True)
class DurableRuleset:
    """A pack compiled for durable-rules.

    ``rules`` is the JSON ruleset (rule name -> rule), a fresh dict for each
    compilation. Each pack rule is named by its id; the only other rule is
    :data:`CATCH_ALL`.
    """

    pack_id: str
    digest: str
    rules: dict[str, JsonValue]
    groups: tuple[FactGroup, ...]

    def to_json(self) -> str:
        """The ruleset as text durable-rules parses exactly (see :func:`durable_number`)."""
        return encode(self.rules)

    def describe(self) -> dict[str, JsonValue]:
        """A JSON-ready view of everything compiled (for golden files and debugging)."""
        return {
            "pack": self.pack_id,
            "digest": self.digest,
            "groups": [
                {"g": group.index, "keys": {k.key: k.fact for k in group.keys}}
                for group in self.groups
            ],
            "ruleset": self.rules,
        }


def fact_name(leaf: Compare) -> str:
    """The facts field a leaf reads: the metric itself or its ``__num`` count."""
    return leaf.metric if leaf.field is Field.VALUE else f"{leaf.metric}__num"


def durable_number(value: float) -> str:
    """``value`` as a JSON number that durable-rules reads back to the same double.

    Python's shortest round-trip ``repr`` is kept, with ``.0`` added before a
    bare exponent (durable rejects ``1e-05``). Non-finite values have no JSON form.
    """
    if not math.isfinite(value):
        raise ValueError(f"durable-rules cannot represent {value!r}")
    text = repr(float(value))
    mantissa, sep, exponent = text.partition("e")
    if sep and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text


def encode(value: JsonValue) -> str:
    """Compact JSON like ``json.dumps``, with numbers written by :func:`durable_number`."""
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return durable_number(value)
    raise TypeError(f"cannot encode {type(value).__name__} for durable-rules")


def compile_durable(pack: CompiledPack) -> DurableRuleset:
    """Compile every rule of ``pack``; raises :class:`PackError` with all problems."""
    problems: list[Diagnostic] = []
    keys: dict[str, FactKey] = {}
    planned: list[_Planned] = []
    seen: set[str] = set()
    for index, rule in enumerate(pack.rules):
        rule_problems = _check(pack, index, rule, duplicate=rule.id in seen)
        seen.add(rule.id)
        problems.extend(rule_problems)
        if rule_problems:
            continue
        used: dict[str, FactKey] = {}
        for leaf in _leaves(rule.when):
            key = keys.setdefault(fact_name(leaf), FactKey(f"p{len(keys)}", fact_name(leaf)))
            used.setdefault(key.key, key)
        plan = _Planned(
            rule=rule,
            keys=tuple(used.values()),
            expression=_expression(rule.when, keys, negate=False),
        )
        if plan.too_large:
            problems.append(
                _problem(
                    pack,
                    index,
                    rule,
                    "durable_rule_too_large",
                    f"rule reads {len(plan.keys)} facts in {plan.expressions} expressions "
                    f"(alpha cost {plan.cost}); durable-rules takes at most "
                    f"{MAX_RULE_EXPRESSIONS} expressions and cost {MAX_GROUP_COST} per rule",
                    hint="split the rule, or evaluate this pack with another back end",
                )
            )
        planned.append(plan)
    if problems:
        raise PackError(problems)

    groups = _group(planned)
    rules: dict[str, JsonValue] = {}
    members: dict[int, dict[str, FactKey]] = {}
    for plan, group in zip(planned, groups, strict=True):
        rules[plan.rule.id] = {"all": [{"m": plan.match(group)}]}
        members.setdefault(group, {}).update((k.key, k) for k in plan.keys)
    rules[CATCH_ALL] = {"all": [{"m": {"$ex": {"g": 1}}}]}
    return DurableRuleset(
        pack_id=pack.id,
        digest=pack.digest,
        rules=rules,
        groups=tuple(FactGroup(index=g, keys=tuple(members[g].values())) for g in sorted(members)),
    )


@dataclass(frozen=True, slots=True)
class _Planned:
    """One rule on its way to durable: the keys it reads and its expression."""

    rule: Rule
    keys: tuple[FactKey, ...]
    expression: JsonValue

    def match(self, group: int) -> JsonValue:
        """The whole test of a fact: in ``group``, every key present, the condition true."""
        tests: list[JsonValue] = [{"g": group}]
        tests.extend({"$ex": {k.key: 1}} for k in self.keys)
        if "$and" in self.expression:
            tests.extend(self.expression["$and"])
        else:
            tests.append(self.expression)
        return {"$and": tests}

    @property
    def expressions(self) -> int:
        """The length of durable's expression sequence for this rule."""
        return _sequence_length(self.match(0))

    @property
    def cost(self) -> int:
        """An upper bound on the alpha nodes and edges the rule adds to durable's network.

        One ``$ex`` node per key, one node per comparison, and one more edge per
        comparison for the junction node of an enclosing ``$or``.
        """
        return len(self.keys) + 2 * len(_leaves(self.rule.when))

    @property
    def too_large(self) -> bool:
        """Whether durable cannot take the rule even alone in a group."""
        return (
            len(self.keys) > MAX_KEYS_PER_GROUP
            or self.cost > MAX_GROUP_COST
            or self.expressions > MAX_RULE_EXPRESSIONS
        )


def _sequence_length(expression: JsonValue) -> int:
    """durable's count for an expression: 2 per ``$and``/``$or`` (open, end), 1 per test."""
    for junction in ("$and", "$or"):
        if junction in expression:
            return 2 + sum(_sequence_length(child) for child in expression[junction])
    return 1


def _group(planned: list[_Planned]) -> list[int]:
    """First-fit: the group of each rule, keeping every group within both budgets."""
    groups: list[tuple[set[str], int]] = []
    assigned = []
    for plan in planned:
        names = {k.key for k in plan.keys}
        for index, (members, total) in enumerate(groups):
            fits_keys = len(members | names) <= MAX_KEYS_PER_GROUP
            if fits_keys and total + plan.cost <= MAX_GROUP_COST:
                groups[index] = (members | names, total + plan.cost)
                assigned.append(index)
                break
        else:
            groups.append((names, plan.cost))
            assigned.append(len(groups) - 1)
    return assigned


def _expression(cond: Condition, keys: Mapping[str, FactKey], *, negate: bool) -> JsonValue:
    """The durable expression of ``cond`` (of ``not cond`` when ``negate``)."""
    if isinstance(cond, Compare):
        key = keys[fact_name(cond)].key
        threshold = float(cond.threshold)
        if negate:
            return {_NEGATED[cond.op]: {key: threshold}}
        if cond.op is Op.EQ:
            return {key: threshold}
        return {_OPS[cond.op]: {key: threshold}}
    if isinstance(cond, NotOf):
        return _expression(cond.child, keys, negate=not negate)
    children = [_expression(child, keys, negate=negate) for child in cond.children]
    if len(children) == 1:
        return children[0]
    conjunction = isinstance(cond, AllOf) != negate  # De Morgan flips all/any
    return {"$and" if conjunction else "$or": children}


def _leaves(cond: Condition) -> list[Compare]:
    """The comparison leaves of a condition, in order."""
    if isinstance(cond, Compare):
        return [cond]
    if isinstance(cond, NotOf):
        return _leaves(cond.child)
    return [leaf for child in cond.children for leaf in _leaves(child)]


def _check(pack: CompiledPack, index: int, rule: Rule, *, duplicate: bool) -> list[Diagnostic]:
    """Problems that stop ``rule`` from compiling to durable-rules."""
    problems = []
    if duplicate:
        problems.append(
            _problem(pack, index, rule, "durable_duplicate_rule_id", f"{rule.id!r} repeats")
        )
    if not _RULE_NAME.match(rule.id) or rule.id == CATCH_ALL:
        problems.append(
            _problem(
                pack,
                index,
                rule,
                "durable_bad_rule_id",
                f"rule id {rule.id!r} is not kebab-case",
                hint="rule ids match ^[a-z0-9]+(-[a-z0-9]+)*$",
            )
        )
    if _has_empty_group(rule.when):
        problems.append(
            _problem(pack, index, rule, "durable_empty_group", "an all/any has no children")
        )
    for leaf in _leaves(rule.when):
        if not math.isfinite(leaf.threshold):
            problems.append(
                _problem(
                    pack,
                    index,
                    rule,
                    "durable_bad_threshold",
                    f"threshold {leaf.threshold!r} of {leaf.metric!r} is not a finite number",
                )
            )
    return problems


def _has_empty_group(cond: Condition) -> bool:
    """Whether some all/any in ``cond`` has no children."""
    if isinstance(cond, Compare):
        return False
    if isinstance(cond, NotOf):
        return _has_empty_group(cond.child)
    return not cond.children or any(_has_empty_group(child) for child in cond.children)


def _problem(
    pack: CompiledPack,
    index: int,
    rule: Rule,
    code: str,
    message: str,
    *,
    hint: str | None = None,
) -> Diagnostic:
    """A diagnostic located at ``rule`` (line 1 when the pack was built in code)."""
    return Diagnostic(
        file=pack.path or f"<pack {pack.id}>",
        line=max(rule.line, 1),
        column=1,
        code=code,
        json_path=f"$.spec.rules[{index}].when",
        message=message,
        hint=hint,
    )
