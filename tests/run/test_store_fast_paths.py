"""The decision store's per-request fast paths give the same answers as the general ones:
the SQLite driver-cursor append writes what a Core insert writes, and the one-seller
history query keeps the same evaluations as the batch (window function) query."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import String, insert, select, type_coerce

from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.migrations.schema import decisions_table
from sellerpolicy.engine.store.records import DecisionRecord, RuleRecord
from sellerpolicy.rules.model import CompiledPack

RULE = "odr-over-target"
DAY0 = datetime(2026, 9, 1, tzinfo=UTC)


def _record(seller: str, as_of: datetime, *, fired: bool) -> DecisionRecord:
    return DecisionRecord(
        seller_id=seller,
        as_of=as_of,
        status="at_risk" if fired else "healthy",
        document={"seller_id": seller, "note": "é"},
        rules=(RuleRecord(RULE, "matched" if fired else "not_matched", fired, ("warn",)),),
    )


def test_append_stores_values_as_a_core_insert_would(
    store: DecisionStore, ladder_pack: CompiledPack
) -> None:
    """An appended row's stored column values equal those of the same row inserted with Core."""
    as_of = DAY0.replace(hour=0)  # a whole second: formats differ most without microseconds
    when = datetime(2026, 9, 2, 3, 4, 5, tzinfo=UTC)
    (fast_id,) = store.append(
        ladder_pack, [_record("S1", as_of, fired=True)], run_id="r", evaluated_at=when
    )
    columns = [c for c in decisions_table.columns if c.name != "decision_id"]
    with store.engine.begin() as connection:
        fast = connection.execute(
            select(*columns).where(decisions_table.c.decision_id == fast_id)
        ).one()
        connection.execute(
            insert(decisions_table),
            {
                **fast._asdict(),
                "decision_id": "core",
                "as_of": as_of.replace(tzinfo=None),
                "evaluated_at": when.replace(tzinfo=None),
                "decision": '{"seller_id":"S1","note":"é"}',
                "rules": '[["odr-over-target","matched",true,["warn"]]]',
            },
        )
        stored_as = [type_coerce(c, String) for c in columns]  # the driver's values, unconverted
        raw = connection.execute(select(*stored_as).order_by(decisions_table.c.decision_id)).all()
    assert len(raw) == 2
    assert raw[0] == raw[1]
    stored = store.decision(fast_id)
    assert stored is not None
    assert (stored.as_of, stored.evaluated_at) == (as_of, when)


def test_append_keeps_every_row_of_a_batch_in_order(
    store: DecisionStore, ladder_pack: CompiledPack
) -> None:
    """A batch append returns one id per record, in order, and stores each once."""
    records = [_record(f"S{i}", DAY0, fired=i % 2 == 0) for i in range(7)]
    ids = store.append(ladder_pack, records, run_id="batch")
    for decision_id, record in zip(ids, records, strict=True):
        found = store.decision(decision_id)
        assert found is not None
        assert found.seller_id == record.seller_id
        assert found.rules[0].fired is record.rules[0].fired


def test_one_seller_history_matches_the_batch_query(
    store: DecisionStore, ladder_pack: CompiledPack
) -> None:
    """A one-seller history lookup gives the same streaks as the same seller in a batch."""
    pattern = (True, True, False, True, True, True)
    for day, fired in enumerate(pattern):
        as_of = DAY0 + timedelta(days=day)
        store.append(ladder_pack, [_record("S1", as_of, fired=fired)], run_id=f"a{day}")
        store.append(ladder_pack, [_record("S2", as_of, fired=not fired)], run_id=f"b{day}")
    store.append(ladder_pack, [_record("S1", DAY0 + timedelta(days=5), fired=False)], run_id="late")
    for day in range(1, len(pattern) + 2):
        as_of = date(2026, 9, 1) + timedelta(days=day)
        alone = store.history(ladder_pack, ["S1"], as_of)
        batch = store.history(ladder_pack, ["S1", "S2"], as_of)
        assert alone.streak("S1", RULE, as_of) == batch.streak("S1", RULE, as_of)
    later = date(2026, 9, 8)
    assert store.history(ladder_pack, ["S1"], later).streak("S1", RULE, later) == 0  # late run wins
    assert (
        store.history(ladder_pack, ["S1"], date(2026, 9, 6)).streak("S1", RULE, date(2026, 9, 6))
        == 2
    )
