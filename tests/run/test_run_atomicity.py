"""Runs are atomic and idempotent: a batch run killed at a random point leaves decisions
that escalation ignores, and its rerun leaves exactly one decision per seller.

The run is a real ``sellerpolicy evaluate --store`` process, killed with SIGKILL
once the store holds a random number of its decisions (SQLite and PostgreSQL).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pgkit import fresh_postgres_database
from runkit import AS_OF, MAIN
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.metrics.facts import as_of_instant
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.migrations.schema import decisions_table, runs_table
from sellerpolicy.rules import load_pack

SELLERS = 1500
CHUNK = 10


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("atomic-source")
    generate(sellers=SELLERS, days=60, seed=11, as_of=AS_OF, out=folder, broken_share=0.0)
    return folder


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database, dropped afterwards."""
    yield from fresh_postgres_database()


def _evaluate(source: Path, out: Path, store: str) -> subprocess.Popen[str]:
    args = [
        "evaluate", "--pack", "amazon", "--source", str(source), "--as-of", AS_OF.isoformat(),
        "--out", str(out), "--store", store, "--chunk-size", str(CHUNK),
    ]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-c", MAIN, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            return int(con.execute(select(func.count()).select_from(decisions_table)).scalar_one())
    except (OperationalError, ProgrammingError):
        return 0  # the store is not created yet
    finally:
        engine.dispose()


def _kill_midway(process: subprocess.Popen[str], url: str, at: int) -> int:
    """SIGKILL the run once the store holds at least ``at`` decisions; return how many."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (stored := _count(url)) >= at:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)  # reaps it and closes its pipe
            return stored
        time.sleep(0.005)
    pytest.fail(f"the run ended (code {process.returncode}) before {at} decisions were stored")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_run_killed_at_a_random_point_then_rerun_stores_one_decision_per_seller(
    source: Path, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_database")
    )
    out = tmp_path / "decisions.arrows"
    at = random.Random(backend).randrange(CHUNK, SELLERS // 2)
    killed = _kill_midway(_evaluate(source, out, url), url, at)
    assert 0 < killed < SELLERS
    assert not out.exists()  # no partial output under the real name

    pack = load_pack("amazon")
    with DecisionStore(url) as store, store.engine.connect() as con:
        (state,) = con.execute(select(runs_table.c.state)).scalars().all()
        assert state == "started"  # killed: never completed
        sellers = con.execute(select(decisions_table.c.seller_id).limit(50)).scalars().all()
        # no history for escalation from a run that did not complete
        later = as_of_instant(AS_OF) + timedelta(days=1)
        history = store.history(pack, list(sellers), later)
        assert all(history.streak(s, rule.id, later.date()) == 0
                   for s in sellers for rule in pack.rules)  # fmt: skip

    rerun = _evaluate(source, out, url)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert out.exists()
    with DecisionStore(url) as store, store.engine.connect() as con:
        total = con.execute(select(func.count()).select_from(decisions_table)).scalar_one()
        distinct = con.execute(
            select(func.count(func.distinct(decisions_table.c.seller_id)))
        ).scalar_one()
        states = sorted(con.execute(select(runs_table.c.state)).scalars().all())
    assert total == distinct  # one decision per seller: the killed run's were replaced
    assert distinct > killed
    assert states == ["complete", "started"]


def test_a_second_complete_run_replaces_the_first(source: Path, tmp_path: Path) -> None:
    """Run twice to completion: still one decision per seller, pack version and as_of."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    for _ in range(2):
        done = _evaluate(source, tmp_path / "d.arrows", url)
        _, err = done.communicate(timeout=300)
        assert done.returncode == 0, err
    with DecisionStore(url) as store, store.engine.connect() as con:
        total = con.execute(select(func.count()).select_from(decisions_table)).scalar_one()
        distinct = con.execute(
            select(func.count(func.distinct(decisions_table.c.seller_id)))
        ).scalar_one()
        states = con.execute(select(runs_table.c.state)).scalars().all()
    assert total == distinct
    assert states == ["complete", "complete"]
