"""The durable-rules back end: the one module of sellerpolicy that imports durable.

durable-rules 2.0.28, fenced. Each sharp edge below was measured on this
machine; each has a test in ``tests/durable/test_durable_sharp_edges.py``
(and the compiler's in ``test_durable_compile.py``).

1. A ruleset holds at most 1,024 live state ids (the 1,025th assert raises a
   bare ``MemoryError``). Each seller is evaluated in a state of its own,
   deleted right after (``finally``), so at most one state is ever live.
2. A posted *event* is consumed by the first matching rule. Sellers are
   asserted as *facts*, which every matching rule sees; deleting the state
   retracts them.
3. A message that matches no rule raises ``MessageNotHandledException``
   (code 1 in the C engine, which creates the state all the same). The
   compiled ruleset has a catch-all rule that every fact matches; its firing
   is dropped. A code 1 or 2 that still comes back raises
   :class:`DurableEngineError`.
4. Batch calls lost firings in a race with the host's background timer
   threads. Nothing here starts those threads (no ``Host`` is made, see 10),
   nothing is batched, and the firings of each fact are drained
   synchronously (``start_action_for_state`` then
   ``complete_and_start_action`` until empty) under the engine lock.
5. A rule with an OR fires once per true branch: firings are made a set per
   seller (:meth:`DurableBackend.firings` keeps the raw list).
6. Two facts with identical content in one state are rejected as already
   observed: every fact carries a unique ``sid`` (a process-wide counter) and
   ``id``, so identical sellers are distinct facts.
7. A missing property makes a rule "not handled": only non-null metrics are
   sent, and every rule first requires (``$ex``) each key it reads, so a null
   or absent metric never fires a rule (not even a negated one) and never
   raises; the catch-all still handles the fact.
8. ``Host.register_rulesets`` mutates the dict it is given: no dict is handed
   to durable at all (the ruleset goes to the engine as text), and
   :func:`compile_durable` builds a fresh dict per call.
9. Ruleset names are global and cannot be registered twice: each ruleset is
   named from the pack id, its digest and a process-wide counter, and is
   registered once per process (cached by digest and ruleset text).
10. Each ``Host`` starts two timer threads, and durable's Python layer writes
    numbers with ``json.dumps``, e.g. ``1e-05``, which durable's own parser
    rejects (code 204: no exponent without a decimal point), so a threshold
    of 0.001% could not even be registered. This module therefore drives the
    engine that durable-rules ships (``durable_rules_engine``, the C
    extension under ``durable.engine``) directly, with numbers written by
    :func:`~sellerpolicy.rules.compile_durable.durable_number`: no Host, no
    threads. The engine's handles and states are process-global C state, so
    one :class:`_Engine` per process (a module-level instance, every call
    under its lock) mirrors it; it is this project's one deliberate module
    global, and it makes concurrent use from several threads safe.
11. Errors are bare numeric codes (``Could not assert fact, error code:
    302``): :class:`DurableEngineError` names the operation, the code and its
    meaning (from durable's ``rules.h``). After an engine error the ruleset is
    dropped from the cache, so the next call registers it afresh.
12. A message carries at most 255 properties (254 with an explicit ``id``).
    Two limits found while fencing bite much earlier: the alpha network is
    walked with a 64-node stack (65 rules on one fact: code 303, then the
    process aborted) and a rule holds at most 31 expressions (code 113). The
    compiler packs rules into fact *groups* within all three budgets; a
    seller gets one fact per group, and a rule that does not fit alone is a
    :class:`PackError` at compile time.

Numbers are compared as IEEE doubles: every value is sent as a float, and an
integer beyond 2**53 (not exact as a double), a boolean or a non-finite value
is refused with :class:`FactsError` naming the seller and the fact.

durable-rules is installed only on Python 3.11 and 3.12 (an environment marker
in ``pyproject.toml``): its C extension compiles on 3.13 but cannot be loaded
there (it calls ``PyEval_CallObject``, removed in 3.13). This module still
imports without it; building a :class:`DurableBackend` then raises
:class:`DurableUnavailableError`, one message saying why and what to use
instead. Every other back end, and ``--backend auto``, never needs durable.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sellerpolicy.engine.errors import FactsError
from sellerpolicy.engine.metrics.facts import SellerFacts
from sellerpolicy.rules.compile_durable import (
    CATCH_ALL,
    DurableRuleset,
    FactGroup,
    compile_durable,
    durable_number,
)
from sellerpolicy.rules.diagnostics import SellerPolicyError
from sellerpolicy.rules.model import CompiledPack

_dre: Any
try:  # durable-rules' C engine ships without type stubs.
    import durable_rules_engine as _dre  # type: ignore[import-not-found, no-redef, unused-ignore]
except ImportError as _error:  # not installed (Python 3.13+), or not loadable
    _dre = None
    _LOAD_PROBLEM: str | None = f"{type(_error).__name__}: {_error}"
else:
    _LOAD_PROBLEM = None

__all__ = [
    "DurableBackend",
    "DurableEngineError",
    "DurableUnavailableError",
    "durable_available",
]

#: Meanings of durable-rules' numeric error codes (src/rules/rules.h, 2.0.28).
ERROR_MEANINGS = {
    1: "message not handled by any rule",
    2: "message already observed (identical fact in the same state)",
    101: "out of memory",
    102: "unexpected type",
    103: "identifier too long",
    104: "unexpected value",
    105: "unexpected name",
    106: "rule limit exceeded",
    107: "rule 'exists' limit exceeded",
    108: "rule beta limit exceeded",
    109: "rule without qualifier",
    111: "invalid handle",
    112: "handle limit exceeded",
    113: "expression limit exceeded",
    201: "JSON parse error in a value",
    202: "JSON parse error in a string",
    203: "JSON parse error in a number",
    204: "JSON parse error in an object",
    205: "JSON parse error in an array",
    302: "message has too many properties",
    303: "maximum stack size exceeded",
    304: "too many messages in a frame",
    309: "state id not found",
    310: "no action available",
    311: "property not found",
    312: "operation not supported",
    313: "message too large",
    314: "message property too large",
}

_CODE = re.compile(r"error code: (\d+)")
_MAX_EXACT_INT = 2**53
_SID_NOT_FOUND = 309
_T = TypeVar("_T")


class DurableEngineError(SellerPolicyError):
    """durable-rules refused an operation; carries the numeric code and its meaning."""

    def __init__(self, operation: str, code: int | None, detail: str) -> None:
        self.operation = operation
        self.code = code
        if code is None:
            super().__init__(f"durable-rules could not {operation}: {detail}")
        else:
            meaning = ERROR_MEANINGS.get(code, "unknown error code")
            super().__init__(
                f"durable-rules could not {operation}: {meaning} (code {code}): {detail}"
            )


class DurableUnavailableError(SellerPolicyError):
    """durable-rules cannot be loaded in this Python: the durable back end cannot run."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        super().__init__(
            f"the durable back end needs durable-rules 2.0.28, which cannot be loaded on "
            f"Python {version} ({problem}); sellerpolicy installs it on Python 3.11 and 3.12 "
            "only. Use --backend auto, vector or python: the back ends agree exactly"
        )


