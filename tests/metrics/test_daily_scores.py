"""Scores graded on the mean of their daily totals (issue #17, ``daily_average``).

The facts of a ``daily_score_average`` use are checked against an independent
reference: every day's facts computed on their own (``compute_metrics`` at the
end of the day) and scored by the record path's score of those facts.
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import duckdb
import pytest
from metrics_kit import insert, order

from sellerpolicy.engine.api import Policy
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.metrics.checks import fact_problems
from sellerpolicy.engine.metrics.compute import compute_metrics
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.tables import TABLES, Format, create_table_sql
from sellerpolicy.rules import check_document, load_pack
from sellerpolicy.rules.model import CompiledPack, MetricUse
from sellerpolicy.rules.windows import daily_instants

SHIPPED = Path(__file__).parents[2] / "policies" / "aliexpress" / "pack.yaml"

# One dimension: a point for a day with an order in it; graded on November's mean.
DAY_PACK = """\
apiVersion: sellerpolicy/v1
kind: PolicyPack
metadata:
  id: day-test
  title: Days with an order
  marketplace: test
  version: 1.0.0
  effective_from: 2026-01-01
  sources: [{url: "https://example.com/", checked: 2026-12-07}]
spec:
  metrics:
    - {name: day_orders, metric: orders, window: 1d}
  scores:
    - id: busy-days
      title: Busy days
      daily_average: WINDOW
      dimensions:
        - id: busy
          metric: day_orders
          weight: 100
          bands:
            - {lt: 1, points: 0}
            - {gte: 1, points: 1}
      grades:
        - {grade: busy, gte: 50}
        - {grade: quiet, lt: 50, actions: [warn]}
  status: {warn: at_risk}
"""


def _pack(tmp_path: Path, window: str) -> CompiledPack:
    path = tmp_path / "pack.yaml"
    path.write_text(DAY_PACK.replace("WINDOW", window))
    return load_pack(path)


def _use(pack: CompiledPack) -> MetricUse:
    return next(u for u in pack.metrics if u.daily is not None)


def _orders(*instants: datetime) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in TABLES:
        con.execute(create_table_sql(table))
    insert(con, "orders", [order(f"O{i}", ordered=t) for i, t in enumerate(instants)])
    return con


def _day(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


@pytest.mark.parametrize(
    ("as_of", "first", "days"),
    [
        (datetime(2026, 12, 7), date(2026, 11, 1), 30),
        (datetime(2026, 12, 1), date(2026, 11, 1), 30),  # a month end: the month just ended
        (datetime(2026, 11, 30, 23, 59, 59), date(2026, 10, 1), 31),
        (datetime(2028, 3, 1, 12), date(2028, 2, 1), 29),  # a leap February
        (datetime(2027, 3, 15), date(2027, 2, 1), 28),
        (datetime(2027, 1, 10), date(2026, 12, 1), 31),  # across the year end
    ],
)
def test_a_calendar_month_is_its_days(
    tmp_path: Path, as_of: datetime, first: date, days: int
) -> None:
    """The days of ``{months: 1}`` are the last complete month's, each scored at its end."""
    instants = daily_instants(_use(_pack(tmp_path, "{months: 1, align: month_end}")), as_of)
    assert len(instants) == days
    assert instants[0] == _day(first) + timedelta(days=1)
    assert instants[-1] - instants[0] == timedelta(days=days - 1)


@pytest.mark.parametrize(
    ("as_of", "days"),
    [(datetime(2026, 12, 7), 7), (datetime(2026, 12, 7, 15), 6)],  # a partial first day is out
)
def test_a_rolling_window_is_its_whole_days(tmp_path: Path, as_of: datetime, days: int) -> None:
    """``7d`` at midnight: the 7 days before; at 15:00 the first day is partial, left out."""
    instants = daily_instants(_use(_pack(tmp_path, "7d")), as_of)
    assert len(instants) == days
    assert instants[-1] == datetime(2026, 12, 7)


def test_the_last_and_first_day_of_a_month(tmp_path: Path) -> None:
    """Orders on November's first and last instants count; October's last and December's
    first do not: 2 busy days of 30, a mean of 100 * 2 / 30."""
    pack = _pack(tmp_path, "{months: 1, align: month_end}")
    con = _orders(
        datetime(2026, 10, 31, 23, 59, 59, 999999),
        datetime(2026, 11, 1),
        datetime(2026, 11, 30, 23, 59, 59, 999999),
        datetime(2026, 12, 1),
    )
    row = compute_metrics(con, pack.metrics, datetime(2026, 12, 7, tzinfo=UTC)).table.to_pylist()
    assert [(r["busy_days"], r["busy_days__num"], r["busy_days__den"]) for r in row] == [
        (200 / 30, 200.0, 30)
    ]
    decision = Policy(pack).evaluate(
        {"seller_id": "S1", **{k: v for k, v in row[0].items() if k != "seller_id"}},
        as_of="2026-12-07",
    )
    result = decision.scores[0]
    assert (result.total, result.grade) == (200 / 30, "quiet")
    assert result.explanation is not None
    assert "mean of the daily scores from 2026-11-01 to 2026-11-30: assessed on 30 of 30 days" in (
        result.explanation
    )


