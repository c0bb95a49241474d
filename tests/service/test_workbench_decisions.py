"""The workbench's decision page over HTTP: the default range, every filter, the
counts by status and action (chart and tables), paging, the CSV and JSON-lines
exports (formulas neutralised), checked parameters, and the queries' index use;
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from browsekit import (
    AMAZON,
    BACKENDS,
    BAD,
    FORMULA,
    HOSTILE,
    OK,
    PACK,
    RULE,
    WEEKS,
    browse_fixture,
    full_scans,
    query_plans,
    sign_in,
)
from markupsafe import escape
from servicekit import Service
from sqlalchemy import insert, select

from sellerpolicy.engine.service.web import decisions as decisions_page
from sellerpolicy.engine.store.browse import FIRED, DecisionBrowser, DecisionFilter
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.migrations.schema import (
    FIRED_ROWS,
    decision_rules_table,
    decisions_table,
)

ALL_WEEKS = {"from": WEEKS[0], "to": WEEKS[-1]}


@pytest.fixture(scope="module", params=BACKENDS)
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service holding the browse history (:mod:`browsekit`), a reader signed in."""
    for service in browse_fixture(request, tmp_path_factory.mktemp("decisions")):
        sign_in(service)
        yield service


def _table(page: str, caption: str) -> list[list[str]]:
    """The body rows, cell texts, of the table whose caption starts with ``caption``."""
    found = re.search(rf"<caption>{re.escape(caption)}.*?</table>", page, re.S)
    assert found, caption
    rows = re.findall(r"<tr>(.*?)</tr>", found.group(0).split("<tbody>")[1], re.S)
    return [
        [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]
        for row in rows
        if (cells := re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S))
    ]


def _counts(page: str, caption: str) -> dict[str, int]:
    return {row[0]: int(row[1].replace(",", "")) for row in _table(page, caption)}


def test_without_dates_the_page_shows_the_latest_day(history: Service) -> None:
    page = history.client.get("/decisions")
    assert page.status_code == 200
    assert f"Showing the latest <em>as of</em> day that has decisions, {WEEKS[-1]}" in page.text
    assert _counts(page.text, "By status") == {"healthy": 3, "critical": 2}
    assert _counts(page.text, "By enforced action") == {"suspend": 2}
    rows = _table(page.text, "Decisions 1 to 5 of 5")
    assert [(r[1], r[2], r[4]) for r in rows] == [  # newest day, then pack, version, seller
        (BAD, AMAZON, "healthy"),
        (FORMULA, PACK, "critical"),
        (HOSTILE, PACK, "healthy"),
        (BAD, PACK, "critical"),
        (OK, PACK, "healthy"),
    ]
    assert rows[3][5:] == ["suspend", RULE]
    chart = re.search(r'src="(/decisions/chart\.svg\?[^"]+)"', page.text)
    assert chart
    assert html.unescape(chart.group(1)) == (
        "/decisions/chart.svg?s=healthy%3A3&s=critical%3A2&a=suspend%3A2"
    )
    drawn = history.client.get(html.unescape(chart.group(1)))
    assert drawn.status_code == 200
    assert drawn.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in drawn.content
    refused = history.client.get("/decisions/chart.svg", params={"s": "<b>:1"})
    assert refused.status_code == 400
    assert "Decisions by status: healthy 3, critical 2. By enforced action: suspend 2." in page.text


