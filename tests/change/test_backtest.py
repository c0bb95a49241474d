"""``sellerpolicy backtest``: a pack replayed date after date, with escalation history.

The counts of a backtest are those of ``evaluate --store`` runs made in date
order (the store is the reference for escalation history); a ladder climbs
and clears in a seller's timeline; a lapse longer than the step keeps a
ladder down; the stored column is what complete runs stored, and reading it
writes nothing; bad dates, steps and folders are one error line, exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
import structlog
from pgkit import POSTGRES_URL, postgres_schema
from run.runkit import run_cli
from sqlalchemy import func, select

from sellerpolicy.engine.batch.run import run_evaluation
from sellerpolicy.engine.batch.summary import RunSummary
from sellerpolicy.engine.change.backtest import (
    MAX_DATES,
    Backtest,
    Counts,
    backtest,
    backtest_dates,
    write_backtest,
)
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.store.backtest_reads import stored_day
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.migrations.schema import (
    decision_rules_table,
    decisions_table,
    runs_table,
)
from sellerpolicy.engine.store.records import DecisionRecord
from sellerpolicy.engine.store.runs import RunKind
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.catalog import MetricKind
from sellerpolicy.rules.model import (
    Compare,
    CompiledPack,
    Ladder,
    LadderStep,
    MetricUse,
    Mode,
    Op,
    Rule,
    Severity,
    Status,
)

FIRST, LAST = date(2026, 9, 6), date(2026, 10, 25)  # 8 weekly dates
WEEKS = [FIRST + timedelta(days=7 * k) for k in range(8)]

#: The amazon pack as of 2026.11.0: its ODR rule climbed from lose_buy_box to suspend
#: (the current pack deactivates at once), the ladder these tests follow.
LADDERED = Path(__file__).parent / "packs" / "amazon-2026.11.0"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Leave structlog as each test found it (run_evaluation logs)."""
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated marketplace (fixed seed) with a few broken rows."""
    folder = tmp_path_factory.mktemp("marketplace")
    generate(sellers=200, days=150, seed=5, as_of=date(2026, 11, 1), out=folder, broken_share=0.002)
    return folder


@pytest.fixture(scope="module")
def evaluated(
    marketplace: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[RunSummary]]:
    """The reference: ``evaluate --store db`` at each of the 8 dates, in order (the amazon
    pack of 2026.11.0, whose ODR ladder climbs to suspend)."""
    folder = tmp_path_factory.mktemp("evaluated")
    db = folder / "decisions.db"
    pack = load_pack(LADDERED)
    summaries = [
        run_evaluation(
            pack,
            source=marketplace,
            as_of=day,
            out=folder / f"{day}.jsonl",
            store_url=str(db),
        )
        for day in WEEKS
    ]
    structlog.reset_defaults()
    return db, summaries


def _plain(counts: Counts) -> tuple[int, dict[str, int], dict[str, dict[str, int]]]:
    return counts.sellers, dict(counts.statuses), {r: dict(a) for r, a in counts.actions.items()}


def _of(summary: RunSummary) -> tuple[int, dict[str, int], dict[str, dict[str, int]]]:
    actions = {r: dict(a) for r, a in summary.actions.items()}
    return summary.sellers, dict(summary.statuses), actions


def test_counts_equal_evaluate_store_runs_made_in_date_order(
    marketplace: Path, evaluated: tuple[Path, list[RunSummary]]
) -> None:
    _, summaries = evaluated
    report = backtest(load_pack(LADDERED), source=marketplace, start=FIRST, end=LAST)
    points = report.packs[0].points
    assert report.dates == tuple(s.as_of for s in summaries) == tuple(map(str, WEEKS))
    assert [_plain(p.counts) for p in points] == [_of(s) for s in summaries]
    # the comparison covers ladder steps that only history reaches...
    top = [p.counts.actions.get("odr-over-target", {}).get("suspend", 0) for p in points]
    assert top[0] == 0
    assert top[-1] > 0
    # ...and without the history of the earlier dates the last date decides otherwise
    alone = backtest(load_pack(LADDERED), source=marketplace, start=LAST, end=LAST)
    assert _plain(alone.packs[0].points[0].counts) != _plain(points[-1].counts)
    assert "suspend" not in alone.packs[0].points[0].counts.actions.get("odr-over-target", {})


def _table_rows(db: Path) -> list[int]:
    with DecisionStore(db) as store, store.engine.connect() as connection:
        return [
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (decisions_table, decision_rules_table, runs_table)
        ]


def test_stored_column_is_what_the_runs_stored_and_nothing_is_written(
    marketplace: Path, evaluated: tuple[Path, list[RunSummary]]
) -> None:
    db, _ = evaluated
    before = _table_rows(db)
    with DecisionStore(db) as store:
        report = backtest(
            load_pack(LADDERED),
            source=marketplace,
            start=FIRST,
            end=LAST + timedelta(days=7),  # one date more than the runs made
            store=store,
        )
    *runs, extra = report.packs[0].points
    assert all(p.stored == p.counts for p in runs)
    assert extra.stored == Counts.of(0, {}, {})
    assert extra.counts.sellers > 0
    assert report.store is not None
    assert report.store.endswith("decisions.db")
    assert _table_rows(db) == before


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionStore]:
    """A fresh decision store on SQLite (a file) or PostgreSQL (its own schema)."""
    if request.param == "sqlite":
        with DecisionStore(tmp_path / "decisions.db") as sqlite_store:
            yield sqlite_store
        return
    for schema in postgres_schema():
        with DecisionStore(POSTGRES_URL, schema=schema) as pg_store:
            yield pg_store


def _record(seller: str, at: datetime, status: str, actions: list[str]) -> DecisionRecord:
    items = [{"rule": "r1", "action": a, "enforced": True} for a in actions]
    shadow = {"rule": "r2", "action": "warn", "enforced": False}  # reported only
    return DecisionRecord(
        seller_id=seller,
        as_of=at,
        status=status,
        document={"actions": [*items, shadow]},
        rules=(),
    )


def test_stored_day_counts_the_last_decision_of_the_day_of_complete_runs(
    store: DecisionStore,
) -> None:
    pack = load_pack("amazon")
    day = datetime(2026, 10, 4, tzinfo=UTC)
    runs = [
        (day, [_record("A", day, "healthy", ["warn"]), _record("B", day, "healthy", [])]),
        (day + timedelta(hours=12), [_record("A", day + timedelta(hours=12), "at_risk", ["x"])]),
        (day + timedelta(days=1), [_record("C", day + timedelta(days=1), "critical", [])]),
    ]
    for k, (as_of, records) in enumerate(runs):
        run_id = f"{k + 1}" * 8 + "-1111-4111-8111-111111111111"
        store.append(pack, records, run_id=run_id, whole_run=(RunKind.SERVICE, as_of))
    started = "99999999-9999-4999-8999-999999999999"  # never completed: not what happened
    late = day + timedelta(hours=18)
    store.start_run(pack, late, RunKind.BATCH, run_id=started)
    store.append(pack, [_record("B", late, "critical", ["suspend"])], run_id=started)
    found = stored_day(store.engine, pack.id, day.date())
    assert found.sellers == 2  # A at 12:00 (not 00:00), B at 00:00 (not the incomplete 18:00)
    assert dict(found.statuses) == {"at_risk": 1, "healthy": 1}
    assert {r: dict(c) for r, c in found.actions.items()} == {"r1": {"x": 1}}
    assert stored_day(store.engine, "another-pack", day.date()).sellers == 0


def _ladder_source(folder: Path) -> Path:
    """Two sellers, 10 orders a day from June to October 2026, shipped on time.

    ``S-LADDER`` cancels 2 orders a day until 5 October (cancel rate 20% over
    7 days: warn, then restrict listings) and gets 1-star feedback on 2 orders
    a day placed before 20 August (ODR 20% over 60 days: lose the buy box,
    then suspend on the third breach in a row). ``S-GOOD`` never breaches.
    """
    folder.mkdir()
    orders, feedback = [], []
    day = date(2026, 6, 1)
    while day < date(2026, 11, 1):
        for seller in ("S-GOOD", "S-LADDER"):
            for k in range(10):
                at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=8, minutes=k)
                row: dict[str, object] = {
                    "order_id": f"{seller}-{day}-{k}",
                    "seller_id": seller,
                    "ordered_at": at.isoformat(),
                    "ship_by": (at + timedelta(days=2)).isoformat(),
                    "deliver_by": (at + timedelta(days=6)).isoformat(),
                }
                bad = seller == "S-LADDER"
                if bad and k < 2 and day < date(2026, 10, 5):
                    cancelled = (at + timedelta(hours=1)).isoformat()
                    row |= {"cancelled_at": cancelled, "cancelled_by": "seller"}
                else:
                    row |= {
                        "shipped_at": (at + timedelta(days=1)).isoformat(),
                        "tracking_valid": True,
                        "delivered_at": (at + timedelta(days=3)).isoformat(),
                    }
                if bad and k in (2, 3) and day < date(2026, 8, 20):
                    left = (at + timedelta(days=4)).isoformat()
                    feedback.append(
                        {"order_id": row["order_id"], "seller_id": seller, "event": "left"}
                        | {"rating": 1, "at": left}
                    )
                orders.append(row)
        day += timedelta(days=1)
    for name, rows in (("orders", orders), ("feedback", feedback)):
        with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    return folder


@pytest.fixture(scope="module")
def ladder_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _ladder_source(tmp_path_factory.mktemp("ladder") / "source")


def _steps(report: Backtest) -> dict[str, list[tuple[str, str, list[str], list[str]]]]:
    return {
        t.seller_id: [
            (
                s.as_of,
                s.status,
                [f"{r}:{a}" for r, a in s.added],
                [f"{r}:{a}" for r, a in s.removed],
            )
            for s in t.steps
        ]
        for t in report.timelines
    }


def test_a_ladder_climbs_to_suspend_and_clears_in_the_sellers_timeline(
    ladder_source: Path, tmp_path: Path
) -> None:
    # the amazon pack of 2026.11.0, whose ODR rule climbed from lose_buy_box to suspend
    laddered = load_pack(Path(__file__).parent / "packs" / "amazon-2026.11.0")
    report = backtest(
        laddered, source=ladder_source, start=date(2026, 9, 7), end=date(2026, 10, 26)
    )
    cancel, odr = "cancel-rate-over-target", "odr-over-target"
    assert _steps(report) == {  # S-GOOD was never actioned: no timeline
        "S-LADDER": [
            ("2026-09-07", "at_risk", [f"{cancel}:warn", f"{odr}:lose_buy_box"], []),
            ("2026-09-14", "at_risk", [f"{cancel}:restrict_listings"], [f"{cancel}:warn"]),
            ("2026-09-21", "critical", [f"{odr}:suspend"], []),
            ("2026-10-12", "critical", [], [f"{cancel}:restrict_listings"]),
            ("2026-10-19", "healthy", [], [f"{odr}:lose_buy_box", f"{odr}:suspend"]),
        ]
    }
    document, timelines = write_backtest(report, tmp_path)
    lines = [json.loads(line) for line in timelines.read_text().splitlines()]
    assert [(x["seller_id"], x["role"], len(x["steps"])) for x in lines] == [("S-LADDER", "new", 5)]
    assert lines[0]["steps"][2] == {
        "as_of": "2026-09-21",
        "status": "critical",
        "added": [{"rule": odr, "action": "suspend"}],
        "removed": [],
    }
    written = json.loads(document.read_text())
    assert written["timelines"] == 1
    assert written["packs"][0]["dates"][2]["statuses"] == {
        "healthy": 1,
        "at_risk": 0,
        "critical": 1,
    }


def _short_lapse_pack() -> CompiledPack:
    """ODR at or above 1%: warn, then restrict listings; the streak lapses after 30 days."""
    rule = Rule(
        id="odr",
        title="ODR at or above 1%",
        when=Compare("order_defect_rate", Op.GTE, 0.01),
        actions=("warn",),
        severity=Severity.HIGH,
        explanation="ODR {value:.2%}",
        escalation=Ladder(
            steps=(LadderStep(1, ("warn",)), LadderStep(2, ("restrict_listings",))),
            lapse=timedelta(days=30),
        ),
    )
    odr = MetricUse(
        "order_defect_rate", "order_defect_rate", MetricKind.RATE, timedelta(days=60), timedelta(0)
    )
    return CompiledPack(
        id="lapse-test",
        title="Lapse test",
        marketplace="test",
        version="1",
        digest="sha256:" + "0" * 64,
        mode=Mode.ENFORCE,
        metrics=(odr,),
        rules=(rule,),
        status_map=MappingProxyType({"warn": Status.HEALTHY, "restrict_listings": Status.AT_RISK}),
    )


@pytest.mark.parametrize(
    ("every", "second"),
    [
        ("28d", ("2026-10-05", "at_risk", ["odr:restrict_listings"], ["odr:warn"])),
        ("35d", None),  # 35 days after the last breach: the streak has lapsed, warn again
    ],
)
def test_a_step_longer_than_the_lapse_keeps_the_ladder_down(
    ladder_source: Path, every: str, second: tuple[str, str, list[str], list[str]] | None
) -> None:
    report = backtest(
        _short_lapse_pack(),
        source=ladder_source,
        start=date(2026, 9, 7),
        end=date(2026, 10, 12),
        every=every,
    )
    assert len(report.dates) == 2
    first: tuple[str, str, list[str], list[str]] = ("2026-09-07", "healthy", ["odr:warn"], [])
    assert _steps(report) == {"S-LADDER": [first] + ([second] if second else [])}
    last = report.packs[0].points[-1].counts
    assert last.actions == ({"odr": {"restrict_listings": 1}} if second else {"odr": {"warn": 1}})


def test_dates_run_from_the_first_to_the_last_inclusive() -> None:
    assert [d.date() for d in backtest_dates(FIRST, LAST, "7d")] == WEEKS
    assert [d.date() for d in backtest_dates(FIRST, LAST + timedelta(days=6), "7d")] == WEEKS
    noon = datetime(2026, 9, 6, 12, tzinfo=UTC)
    assert backtest_dates(noon, noon, "1d") == (noon,)
    assert len(backtest_dates(FIRST, FIRST + timedelta(days=MAX_DATES - 1), "1d")) == MAX_DATES
    with pytest.raises(ValueError, match=f"more than {MAX_DATES}"):
        backtest_dates(FIRST, FIRST + timedelta(days=MAX_DATES), "1d")
    with pytest.raises(ValueError, match="is after the last"):
        backtest_dates(LAST, FIRST, "7d")
    for every in ("0d", "36h", timedelta(days=-7)):
        with pytest.raises(ValueError, match="not a positive whole number of days"):
            backtest_dates(FIRST, LAST, every)


def test_cli_writes_the_report_the_timelines_and_the_rejects(
    marketplace: Path, evaluated: tuple[Path, list[RunSummary]], tmp_path: Path
) -> None:
    db, summaries = evaluated
    out = tmp_path / "backtest"
    result = run_cli(
        "backtest",
        *("--pack", LADDERED, "--baseline", "amazon-2015", "--source", marketplace),
        *("--from", FIRST, "--to", LAST, "--every", "7d", "--out", out, "--store", db),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "backtest.json").read_text())
    new, old = report["packs"]
    assert (new["role"], new["id"]) == ("new", "amazon-seller-performance")
    assert (old["role"], old["id"]) == ("baseline", "amazon-seller-performance-2015")
    for point, summary in zip(new["dates"], summaries, strict=True):
        assert (point["as_of"], point["sellers"]) == (summary.as_of, summary.sellers)
        assert point["statuses"] == dict(summary.statuses)
        assert point["actions"] == {r: dict(a) for r, a in summary.actions.items()}
        assert point["stored"] == {k: point[k] for k in ("sellers", "statuses", "actions")}
    assert all(p["stored"]["sellers"] == 0 for p in old["dates"])  # never run for real
    timelines = [json.loads(x) for x in (out / "timelines.jsonl").read_text().splitlines()]
    assert len(timelines) == report["timelines"] > 0
    assert {t["role"] for t in timelines} == {"new", "baseline"}
    assert all(t["steps"] and t["steps"][0]["added"] for t in timelines)
    rejects = (out / "rejects.jsonl").read_text().splitlines()
    assert len(rejects) == report["rejects"] == summaries[0].rejects > 0
    assert "new: amazon-seller-performance 2026.11.0" in result.stdout
    assert f"report written to {out / 'backtest.json'}" in result.stdout
    assert f"(written to {out / 'rejects.jsonl'})" in result.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--from", "2026-10-25", "--to", "2026-09-06"],
            "Invalid value for --from/--to: the first date 2026-10-25 is after the last",
        ),
        (["--every", "0d"], "Invalid value for --every: not a positive whole number of days"),
        (["--every", "12h"], "not a positive whole number of days: '12h'"),
        (["--every", "weekly"], "not a duration: 'weekly'"),
        (["--from", "2020-01-01", "--to", "2026-01-01", "--every", "1d"], "more than 400"),
        (["--from", "2026-13-01"], "Invalid value for --from: '2026-13-01' is not a date"),
    ],
)
def test_cli_bad_dates_and_steps_exit_2_before_anything_is_written(
    ladder_source: Path, tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "out"
    given = {"--from": "2026-09-06", "--to": "2026-10-25"}
    given |= dict(zip(options[::2], options[1::2], strict=True))
    result = run_cli(
        "backtest", "--pack", "amazon", "--source", ladder_source, "--out", out,
        *(x for pair in given.items() for x in pair),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert not out.exists()


def test_cli_refuses_a_file_as_out_a_missing_store_pack_or_source(
    ladder_source: Path, tmp_path: Path
) -> None:
    dates = ("--from", "2026-09-06", "--to", "2026-09-13")
    source, out = ("--source", ladder_source), tmp_path / "out"
    file = tmp_path / "taken"
    file.write_text("x")
    result = run_cli("backtest", "--pack", "amazon", *source, *dates, "--out", file)
    assert result.returncode == 2
    assert f"{file} is a file, not a folder" in result.stderr
    missing = tmp_path / "none.db"
    result = run_cli(
        "backtest", "--pack", "amazon", *source, *dates, "--out", out, "--store", missing
    )
    assert result.returncode == 2
    assert f"no decision store at {missing}" in result.stderr
    assert not missing.exists()
    result = run_cli(
        "backtest", "--pack", "amazon", "--baseline", "no-such-pack", *source, *dates,
        "--out", out,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no-such-pack" in result.stderr
    assert not out.exists()
    nothing = tmp_path / "nothing"
    result = run_cli("backtest", "--pack", "amazon", "--source", nothing, *dates, "--out", out)
    assert result.returncode == 2
    assert f"error: {nothing}: no such file or directory" in result.stderr
