"""One test per sharp edge of durable-rules 2.0.28 (style.md, "durable-rules, fenced")."""

from __future__ import annotations

import copy
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from durable_helpers import pack, rule, seller

from sellerpolicy.engine.errors import FactsError
from sellerpolicy.engine.evaluation.backends import durable as backend_durable
from sellerpolicy.engine.evaluation.backends.durable import DurableBackend, DurableEngineError
from sellerpolicy.rules.compile_durable import CATCH_ALL, DurableRuleset, compile_durable
from sellerpolicy.rules.model import AllOf, AnyOf, Compare, CompiledPack, Field, NotOf, Op

ODR = Compare("order_defect_rate", Op.GTE, 0.01)
LATE = Compare("late_shipment_rate", Op.GT, 0.04)
CANCEL = Compare("cancel_rate", Op.GT, 0.025)


def three_rules() -> CompiledPack:
    """Three independent rules on three metrics."""
    return pack(rule("odr", ODR), rule("late", LATE), rule("cancel", CANCEL))


def test_more_than_1024_sellers_in_one_run() -> None:
    """3,000 sellers in one call: states are deleted, so the 1,024 live-state limit never bites."""
    sellers = [
        seller(f"S{i}", {"order_defect_rate": 0.02 if i % 3 == 0 else 0.0}) for i in range(3000)
    ]
    got = DurableBackend().match(three_rules(), sellers)
    assert got == [frozenset({"odr"}) if i % 3 == 0 else frozenset() for i in range(3000)]


def test_several_rules_fire_for_one_seller() -> None:
    """Facts, not events: every matching rule fires, not only the first."""
    facts = {"order_defect_rate": 0.5, "late_shipment_rate": 0.5, "cancel_rate": 0.5}
    assert DurableBackend().match(three_rules(), [seller("S1", facts)]) == [
        frozenset({"odr", "late", "cancel"})
    ]


def test_seller_matching_no_rule() -> None:
    """A fact that matches no pack rule is handled (by the catch-all) and yields no id."""
    facts = seller("S1", {"order_defect_rate": 0.0, "late_shipment_rate": 0.0, "cancel_rate": 0.0})
    backend = DurableBackend()
    assert backend.firings(three_rules(), [facts]) == [[CATCH_ALL]]
    assert backend.match(three_rules(), [facts]) == [frozenset()]


def test_null_or_missing_metric_never_fires_nor_raises() -> None:
    """Negated leaves ($lt, $neq, ...) never fire on a metric that is null or absent."""
    negated = pack(
        rule("not-odr", NotOf(ODR)),
        rule("not-eq", NotOf(Compare("order_defect_rate", Op.EQ, 0.5))),
        rule("any-not", AnyOf((NotOf(LATE), Compare("cancel_rate", Op.LT, 1.0)))),
        rule("count", Compare("claim_rate", Op.LTE, 5, Field.COUNT)),
    )
    sellers = [
        seller("null", {"order_defect_rate": None, "late_shipment_rate": None}),
        seller("absent", {}),
        seller("other-only", {"unrelated": 1.0, "claim_rate": 1.0}),
        seller("partial", {"late_shipment_rate": 0.0}),
    ]
    assert DurableBackend().match(negated, sellers) == [frozenset()] * 4
    present = seller("present", {"order_defect_rate": 0.0, "claim_rate__num": 2})
    assert DurableBackend().match(negated, [present]) == [frozenset({"not-odr", "not-eq", "count"})]


def test_caller_pack_and_ruleset_untouched() -> None:
    """Neither the pack nor a compiled ruleset dict is changed by registering or matching."""
    source = three_rules()
    compiled = compile_durable(source)
    before = copy.deepcopy(compiled.rules)
    backend_durable._ENGINE.load(compiled)
    DurableBackend().match(source, [seller("S1", {"order_defect_rate": 0.5})])
    assert compiled.rules == before
    assert compile_durable(source).rules == before
    assert source == three_rules()


def test_one_engine_per_process_and_no_timer_threads() -> None:
    """Back ends share the process's one engine: a ruleset is registered once, no thread starts."""
    threads_before = set(threading.enumerate())
    engine = backend_durable._ENGINE
    only_here = pack(rule("only-here", Compare("metric_of_this_test", Op.GT, 0.125)))
    facts = [seller("S1", {"metric_of_this_test": 0.5})]
    registered = len(engine._handles)
    assert DurableBackend().match(only_here, facts) == [frozenset({"only-here"})]
    assert DurableBackend().match(only_here, facts) == [frozenset({"only-here"})]
    assert len(engine._handles) == registered + 1
    assert set(threading.enumerate()) - threads_before == set()


def test_several_threads_agree_with_sequential() -> None:
    """8 threads x 400 sellers give exactly the sequential results (the engine is locked)."""
    subject = three_rules()
    batches = [
        [
            seller(
                f"T{t}-{i}",
                {
                    "order_defect_rate": (i % 5) / 100,
                    "late_shipment_rate": (i % 7) / 100,
                    "cancel_rate": ((i + t) % 4) / 100,
                },
            )
            for i in range(400)
        ]
        for t in range(8)
    ]
    sequential = [DurableBackend().match(subject, batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda batch: DurableBackend().match(subject, batch), batches))
    assert threaded == sequential


def test_or_fires_once() -> None:
    """durable fires an OR once per true branch; the back end reports the rule once."""
    either = pack(rule("either", AnyOf((ODR, LATE, CANCEL))))
    facts = [
        seller("S1", {"order_defect_rate": 1.0, "late_shipment_rate": 1.0, "cancel_rate": 1.0})
    ]
    backend = DurableBackend()
    assert backend.firings(either, facts)[0].count("either") == 3
    assert backend.match(either, facts) == [frozenset({"either"})]