def test_no_day_assessed_is_not_assessed(tmp_path: Path) -> None:
    """With ``min_orders`` no day reaches, the mean is null and the score not assessed."""
    text = DAY_PACK.replace("WINDOW", "{months: 1, align: month_end}").replace(
        "      title: Busy days\n", "      title: Busy days\n      min_orders: 5\n"
    )
    (tmp_path / "pack.yaml").write_text(text)
    pack = load_pack(tmp_path / "pack.yaml")
    con = _orders(datetime(2026, 11, 3), datetime(2026, 11, 4))
    row = compute_metrics(con, pack.metrics, datetime(2026, 12, 7, tzinfo=UTC)).table.to_pylist()
    assert (row[0]["busy_days"], row[0]["busy_days__num"], row[0]["busy_days__den"]) == (None, 0, 0)
    facts = {"seller_id": "S1", **{k: v for k, v in row[0].items() if k != "seller_id"}}
    result = Policy(pack).evaluate(facts, as_of="2026-12-07").scores[0]
    assert result.grade is None
    assert result.reason == (
        "daily average busy_days: the score was assessed on no day from 2026-11-01 to 2026-11-30"
    )


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    out = tmp_path_factory.mktemp("daily") / "source"
    generate(sellers=120, days=75, seed=11, as_of=date(2026, 12, 7), out=out, fmt=Format.PARQUET)
    con = duckdb.connect()
    load_source(out, con)
    return con


def test_the_shipped_pack_against_day_by_day_scores(marketplace: duckdb.DuckDBPyConnection) -> None:
    """Every seller's mean equals the record path's scores of each day's own facts."""
    pack = load_pack(SHIPPED)
    score = pack.scores[0]
    assert score.average == "service_score"
    as_of = datetime(2026, 12, 7)
    facts = compute_metrics(marketplace, pack.metrics, as_of).table.to_pylist()
    plain = tuple(u for u in pack.metrics if u.daily is None)
    day_pack = replace(pack, metrics=plain, scores=(replace(score, average=None),))
    day_policy = Policy(day_pack)
    sums: dict[str, Fraction] = {r["seller_id"]: Fraction(0) for r in facts}
    days: dict[str, int] = dict.fromkeys(sums, 0)
    instants = daily_instants(pack.metric("service_score"), as_of)
    assert len(instants) == 30
    for instant in instants:
        for row in compute_metrics(marketplace, plain, instant).table.to_pylist():
            result = day_policy.evaluate(row, as_of=instant.replace(tzinfo=UTC)).scores[0]
            if result.total is not None:
                sums[row["seller_id"]] += Fraction(str(result.total))
                days[row["seller_id"]] += 1
    assessed = 0
    for row in facts:
        seller = row["seller_id"]
        assert row["service_score__den"] == days[seller], seller
        assert row["service_score__num"] == float(sums[seller]), seller
        if days[seller]:
            assessed += 1
            assert row["service_score"] == float(sums[seller]) / days[seller], seller
        else:
            assert row["service_score"] is None, seller
    assert 10 < assessed < len(facts)  # the population has both kinds of seller


def test_the_pack_is_checked(tmp_path: Path) -> None:
    """The facts name may not be a metric use's; a rolling window is whole days."""
    taken = DAY_PACK.replace("WINDOW", "30d").replace("name: day_orders", "name: busy_days")
    taken = taken.replace("metric: day_orders", "metric: busy_days")
    (tmp_path / "taken.yaml").write_text(taken)
    codes = {d.code for d in check_document(tmp_path / "taken.yaml")[1]}
    assert "score_average_name_taken" in codes
    (tmp_path / "hours.yaml").write_text(DAY_PACK.replace("WINDOW", "36h"))
    found = check_document(tmp_path / "hours.yaml")[1]
    assert [d.code for d in found] == ["daily_average_days"]
    assert found[0].json_path == "$.spec.scores[0].daily_average"


def test_the_facts_check_knows_a_mean_of_points(tmp_path: Path) -> None:
    """A mean that is not ``__num / __den`` is refused; a mean over 5 is not (points)."""
    pack = _pack(tmp_path, "{months: 1, align: month_end}")
    ok = {"busy_days": 60.0, "busy_days__num": 1800, "busy_days__den": 30}
    assert fact_problems(ok, pack) == []
    off = fact_problems({**ok, "busy_days": 61.0}, pack)
    assert [p.field for p in off] == ["busy_days"]
    negative = fact_problems({"busy_days": -1.0, "busy_days__num": -30, "busy_days__den": 30}, pack)
    assert [p.field for p in negative] == ["busy_days__num"]


def test_the_docs_name_the_form() -> None:
    """The pack format's reference documents ``daily_average``."""
    docs = (Path(__file__).parents[2] / "docs" / "pack-format.md").read_text()
    assert "daily_average" in docs
    assert (
        textwrap.dedent("daily_score_average")
        in (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    )
