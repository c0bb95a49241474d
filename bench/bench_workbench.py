"""Benchmark: the workbench's pages over a store of 1 M decisions, server time per page.

The store is filled fast, without evaluating a million sellers: the demo's
history (``sellerpolicy demo --serve``: a generated marketplace evaluated with
the Amazon and Walmart packs on 12 weekly dates, ladders climbing) is built
for ``--seed-sellers`` sellers, and its rows (``decisions``,
``decision_rules``, ``runs``) are copied through SQLAlchemy Core under new
seller and decision ids until the store holds ``--decisions`` decisions: a
marketplace of that many seller-weeks with real documents, histories and
status mixes. The filled store is kept under ``bench/.cache/`` and reused.

Each page is then requested in process (FastAPI's test client, signed in as
a reader) once and ``--repeat`` times more, and its server time printed in
ms (the first request, then median and worst): the seller search, a
seller's page and one of its metric charts, the decision list with its
default range (the latest ``as_of``, about 83,000 decisions), its counts
chart, each filter, the whole 12 weeks (listed, not counted: over the
limit), and the first chunk of an export. Charts are drawn afresh each
time (their memo is cleared). The budget is 300 ms per page; nothing passes
or fails. Run small with ``python bench/bench_workbench.py --decisions
100000``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, func, insert, select

from sellerpolicy.engine.cli.demo_serve import build_history
from sellerpolicy.engine.logs import LogFormat, configure_logging
from sellerpolicy.engine.service.app import Settings, create_app
from sellerpolicy.engine.service.web import decisions, sellers
from sellerpolicy.engine.store.browse import DecisionBrowser, DecisionFilter
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import Role
from sellerpolicy.engine.store.migrations.schema import (
    decision_rules_table,
    decisions_table,
    runs_table,
)

sys.path.insert(0, str(Path(__file__).parent))
from benchkit import CACHE

BUDGET_MS = 300.0
_CHUNK = 5_000


def _fast_engine(path: Path) -> Engine:
    """An engine for bulk loading: no journal, no fsync (a bench store, rebuilt if lost)."""
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: object) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-400000")
        cursor.close()

    return engine


def _seed_rows(
    seed: Path,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], list[Any]]:
    """The seed store's decisions (documents as text), their fired rules, and its runs."""
    engine = create_engine(f"sqlite:///{seed}")
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        names = [c.name for c in decisions_table.columns]
        cursor.execute(f"SELECT {', '.join(names)} FROM decisions")  # text, not decoded
        decisions = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        rule_names = [c.name for c in decision_rules_table.columns]
        cursor.execute(f"SELECT {', '.join(rule_names)} FROM decision_rules")
        rules: dict[str, list[dict[str, Any]]] = {}
        for row in cursor.fetchall():
            record = dict(zip(rule_names, row, strict=True))
            rules.setdefault(record["decision_id"], []).append(record)
        runs = [dict(r._mapping) for r in connection.execute(select(runs_table))]
    engine.dispose()
    return decisions, rules, runs


