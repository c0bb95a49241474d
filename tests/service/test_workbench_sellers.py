"""The workbench's seller pages over HTTP: the prefix search (an index range), a
seller's current decision per pack, the timeline with its ladder, the metric charts
and their values, escaping, sign-in; on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from browsekit import (
    AMAZON,
    BACKENDS,
    BAD,
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

from sellerpolicy.engine.service.web.seller_history import firing, ladder_depth
from sellerpolicy.engine.store.browse_sellers import SellerBrowser
from sellerpolicy.engine.store.records import DecisionRecord, RuleRecord
from sellerpolicy.engine.store.runs import RunKind
from sellerpolicy.rules import load_pack


@pytest.fixture(scope="module", params=BACKENDS)
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service holding the browse history (:mod:`browsekit`), a reader signed in."""
    for service in browse_fixture(request, tmp_path_factory.mktemp("sellers")):
        sign_in(service)
        yield service


def _rows(page: str, caption: str) -> list[str]:
    """The body rows (as text) of the table whose caption contains ``caption``."""
    table = re.search(rf"<caption[^>]*>[^<]*{re.escape(caption)}.*?</table>", page, re.S)
    assert table, caption
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(0).split("<tbody>")[1], re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in rows]


def test_the_search_lists_sellers_whose_id_starts_with_the_text(history: Service) -> None:
    page = history.client.get("/sellers", params={"q": "W-"})
    assert page.status_code == 200
    rows = _rows(page.text, "Sellers whose id starts with")
    assert [r.split(" ")[0] for r in rows] == ["W-<img", "W-bad", "W-ok"]  # id order
    assert rows[1] == "W-bad healthy as of 2026-11-01 critical as of 2026-11-01"  # amazon, walmart
    assert rows[2] == "W-ok not judged healthy as of 2026-11-01"
    assert f'<th scope="col">{AMAZON}</th>' in page.text
    none = history.client.get("/sellers", params={"q": "W-x"})
    assert "No stored decision has a seller id starting with" in none.text
    everyone = history.client.get("/sellers")
    assert "Sellers in id order" in everyone.text
    assert _rows(everyone.text, "Sellers in id order")[0].startswith("=HYPERLINK")


def test_a_too_long_search_is_refused(history: Service) -> None:
    for length in (201, 5000):
        refused = history.client.get("/sellers", params={"q": "x" * length})
        assert refused.status_code == 400
        assert "at most 200 characters" in refused.text  # a page, not a JSON problem


@pytest.mark.parametrize("prefix", ["W-", "W-b", "", "zz"])
def test_the_search_reads_an_index_range(history: Service, prefix: str) -> None:
    """Every query of the search reads an index (a range on seller_id), none the whole table."""
    if history.backend != "sqlite":
        pytest.skip("query plans are read from SQLite")
    browser = SellerBrowser(history.state.store.engine, history.state.store.where)
    plans = query_plans(history.state.store.engine, lambda: browser.sellers(prefix, limit=50))
    assert plans, "the search ran no query"
    assert full_scans(plans) == []
    search = "USING COVERING INDEX ix_decisions_seller_as_of (seller_id>? AND seller_id<?)"
    assert any(search in plan for plan in plans), plans


def test_a_sellers_page_shows_the_current_decision_with_its_ladder(history: Service) -> None:
    page = history.client.get(f"/sellers/{BAD}")
    assert page.status_code == 200
    text = page.text
    assert f'<h2 id="pack-2" style="margin-top: 4px">{PACK} <span class="status critical">' in text
    assert f"{AMAZON}" in text  # judged by a second pack, shown first (pack id order)
    actions = _rows(text, f"Actions of the current {PACK} decision")
    assert actions[0].startswith(f"suspend {RULE} ")
    assert "enforced" in actions[0]
    rules = _rows(text, f"Rules of the current {PACK} decision")
    fired = next(r for r in rules if r.startswith(RULE))
    assert "fired 3rd firing in a row: step 3 of 3 (suspend)" in fired
    assert "cancellation_rate 5% (60 of 1,200); fires above 2%" in fired
    assert "To clear it: 37 bad orders must leave the window or 1,800 good orders" in fired
    assert "What to do:" in fired
    assert "not assessed refund_rate n/a; fires at or above 6%" in " ".join(rules)
    healthy = _rows(history.client.get(f"/sellers/{OK}").text, f"Rules of the current {PACK}")
    passing = next(r for r in healthy if r.startswith(RULE))
    assert "not fired" in passing
    assert "Headroom: the window can absorb 12 more bad orders." in passing


