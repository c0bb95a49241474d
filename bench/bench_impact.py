"""Benchmark: the impact of a policy change on 1 M sellers, against one evaluation.

The new pack is the shipped ``amazon`` pack with two thresholds moved (ODR
1% -> 0.8%, 30-day late shipment 4% -> 3%); the baseline is the shipped
pack. On the synthetic facts of ``bench/bench_evaluate.py`` (1 M sellers by
default, a few % breaching one metric), it times, best of ``--repeat``:

1. in the library, on a facts table in memory:
   * one evaluation of the new pack with its decisions written to ``.arrows``
     (the yardstick: the fastest output of ``evaluate``);
   * ``impact``: both packs evaluated, compared, changed sellers listed and
     the first 1,000 explained, thresholds' histograms;
   * the report as JSON text, and as the HTML page (charts drawn);
2. end to end, as a user runs them, on the facts written to a Parquet file:
   ``sellerpolicy evaluate --facts F --out x.arrows`` against ``sellerpolicy
   impact --facts F --out r.json --html r.html`` (process start included).

Figures and ratios are printed; nothing passes or fails. Run small with
``python bench/bench_impact.py --sellers 100000``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq

from sellerpolicy.engine.change.html import render_html
from sellerpolicy.engine.change.impact import impact
from sellerpolicy.engine.change.population import population_from_table
from sellerpolicy.engine.evaluation.levels import ExplainLevel
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.model import CompiledPack

sys.path.insert(0, str(Path(__file__).parent))
from bench_evaluate import best, evaluate_and_write, synthetic_facts
from benchkit import AS_OF, peak_rss_mb

MAIN = "from sellerpolicy.engine.cli.root import main; main()"
MOVED = {"odr-over-target": 0.008, "late-shipment-30d": 0.03}


def stricter(pack: CompiledPack) -> CompiledPack:
    """The pack with the thresholds of :data:`MOVED` (single-leaf rules) and a new version."""
    rules = tuple(
        replace(r, when=replace(r.when, threshold=MOVED[r.id])) if r.id in MOVED else r  # type: ignore[call-arg]
        for r in pack.rules
    )
    return replace(pack, rules=rules, version=pack.version + "-stricter", digest="sha256:bench")


def wall(*args: object) -> float:
    """Seconds one ``sellerpolicy`` command takes, as a user runs it (exit code checked)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MAIN, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"sellerpolicy {args[0]} failed: {done.stderr}")
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sellers", type=int, default=1_000_000)
    parser.add_argument("--breach", type=float, default=0.03, help="share of breaching sellers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure (best)")
    args = parser.parse_args()

    baseline = load_pack("amazon")
    new = stricter(baseline)
    facts = synthetic_facts(baseline, args.sellers, args.seed, args.breach)
    n = facts.num_rows
    print(f"== impact of {new.version} against {baseline.version} on {n:,} sellers' facts")
    with tempfile.TemporaryDirectory(prefix="bench-impact-") as folder:
        work = Path(folder)
        batches = facts.to_batches(max_chunksize=131_072)
        arrows = work / "decisions.arrows"
        one = best(
            partial(evaluate_and_write, new, batches, ExplainLevel.SUMMARY, arrows), args.repeat
        )
        population = population_from_table(facts, [new, baseline])
        run = partial(impact, new, baseline, population, AS_OF)
        seconds = best(run, args.repeat)
        report = run()
        to_json = best(lambda: json.dumps(report.to_json()), args.repeat)
        to_html = best(lambda: render_html(report), args.repeat)
        print(
            f"   changed sellers {report.changed.num_rows:,}, explained {len(report.explained):,}"
        )
        print(f"   {'library, facts in memory':<58} {'seconds':>8} {'sellers/s':>12} {'x one':>6}")
        for label, value in (
            ("evaluate the new pack, decisions to .arrows", one),
            ("impact (both packs, compared, explained, histograms)", seconds),
            ("  report to JSON text", to_json),
            ("  report to HTML (2 charts)", to_html),
            ("impact + JSON + HTML", seconds + to_json + to_html),
        ):
            print(f"   {label:<58} {value:8.3f} {n / value:12,.0f} {value / one:5.1f}x")

        path = work / "facts.parquet"
        pq.write_table(facts.append_column("as_of", _as_of(n)), path)
        pack_dir = work / "stricter"
        _write_pack(pack_dir)
        cli_one = min(
            wall("evaluate", "--pack", pack_dir, "--facts", path, "--as-of", AS_OF,
                 "--out", work / "cli.arrows")
            for _ in range(args.repeat)
        )  # fmt: skip
        cli_impact = min(
            wall("impact", "--pack", pack_dir, "--baseline", "amazon", "--facts", path,
                 "--as-of", AS_OF, "--out", work / "r.json", "--html", work / "r.html")
            for _ in range(args.repeat)
        )  # fmt: skip
        print(f"   {'end to end (CLI, facts.parquet)':<58} {'seconds':>8} {'sellers/s':>12}")
        print(
            f"   {'sellerpolicy evaluate --out x.arrows':<58} {cli_one:8.3f} {n / cli_one:12,.0f}"
        )
        print(
            f"   {'sellerpolicy impact --out r.json --html r.html':<58} {cli_impact:8.3f} "
            f"{n / cli_impact:12,.0f} {cli_impact / cli_one:5.1f}x"
        )
    print("   target: impact at most 3x one evaluate of the new pack to .arrows")
    print(f"   peak RSS {peak_rss_mb():,.0f} MiB")


def _as_of(n: int) -> object:
    import pyarrow as pa  # noqa: PLC0415

    return pa.array([AS_OF.isoformat()] * n, pa.string())


def _write_pack(folder: Path) -> None:
    """The stricter pack as YAML (the shipped amazon pack with :data:`MOVED` applied)."""
    source = Path(load_pack("amazon").path)
    folder.mkdir()
    text = source.read_text(encoding="utf-8")
    text = text.replace(
        "{metric: order_defect_rate, gte: 1%}", "{metric: order_defect_rate, gte: 0.8%}"
    )
    text = text.replace(
        "{metric: late_shipment_rate_30d, gte: 4%}", "{metric: late_shipment_rate_30d, gte: 3%}"
    )
    (folder / "pack.yaml").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