def fill(target: Path, decisions: int, seed_sellers: int, weeks: int) -> None:
    """A store at ``target`` holding ``decisions`` copies of the demo history's decisions."""
    started = time.perf_counter()
    configure_logging(LogFormat.JSON, level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-workbench-") as folder:
        seed_url = build_history(Path(folder), sellers=seed_sellers, weeks=weeks)
        seed_path = Path(seed_url.removeprefix("sqlite:///"))
        rows, rules, runs = _seed_rows(seed_path)
    print(f"seed: {len(rows):,} decisions in {time.perf_counter() - started:.1f} s", flush=True)
    DecisionStore(f"sqlite:///{target}").close()  # migrated to head: every index in place
    engine = _fast_engine(target)
    copies = -(-decisions // len(rows))
    written = 0
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(insert(runs_table), runs)
        for copy in range(copies):
            batch: list[dict[str, Any]] = []
            rule_batch: list[dict[str, Any]] = []
            for row in rows:
                if written >= decisions:
                    break
                seller = f"S{copy:02d}{row['seller_id'][1:]}"
                decision_id = str(uuid.uuid4())
                document = (
                    row["decision"]
                    .replace(f'"seller_id":"{row["seller_id"]}"', f'"seller_id":"{seller}"', 1)
                    .replace(row["decision_id"], decision_id, 1)
                )
                batch.append(
                    {**row, "decision_id": decision_id, "seller_id": seller, "decision": document}
                )
                for rule in rules.get(row["decision_id"], ()):
                    rule_batch.append({**rule, "decision_id": decision_id})
                written += 1
                if len(batch) >= _CHUNK:
                    _write(connection, batch, rule_batch)
                    batch, rule_batch = [], []
            _write(connection, batch, rule_batch)
            print(f"  {written:,} decisions", end="\r", flush=True)
    engine.dispose()
    print(f"filled {target}: {written:,} decisions in {time.perf_counter() - started:.1f} s")


def _write(connection: Any, batch: list[dict[str, Any]], rule_batch: list[dict[str, Any]]) -> None:
    if batch:
        connection.exec_driver_sql(  # the documents are JSON text already
            "INSERT INTO decisions (decision_id, run_id, seller_id, pack_id, pack_version, "
            "pack_digest, as_of, status, evaluated_at, decision, rules) VALUES (:decision_id, "
            ":run_id, :seller_id, :pack_id, :pack_version, :pack_digest, :as_of, :status, "
            ":evaluated_at, :decision, :rules)",
            batch,
        )
    if rule_batch:
        connection.exec_driver_sql(
            "INSERT INTO decision_rules (decision_id, rule_id, outcome, fired, actions) "
            "VALUES (:decision_id, :rule_id, :outcome, :fired, :actions)",
            rule_batch,
        )


def store_for(decisions: int, seed_sellers: int, weeks: int) -> Path:
    """The cached filled store for these parameters, filled when missing."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"workbench-d{decisions}-s{seed_sellers}-w{weeks}.db"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        fill(partial, decisions, seed_sellers, weeks)
        partial.rename(path)
    return path


def _count(path: Path) -> int:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        total = int(
            connection.execute(select(func.count()).select_from(decisions_table)).scalar_one()
        )
    engine.dispose()
    return total


def _seller(path: Path) -> str:
    """A seller the Walmart pack judged critical on the latest day (a ladder climbed)."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        latest = connection.execute(select(func.max(decisions_table.c.as_of))).scalar_one()
        seller = connection.execute(
            select(decisions_table.c.seller_id)
            .where(
                decisions_table.c.as_of == latest,
                decisions_table.c.status == "critical",
                decisions_table.c.pack_id == "walmart-seller-performance",
            )
            .limit(1)
        ).scalar_one()
    engine.dispose()
    return str(seller)


def _pages(seller: str, days: list[str], counts_chart: str) -> dict[str, str]:
    """The pages timed: name -> path and query."""
    latest, first = days[0], days[-1]
    chart = f"seller={quote(seller)}&pack=walmart-seller-performance&metric=cancellation_rate"
    return {
        "sellers (first 50)": "/sellers",
        "sellers, prefix S05": "/sellers?q=S05",
        "sellers, prefix S0500012": "/sellers?q=S0500012",
        "seller page": f"/sellers/{quote(seller)}",
        "seller chart (drawn each time)": f"/sellers-chart?{chart}",
        "decisions (latest day)": "/decisions",
        "decisions counts chart (drawn each time)": counts_chart,
        "decisions, pack": "/decisions?pack=amazon-seller-performance",
        "decisions, status critical": "/decisions?status=critical",
        "decisions, rule odr-over-target": "/decisions?rule=odr-over-target",
        "decisions, action suspend": "/decisions?action=suspend",
        "decisions, pack + version + rule + action": (
            "/decisions?pack=walmart-seller-performance&version=2026.11.0"
            "&rule=cancellation-over-standard&action=suspend"
        ),
        "decisions, 12 weeks (not counted)": f"/decisions?from={first}&to={latest}",
        "decisions, 12 weeks, critical": f"/decisions?from={first}&to={latest}&status=critical",
        "decisions, 12 weeks, page 200": f"/decisions?from={first}&to={latest}&page=200",
        "export CSV, first chunk": "/decisions/export?format=csv",
        "export JSON lines, first chunk": "/decisions/export?format=jsonl",
    }


def time_pages(path: Path, repeat: int) -> None:
    """Sign in as a reader and time each page in process: first request, median, worst."""
    configure_logging(LogFormat.JSON, level=logging.WARNING)
    app = create_app(Settings(store_url=f"sqlite:///{path}"))
    state = app.state.service
    key = state.keys.create(Role.READER, actor="bench")[1]
    browser = DecisionBrowser(state.store.engine, state.store.where)
    days = [d.isoformat() for d in browser.latest_days(12)]
    latest = date.fromisoformat(days[0])
    counts = browser.counts(DecisionFilter(as_of_from=latest, as_of_to=latest))
    pages = _pages(_seller(path), days, decisions.chart_link(counts))
    print(f"{'page':44} {'first':>8} {'median':>8} {'worst':>8}  (ms, budget {BUDGET_MS:.0f})")
    with TestClient(app) as client:
        signed = client.post("/signin", data={"key": key, "next": "/sellers"})
        assert signed.status_code == 200, signed.text
        for name, url in pages.items():
            times = []
            for _ in range(repeat + 1):
                sellers._drawn.cache_clear()  # time the drawing, not the memo
                decisions._counts_svg.cache_clear()
                started = time.perf_counter()
                if "/export" in url:
                    with client.stream("GET", url) as response:
                        next(response.iter_bytes())
                else:
                    response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            rest = times[1:]
            flag = "" if max(rest) <= BUDGET_MS else "  over budget"
            print(
                f"{name:44} {times[0]:8.1f} {statistics.median(rest):8.1f} {max(rest):8.1f}{flag}",
                flush=True,
            )


def main() -> None:
    """Fill (or reuse) the store, then time every page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--seed-sellers", type=int, default=1_000)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page")
    args = parser.parse_args()
    path = store_for(args.decisions, args.seed_sellers, args.weeks)
    print(f"store: {path} ({_count(path):,} decisions)")
    time_pages(path, args.repeat)


if __name__ == "__main__":
    main()