def test_the_timeline_shows_each_date_with_status_actions_and_streaks(history: Service) -> None:
    page = history.client.get(f"/sellers/{BAD}").text
    timeline = _rows(page, f"Decisions of {PACK} by as_of date")
    assert timeline == [
        f"{WEEKS[2]} critical suspend {RULE} (3rd firing in a row) 2026.12.1",
        f"{WEEKS[1]} at_risk restrict_listings {RULE} (2nd firing in a row) 2026.12.1",
        f"{WEEKS[0]} at_risk warn {RULE} (1st firing in a row) 2026.12.1",
    ]
    healthy = _rows(history.client.get(f"/sellers/{OK}").text, f"Decisions of {PACK}")
    assert healthy[0] == f"{WEEKS[2]} healthy none none 2026.12.1"


def test_each_metric_with_a_threshold_has_a_chart_and_its_values(history: Service) -> None:
    page = history.client.get(f"/sellers/{BAD}").text
    src = re.search(r'src="(/sellers-chart\?[^"]*metric=cancellation_rate)"', page)
    assert src, "no chart of cancellation_rate"
    values = _rows(page, "cancellation_rate by date")
    assert values == [f"{day} 5% (fired) {RULE} 2%" for day in reversed(WEEKS)]
    chart = history.client.get(html.unescape(src.group(1)))
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert chart.content.lstrip().startswith(b"<?xml")
    assert b"<svg" in chart.content
    assert b"<script" not in chart.content
    again = history.client.get(html.unescape(src.group(1)))
    assert again.content == chart.content  # deterministic (and drawn once)
    missing = history.client.get(
        "/sellers-chart", params={"seller": BAD, "pack": PACK, "metric": "no_such_metric"}
    )
    assert missing.status_code == 404


def test_an_unknown_seller_is_a_404_page(history: Service) -> None:
    page = history.client.get("/sellers/nobody-at-all")
    assert page.status_code == 404
    assert "No decision is stored for seller nobody-at-all" in page.text


def test_stored_ids_are_text_never_markup(history: Service) -> None:
    search = history.client.get("/sellers", params={"q": "W-<"})
    assert HOSTILE not in search.text
    assert str(escape(HOSTILE)) in search.text
    link = f"/sellers/{quote(HOSTILE, safe='/')}"
    assert f'href="{link}"' in search.text
    page = history.client.get(link)
    assert page.status_code == 200
    assert HOSTILE not in page.text
    assert "<h1>Seller W-&lt;img src=x onerror=&#34;alert(1)&#34;&gt;</h1>" in page.text


def test_the_pages_need_a_session(history: Service) -> None:
    cookies = dict(history.client.cookies)
    history.client.cookies.clear()
    try:
        for path in ("/sellers", f"/sellers/{BAD}", f"/sellers-chart?seller={BAD}&pack=p&metric=m"):
            away = history.client.get(path, follow_redirects=False)
            assert away.status_code == 303
            assert away.headers["location"].startswith("/signin?next=")
    finally:
        history.client.cookies.update(cookies)


def test_decisions_of_a_run_that_did_not_complete_are_left_out(history: Service) -> None:
    """A started run's decisions are no history: the seller page and search skip them."""
    store = history.state.store
    pack = load_pack("walmart")
    as_of = datetime(2026, 11, 8, tzinfo=UTC)
    run_id = store.start_run(pack, as_of, RunKind.BATCH)
    record = DecisionRecord(
        seller_id="V-half",
        as_of=as_of,
        status="critical",
        document={"seller_id": "V-half", "rules": [], "actions": []},
        rules=(RuleRecord(RULE, "matched", True, ("suspend",)),),
    )
    store.append(pack, [record], run_id=run_id)
    assert history.client.get("/sellers/V-half").status_code == 404
    assert "V-half" not in history.client.get("/sellers", params={"q": "V-"}).text
    store.complete_run(run_id)
    assert history.client.get("/sellers/V-half").status_code == 200


def test_a_streak_at_the_depth_escalation_reads_is_written_as_or_later() -> None:
    """Escalation reads as many earlier evaluations as the longest ladder needs, so a
    stored streak stops there: the page says "or later" rather than a wrong count."""
    walmart = load_pack("walmart")
    assert ladder_depth(walmart) == 3
    assert firing(1, 3) == "2nd firing in a row"
    assert firing(3, 3) == "4th or later firing in a row"
    assert firing(11, None) == "12th firing in a row"  # the pack is not in the store
