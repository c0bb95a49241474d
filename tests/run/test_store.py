"""The decision store: append-only round trip and escalation streaks, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store.decisions import DecisionStore, resolve_store_url
from sellerpolicy.engine.store.records import DecisionRecord, RuleRecord
from sellerpolicy.rules.model import CompiledPack

RULE = "odr-over-target"
DAY0 = datetime(2026, 9, 1, tzinfo=UTC)


def _record(seller: str, as_of: datetime, *, fired: bool) -> DecisionRecord:
    outcome = "matched" if fired else "not_matched"
    return DecisionRecord(
        seller_id=seller,
        as_of=as_of,
        status="at_risk" if fired else "healthy",
        document={"seller_id": seller, "as_of": as_of.date().isoformat(), "status": "x"},
        rules=(RuleRecord(RULE, outcome, fired, ("warn",) if fired else ()),),
    )


def _days(n: int) -> datetime:
    return DAY0 + timedelta(days=n)


def _day(n: int) -> date:
    return _days(n).date()


def test_round_trip_keeps_every_field(store: DecisionStore, ladder_pack: CompiledPack) -> None:
    """Appended decisions read back with pack identity, as_of, status, document and rules."""
    ids = store.append(
        ladder_pack,
        [_record("S1", _days(0), fired=True), _record("S2", _days(0), fired=False)],
        run_id="run-1",
    )
    assert len(set(ids)) == 2
    (stored,) = store.decisions("S1")
    assert stored.decision_id == ids[0]
    assert stored.run_id == "run-1"
    assert (stored.pack_id, stored.pack_version) == ("ladder-test", "1")
    assert stored.pack_digest == ladder_pack.digest
    assert stored.as_of == _days(0)
    assert stored.evaluated_at.tzinfo is UTC
    assert stored.status == "at_risk"
    assert stored.document["seller_id"] == "S1"
    assert stored.rules == (RuleRecord(RULE, "matched", True, ("warn",)),)
    assert store.decisions("S3") == []


def test_store_is_append_only(store: DecisionStore, ladder_pack: CompiledPack) -> None:
    """Evaluating the same seller and as_of twice keeps both decisions."""
    store.append(ladder_pack, [_record("S1", _days(0), fired=True)], run_id="a")
    store.append(ladder_pack, [_record("S1", _days(0), fired=False)], run_id="b")
    assert [d.run_id for d in store.decisions("S1", ladder_pack.id)] == ["a", "b"]


def test_streak_counts_consecutive_firings(store: DecisionStore, ladder_pack: CompiledPack) -> None:
    """The streak counts earlier firings back to the first evaluation that did not fire."""
    for day, fired in ((0, True), (7, False), (14, True), (21, True)):
        store.append(ladder_pack, [_record("S1", _days(day), fired=fired)], run_id=f"r{day}")
    history = store.history(ladder_pack, ["S1", "S2"], _day(28))
    assert history.streak("S1", RULE, _day(28)) == 2
    assert history.streak("S1", RULE, _day(21)) == 1  # only what was known before day 21
    assert history.streak("S1", RULE, _day(14)) == 0
    assert history.streak("S2", RULE, _day(28)) == 0
    assert history.streak("S1", "no-such-rule", _day(28)) == 0


def test_streak_lapses_after_a_long_gap(store: DecisionStore, ladder_pack: CompiledPack) -> None:
    """A gap longer than the ladder's 30-day lapse ends the streak; exactly 30 days does not."""
    store.append(ladder_pack, [_record("S1", _days(0), fired=True)], run_id="r0")
    assert store.history(ladder_pack, ["S1"], _days(30)).streak("S1", RULE, _day(30)) == 1
    assert store.history(ladder_pack, ["S1"], _days(31)).streak("S1", RULE, _day(31)) == 0


def test_latest_run_wins_for_one_as_of(store: DecisionStore, ladder_pack: CompiledPack) -> None:
    """When a seller was evaluated twice at one as_of, the later run is the history."""
    store.append(
        ladder_pack,
        [_record("S1", _days(0), fired=True)],
        run_id="first",
        evaluated_at=_days(1),
    )
    store.append(
        ladder_pack,
        [_record("S1", _days(0), fired=False)],
        run_id="rerun",
        evaluated_at=_days(2),
    )
    assert store.history(ladder_pack, ["S1"], _days(7)).streak("S1", RULE, _day(7)) == 0


def test_history_reads_only_the_same_pack(store: DecisionStore, ladder_pack: CompiledPack) -> None:
    """Firings recorded under another pack id do not count."""
    other = CompiledPack(**{**_fields(ladder_pack), "id": "other-pack"})
    store.append(other, [_record("S1", _days(0), fired=True)], run_id="r0")
    assert store.history(ladder_pack, ["S1"], _days(7)).streak("S1", RULE, _day(7)) == 0
    assert store.history(other, ["S1"], _days(7)).streak("S1", RULE, _day(7)) == 1


def test_history_prefetch_covers_a_large_batch(
    store: DecisionStore, ladder_pack: CompiledPack
) -> None:
    """A batch larger than one query chunk gets every seller's history."""
    sellers = [f"S{i:05d}" for i in range(2_500)]
    store.append(ladder_pack, [_record(s, _days(0), fired=True) for s in sellers], run_id="r0")
    history = store.history(ladder_pack, sellers, _days(7))
    assert sum(history.streak(s, RULE, _day(7)) for s in sellers) == len(sellers)


def test_history_for_a_later_as_of_is_refused(
    store: DecisionStore, ladder_pack: CompiledPack
) -> None:
    """History loaded for one as_of cannot answer for a later one (it would be incomplete)."""
    history = store.history(ladder_pack, ["S1"], _days(7))
    with pytest.raises(StoreError, match="history was loaded for"):
        history.streak("S1", RULE, _day(8))


def test_bad_store_targets_are_clear_errors(tmp_path: Path) -> None:
    """An unusable URL or an unwritable SQLite path raises StoreError naming it."""
    with pytest.raises(StoreError, match="nosuchdb"):
        DecisionStore("nosuchdb://x/y")
    with pytest.raises(StoreError, match="missing-dir"):
        DecisionStore(tmp_path / "missing-dir" / "d.db")


def test_resolve_store_url_forms(tmp_path: Path) -> None:
    """A path is a SQLite file; postgresql:// gets the psycopg 3 driver."""
    assert resolve_store_url(tmp_path / "d.db").drivername == "sqlite"
    assert resolve_store_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert resolve_store_url("sqlite:///x.db").database == "x.db"


def _fields(pack: CompiledPack) -> dict[str, object]:
    return {name: getattr(pack, name) for name in pack.__dataclass_fields__}


def test_unreachable_database_is_a_store_error_without_the_password() -> None:
    """A server that refuses connections gives a StoreError naming the URL, password hidden."""
    with pytest.raises(StoreError) as caught:
        DecisionStore("postgresql://someone:s3cret@127.0.0.1:1/nowhere")
    message = str(caught.value)
    assert "cannot create the tables of the decision store" in message
    assert "127.0.0.1:1/nowhere" in message
    assert "s3cret" not in message