def durable_available() -> bool:
    """Whether durable-rules' C engine loaded in this Python."""
    return _LOAD_PROBLEM is None


def _call(operation: str, function: Callable[..., _T], *args: object) -> _T:
    """Call the C engine, turning its bare-code errors into :class:`DurableEngineError`."""
    try:
        return function(*args)
    except (_dre.error, MemoryError) as error:
        match = _CODE.search(str(error))
        code = int(match.group(1)) if match else None
        raise DurableEngineError(operation, code, str(error) or type(error).__name__) from None


class _Engine:
    """The process's view of durable's C engine: its rulesets, state ids and lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: dict[tuple[str, str], int] = {}
        self._names = itertools.count(1)
        self._sids = itertools.count(1)

    def load(self, ruleset: DurableRuleset) -> int:
        """The engine handle of ``ruleset``, registered on first use.

        The cache key is the ruleset text itself (with the digest), so two
        packs share a handle only when durable would see the same rules; the
        facts of each call are still built from that call's own key groups.
        """
        text = ruleset.to_json()
        key = (ruleset.digest, text)
        with self._lock:
            handle = self._handles.get(key)
            if handle is None:
                digest = ruleset.digest.rpartition(":")[2][:16] or "nodigest"
                name = f"sellerpolicy-{ruleset.pack_id}-{digest}-{next(self._names)}"
                handle = _call(f"register ruleset {name}", _dre.create_ruleset, name, text)
                self._handles[key] = handle
        return handle

    def fire(self, handle: int, messages: Sequence[str]) -> list[str]:
        """Assert ``messages`` in a fresh state; every rule firing, in order (raw)."""
        if not messages:
            return []
        fired: list[str] = []
        with self._lock:
            sid = f"s{next(self._sids)}"
            try:
                for number, body in enumerate(messages):
                    text = f'{{"sid":"{sid}","id":"{sid}-{number}",{body}}}'
                    code, state = _call("assert fact", _dre.assert_fact, handle, text)
                    if code != 0:
                        raise DurableEngineError("assert fact", code, text)
                    fired.extend(_drain(handle, state))
            except DurableEngineError:
                # The ruleset may be left half-evaluated: the next call registers it anew.
                self._handles = {k: h for k, h in self._handles.items() if h != handle}
                raise
            finally:
                _delete_state(handle, sid)
        return fired


def _delete_state(handle: int, sid: str) -> None:
    """Drop a state and its facts; a state that a failed assert never made is fine."""
    try:
        _call("delete state", _dre.delete_state, handle, sid)
    except DurableEngineError as error:
        if error.code != _SID_NOT_FOUND:
            raise


def _drain(handle: int, state: int) -> list[str]:
    """Run the queued actions of one state synchronously: the names of the rules fired."""
    fired = []
    started = _call("start action", _dre.start_action_for_state, handle, state)
    message = started[1] if started else None
    while message:
        fired.append(_rule_name(message))
        message = _call("complete action", _dre.complete_and_start_action, handle, state)
    return fired


def _rule_name(message: str) -> str:
    """The rule of an action message ``{"<rule>":{"m":{...}}}``.

    Decoding the whole message (which repeats the fact) was most of the time
    spent per seller; rule names are kebab-case ids or the catch-all, never
    escaped, so the name is read up to its closing quote.
    """
    end = message.find('"', 2)
    if not message.startswith('{"') or end < 0 or message[end + 1 : end + 2] != ":":
        raise DurableEngineError("read action", None, f"unexpected action message {message!r}")
    return message[2:end]


#: The one engine of this process (see the module docstring, point 10).
_ENGINE = _Engine()


def _messages(groups: Sequence[FactGroup], seller: SellerFacts) -> list[str]:
    """The body of each fact of ``seller`` (one per group with a non-null metric)."""
    bodies = []
    for group in groups:
        parts = [f'"g":{group.index}']
        for key in group.keys:
            value = seller.get(key.fact)
            if value is not None:
                parts.append(f'"{key.key}":{_number(seller, key.fact, value)}')
        if len(parts) > 1:
            bodies.append(",".join(parts))
    return bodies


def _number(seller: SellerFacts, name: str, value: object) -> str:
    """A fact value as a durable number, or :class:`FactsError` naming seller and field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FactsError(f"seller {seller.seller_id!r}: fact {name!r} is {value!r}, not a number")
    if isinstance(value, int) and abs(value) > _MAX_EXACT_INT:
        raise FactsError(
            f"seller {seller.seller_id!r}: fact {name!r} = {value} is beyond 2**53, "
            "which durable-rules cannot compare exactly"
        )
    try:
        return durable_number(float(value))
    except ValueError:
        raise FactsError(
            f"seller {seller.seller_id!r}: fact {name!r} is {value!r}, not a finite number"
        ) from None


class DurableBackend:
    """Evaluate rule conditions with durable-rules' Rete engine, one fact set per seller."""

    name = "durable"

    def __init__(self) -> None:
        if _LOAD_PROBLEM is not None:
            raise DurableUnavailableError(_LOAD_PROBLEM)

    def match(self, pack: CompiledPack, facts: Sequence[SellerFacts]) -> list[frozenset[str]]:
        """For each seller, in order, the ids of rules whose condition is true."""
        return [frozenset(fired) - {CATCH_ALL} for fired in self.firings(pack, facts)]

    def firings(self, pack: CompiledPack, facts: Sequence[SellerFacts]) -> list[list[str]]:
        """For each seller, every firing durable reported, duplicates and catch-all kept."""
        if not pack.rules:
            return [[] for _ in facts]
        ruleset = compile_durable(pack)
        handle = _ENGINE.load(ruleset)
        return [_ENGINE.fire(handle, _messages(ruleset.groups, seller)) for seller in facts]
