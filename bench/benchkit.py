"""What the benchmarks share: the cached generated marketplace and peak memory.

Sources are generated once per parameter set under ``bench/.cache/`` (git
ignored) and reused by every benchmark: the Parquet source without broken
rows (``metrics-s<sellers>-o<orders>-seed<seed>``) for metrics, evaluation and
Parquet loading; CSV / JSONL sources with the generator's default share of
broken rows (``sources-...-<format>``) for text loading.
"""

from __future__ import annotations

import resource
import time
from datetime import date
from pathlib import Path

from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.sources.tables import Format

CACHE = Path(__file__).parent / ".cache"
AS_OF = date(2026, 11, 1)
DAYS = 120


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def source_dir(sellers: int, orders: int, seed: int, fmt: str = "parquet") -> Path:
    """The cached source for these parameters and format, generated when missing."""
    if fmt == "parquet":
        folder, broken = CACHE / f"metrics-s{sellers}-o{orders}-seed{seed}", 0.0
    else:
        folder, broken = CACHE / f"sources-s{sellers}-o{orders}-seed{seed}-{fmt}", 0.001
    if (folder / f"orders.{fmt}").exists():
        return folder
    started = time.perf_counter()
    summary = generate(
        sellers=sellers,
        days=DAYS,
        seed=seed,
        as_of=AS_OF,
        out=folder,
        fmt=Format(fmt),
        orders_per_seller_day=orders / (sellers * DAYS),
        broken_share=broken,
    )
    rows = ", ".join(f"{t} {n:,}" for t, n in summary.rows.items())
    print(f"generated {folder} in {time.perf_counter() - started:.1f} s: {rows}", flush=True)
    return folder