def test_each_filter_narrows_the_decisions_and_their_counts(history: Service) -> None:
    cases = {
        (("rule", RULE),): ({"at_risk": 4, "critical": 2}, {"warn": 2, "restrict_listings": 2,
                                                           "suspend": 2}),
        (("action", "restrict_listings"),): ({"at_risk": 2}, {"restrict_listings": 2}),
        (("status", "healthy"), ("pack", PACK)): ({"healthy": 6}, {}),
        (("pack", AMAZON),): ({"healthy": 1}, {}),
        (("version", "2026.12.1"), ("status", "critical")): ({"critical": 2}, {"suspend": 2}),
        (("status", "at_risk"), ("to", WEEKS[0])): ({"at_risk": 2}, {"warn": 2}),
    }  # fmt: skip
    for params, (statuses, actions) in cases.items():
        page = history.client.get("/decisions", params={**ALL_WEEKS, **dict(params)})
        assert page.status_code == 200, params
        assert _counts(page.text, "By status") == statuses, params
        if actions:
            assert _counts(page.text, "By enforced action") == actions, params
        else:
            assert _table(page.text, "By enforced action") == [["none"]]
        total = sum(statuses.values())
        assert len(_table(page.text, f"Decisions 1 to {total} of {total}")) == total


def test_the_filter_offers_the_known_packs_rules_and_actions(history: Service) -> None:
    page = history.client.get("/decisions", params={"pack": PACK, "rule": RULE}).text
    assert f'<option value="{PACK}" selected>' in page
    assert f'<option value="{RULE}" selected>' in page
    assert '<option value="restrict_listings">' in page
    for label in ("Pack", "Version", "Status", "Enforced action", "Rule that fired"):
        assert f">{label}</label>" in page  # every input has its label


def test_pages_of_decisions_follow_each_other(
    history: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decisions_page, "PAGE_SIZE", 4)
    first = history.client.get("/decisions", params=ALL_WEEKS).text
    second_link = re.search(r'href="/decisions\?([^"]*page=2[^"]*)" rel="next"', first)
    assert second_link
    second = history.client.get("/decisions?" + html.unescape(second_link.group(1))).text
    one = _table(first, "Decisions 1 to 4 of 13")
    two = _table(second, "Decisions 5 to 8 of 13")
    assert [r[0] for r in one] == [WEEKS[-1]] * 4
    assert not {(r[1], r[2], r[0]) for r in one} & {(r[1], r[2], r[0]) for r in two}
    assert 'rel="prev"' in second


def test_counts_stop_at_the_limit(history: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decisions_page, "COUNT_LIMIT", 5)
    page = history.client.get("/decisions", params=ALL_WEEKS).text
    assert "The chosen days hold more than 5 decisions: choose fewer days" in page
    assert "/decisions/chart.svg" not in page
    assert len(_table(page, "Decisions 1 to 13, newest first")) == 13  # still listed
    browser = DecisionBrowser(history.state.store.engine, history.state.store.where)
    counts = browser.counts(DecisionFilter(as_of_from=date(2026, 10, 18)), limit=12)
    assert counts.limited
    assert counts.total == 13
    exact = browser.counts(DecisionFilter(as_of_from=date(2026, 10, 18)), limit=13)
    assert not exact.limited
    assert exact.by_status == {"healthy": 7, "at_risk": 4, "critical": 2}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "bogus"}, "status: &#39;bogus&#39; is not one of healthy, at_risk, critical"),
        ({"from": "2026-13-01"}, "from: &#39;2026-13-01&#39; is not a date (YYYY-MM-DD)"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "from 2026-11-02 is after to 2026-11-01"),
        ({"page": "0"}, "page: a whole number from 1 to 200"),
        ({"rule": "no such rule"}, "rule: &#39;no such rule&#39; is not a rule name"),
        ({"pack": "p" * 201}, "pack: at most 200 characters"),
    ],
)
def test_bad_parameters_are_a_400_page_that_names_them(
    history: Service, params: dict[str, str], message: str
) -> None:
    page = history.client.get("/decisions", params=params)
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert message in page.text
    assert '<form method="get" action="/decisions"' in page.text  # to fix it