def test_identical_facts_for_two_sellers_both_evaluated() -> None:
    """Identical content is not rejected as already observed: each fact has its own ids."""
    same = {"order_defect_rate": 0.5, "late_shipment_rate": 0.0}
    got = DurableBackend().match(three_rules(), [seller("S1", same), seller("S1", same)])
    assert got == [frozenset({"odr"}), frozenset({"odr"})]


def test_more_than_255_metrics_are_split_into_facts() -> None:
    """300 metrics (over the 255-property message limit) travel in several facts; all work.

    Unsplit, this pack also overflows durable's 64-node alpha stack (code 303,
    then the process aborts), so it guards the group budget too.
    """
    wide = pack(*(rule(f"r{i}", Compare(f"m{i}", Op.GT, 0.5)) for i in range(300)))
    everything = seller("all", {f"m{i}": 1.0 for i in range(300)})
    odd_only = seller("odd", {f"m{i}": float(i % 2) for i in range(300)})
    got = DurableBackend().match(wide, [everything, odd_only])
    assert got == [
        frozenset(f"r{i}" for i in range(300)),
        frozenset(f"r{i}" for i in range(300) if i % 2),
    ]


def test_engine_errors_are_translated() -> None:
    """A bare numeric code becomes a DurableEngineError naming operation, code and meaning."""
    broken = DurableRuleset(
        pack_id="broken", digest="sha256:0", rules={"bad": {"nothing": 1}}, groups=()
    )
    with pytest.raises(DurableEngineError) as caught:
        backend_durable._ENGINE.load(broken)
    assert caught.value.code == 105
    assert "could not register ruleset sellerpolicy-broken-0-" in str(caught.value)
    assert "unexpected name (code 105)" in str(caught.value)


def test_engine_error_drops_the_ruleset() -> None:
    """After an engine error mid-evaluation the ruleset is registered afresh on next use."""
    lonely = pack(rule("lonely", Compare("m", Op.GT, 0.5)))
    handle = backend_durable._ENGINE.load(compile_durable(lonely))
    with pytest.raises(DurableEngineError) as caught:
        backend_durable._ENGINE.fire(handle, ['"g":0,"p0":1e-05'])  # text durable rejects
    assert caught.value.code == 204
    assert backend_durable._ENGINE.load(compile_durable(lonely)) != handle
    assert DurableBackend().match(lonely, [seller("S1", {"m": 1.0})]) == [frozenset({"lonely"})]


@pytest.mark.parametrize(
    ("value", "problem"),
    [(math.inf, "not a finite number"), (True, "not a number"), (2**60, r"beyond 2\*\*53")],
)
def test_bad_fact_values_are_clear_errors(value: object, problem: str) -> None:
    """Values durable cannot compare exactly are refused, naming the seller and the fact."""
    bad = seller("S9", {"order_defect_rate": value})  # type: ignore[dict-item]
    with pytest.raises(FactsError, match=f"seller 'S9': fact 'order_defect_rate'.*{problem}"):
        DurableBackend().match(three_rules(), [bad])


def test_numbers_with_bare_exponents() -> None:
    """1e-05 and its like (text durable's parser rejects) compare exactly in rules and facts."""
    tiny = pack(
        rule("at", Compare("m", Op.EQ, 1e-05)),
        rule("above", Compare("m", Op.GT, 1e-05)),
        rule("below", Compare("m", Op.LT, 1e-05)),
    )
    values = [1e-05, math.nextafter(1e-05, 1.0), math.nextafter(1e-05, 0.0), 5e-324, 1e16]
    got = DurableBackend().match(tiny, [seller(f"S{i}", {"m": v}) for i, v in enumerate(values)])
    assert got == [
        frozenset({"at"}),
        frozenset({"above"}),
        frozenset({"below"}),
        frozenset({"below"}),
        frozenset({"above"}),
    ]


def test_same_ruleset_text_for_different_metrics() -> None:
    """Packs whose rulesets read alike but map keys to other metrics are not confused."""
    on_odr = pack(rule("r", Compare("order_defect_rate", Op.LT, 1.0)))
    on_count = pack(rule("r", Compare("order_defect_rate", Op.LT, 1.0, Field.COUNT)))
    assert compile_durable(on_odr).to_json() == compile_durable(on_count).to_json()
    facts = [seller("S1", {"order_defect_rate__num": 0})]
    assert DurableBackend().match(on_odr, facts) == [frozenset()]
    assert DurableBackend().match(on_count, facts) == [frozenset({"r"})]


def test_pack_without_rules() -> None:
    """A pack with no rule needs no engine and matches nothing."""
    assert DurableBackend().match(pack(), [seller("S1", {"m": 1.0})]) == [frozenset()]


def test_nested_conditions() -> None:
    """all/any/not nest as deep as the pack says."""
    nested = pack(rule("n", AllOf((ODR, AnyOf((LATE, NotOf(CANCEL)))))))
    hit = seller("hit", {"order_defect_rate": 0.02, "late_shipment_rate": 0.0, "cancel_rate": 0.0})
    miss = seller(
        "miss", {"order_defect_rate": 0.02, "late_shipment_rate": 0.0, "cancel_rate": 1.0}
    )
    assert DurableBackend().match(nested, [hit, miss]) == [frozenset({"n"}), frozenset()]


def test_largest_rule_with_every_branch_true() -> None:
    """A rule at durable's size limits, all 23 OR branches true, fires without overflow."""
    biggest = pack(rule("big", AnyOf(tuple(Compare("m", Op.GTE, i / 100) for i in range(23)))))
    backend = DurableBackend()
    facts = [seller("S1", {"m": 1.0})]
    assert backend.firings(biggest, facts)[0].count("big") == 23
    assert backend.match(biggest, facts) == [frozenset({"big"})]