def test_the_csv_export_has_every_match_and_neutralises_formulas(history: Service) -> None:
    done = history.client.get("/decisions/export", params={**ALL_WEEKS, "format": "csv"})
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("text/csv")
    assert done.headers["content-disposition"] == (
        f'attachment; filename="decisions-{WEEKS[0]}-{WEEKS[-1]}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(done.text)))
    assert len(rows) == 13
    assert list(rows[0]) == [
        "decision_id", "seller_id", "pack_id", "pack_version", "as_of", "status",
        "actions", "fired_rules", "evaluated_at", "run_id",
    ]  # fmt: skip
    sellers = {r["seller_id"] for r in rows}
    assert "'" + FORMULA in sellers  # shown as text by spreadsheets
    assert FORMULA not in sellers
    assert HOSTILE in sellers  # CSV is not HTML: the id as it is
    bad = [r for r in rows if r["seller_id"] == BAD and r["pack_id"] == PACK]
    assert [(r["as_of"], r["status"], r["actions"]) for r in bad] == [
        (f"{WEEKS[2]}T00:00:00Z", "critical", "suspend"),
        (f"{WEEKS[1]}T00:00:00Z", "at_risk", "restrict_listings"),
        (f"{WEEKS[0]}T00:00:00Z", "at_risk", "warn"),
    ]


def test_the_jsonl_export_is_the_stored_documents(history: Service) -> None:
    done = history.client.get(
        "/decisions/export", params={**ALL_WEEKS, "format": "jsonl", "rule": RULE}
    )
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("application/x-ndjson")
    documents = [json.loads(line) for line in done.text.splitlines()]
    assert len(documents) == 6
    assert {d["seller_id"] for d in documents} == {BAD, FORMULA}
    for document in documents:
        fired = [r["rule"] for r in document["rules"] if r["outcome"] == "matched"]
        assert RULE in fired
    refused = history.client.get("/decisions/export", params={"format": "xml"})
    assert refused.status_code == 400
    assert "format: &#39;xml&#39; is not csv or jsonl" in refused.text


def test_the_export_streams_in_chunks_without_losing_or_repeating(history: Service) -> None:
    browser = DecisionBrowser(history.state.store.engine, history.state.store.where)
    chosen = DecisionFilter(as_of_from=date(2026, 10, 18))
    whole = [
        d.decision_id for chunk in browser.export(chosen, documents=True, chunk=100) for d in chunk
    ]
    chunks = list(browser.export(chosen, documents=True, chunk=2))
    assert [len(c) for c in chunks] == [1] + [2] * 6  # a small first chunk
    assert [d.decision_id for chunk in chunks for d in chunk] == whole
    assert len(set(whole)) == 13


def test_stored_text_is_escaped_on_the_page(history: Service) -> None:
    page = history.client.get("/decisions", params={"status": "healthy"}).text
    assert HOSTILE not in page
    assert str(escape(HOSTILE)) in page


@pytest.mark.parametrize(
    "chosen",
    [
        DecisionFilter(as_of_from=date(2026, 11, 1), as_of_to=date(2026, 11, 1)),
        DecisionFilter(as_of_from=date(2026, 10, 1), pack_id=PACK, pack_version="2026.12.1"),
        DecisionFilter(as_of_from=date(2026, 10, 1), status="critical"),
        DecisionFilter(as_of_from=date(2026, 10, 1), rule_id=RULE),
        DecisionFilter(as_of_from=date(2026, 10, 1), action="suspend", pack_id=PACK),
    ],
    ids=["day", "pack-version", "status", "rule", "action"],
)
def test_the_page_queries_read_the_browse_indexes(history: Service, chosen: DecisionFilter) -> None:
    """Counts, a page and the export read ``ix_decisions_as_of_browse`` (or its twin of
    decisions with a fired rule for rule and action filters): no whole-table scan."""
    if history.backend != "sqlite":
        pytest.skip("query plans are read from SQLite")
    browser = DecisionBrowser(history.state.store.engine, history.state.store.where)

    def reads(call: Callable[[], object]) -> list[str]:
        plans = query_plans(history.state.store.engine, call)
        assert full_scans(plans) == []
        found = [r for plan in plans for r in re.findall(r"(?:SEARCH|SCAN) decisions [^|]*", plan)]
        assert found
        assert all(re.search(r"_browse\b|_without_rules\b", read) for read in found), plans
        return found

    reads(lambda: browser.counts(chosen))
    listed = reads(lambda: browser.rows(chosen, offset=0, limit=50))
    listed += reads(lambda: list(browser.export(chosen, documents=True, chunk=2)))
    if chosen.rule_id is not None or chosen.action is not None:
        assert all("ix_decisions_fired_browse" in read for read in listed), listed


def test_the_fired_index_holds_exactly_the_decisions_in_which_a_rule_fired(
    history: Service,
) -> None:
    """The partial index's WHERE (the compact ``rules`` text) matches a decision exactly
    when one of its rules matched, as the store writes them."""
    engine = history.state.store.engine
    with engine.connect() as connection:
        rows = connection.execute(
            select(decisions_table.c.decision_id, decisions_table.c.decision).where(FIRED)
        ).all()
        every = connection.execute(select(decisions_table.c.decision)).scalars().all()
    fired = {d["decision_id"] for d in every if any(r["outcome"] == "matched" for r in d["rules"])}
    assert {decision_id for decision_id, _document in rows} == fired
    assert len(fired) == 6  # W-bad and the formula seller, three weeks each
    if history.backend == "sqlite":
        with engine.connect() as connection:
            sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_decisions_fired_browse'"
            ).scalar_one()
        assert FIRED_ROWS in sql
        assert sql.rstrip().split(" WHERE ")[0].endswith("status, rules)")


def test_decisions_written_before_0002_are_read_from_decision_rules(tmp_path: Path) -> None:
    """A decision without a ``rules`` list (its rules all in ``decision_rules``, fired or
    not) is counted, filtered, listed and exported like the others."""
    with DecisionStore(str(tmp_path / "old.db")) as store:
        when = datetime(2026, 10, 1)
        with store.engine.begin() as connection:
            for decision_id, seller, status, rules in (
                ("d-old", "S-old", "at_risk", [("a", True, ["warn"]), ("b", False, [])]),
                ("d-ok", "S-ok", "healthy", [("a", False, []), ("b", False, [])]),
            ):
                connection.execute(
                    insert(decisions_table),
                    {
                        "decision_id": decision_id,
                        "run_id": "r-old",
                        "seller_id": seller,
                        "pack_id": "p",
                        "pack_version": "1",
                        "pack_digest": "sha256:0",
                        "as_of": when,
                        "status": status,
                        "evaluated_at": when,
                        "decision": json.dumps({"seller_id": seller}),
                        "rules": None,
                    },
                )
                for rule_id, fired, actions in rules:
                    connection.execute(
                        insert(decision_rules_table),
                        {
                            "decision_id": decision_id,
                            "rule_id": rule_id,
                            "outcome": "matched" if fired else "not_matched",
                            "fired": fired,
                            "actions": json.dumps(actions),
                        },
                    )
        browser = DecisionBrowser(store.engine, store.where)
        day = DecisionFilter(as_of_from=date(2026, 10, 1), as_of_to=date(2026, 10, 1))
        counts = browser.counts(day)
        assert (counts.total, counts.by_status, counts.by_action) == (
            2,
            {"healthy": 1, "at_risk": 1},
            {"warn": 1},
        )
        for chosen in (replace(day, rule_id="a"), replace(day, action="warn")):
            found = browser.counts(chosen)
            assert (found.total, found.by_action) == (1, {"warn": 1}), chosen
            (row,) = browser.rows(chosen, offset=0, limit=10)
            assert (row.seller_id, row.actions, [r.rule_id for r in row.fired]) == (
                "S-old",
                ("warn",),
                ["a"],
            )
        assert browser.counts(replace(day, rule_id="b")).total == 0
        exported = [r for chunk in browser.export(day, documents=True) for r in chunk]
        assert [(r.seller_id, r.actions, r.document) for r in exported] == [
            ("S-ok", (), '{"seller_id": "S-ok"}'),
            ("S-old", ("warn",), '{"seller_id": "S-old"}'),
        ]
