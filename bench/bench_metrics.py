"""Benchmark: metric facts in DuckDB against a straightforward pandas version.

Generates (once, cached as Parquet under ``bench/.cache/``) a synthetic
marketplace with ``engine.generate.generate`` (every event table present),
loads it through the real sources loader, then times ``compute_metrics`` for
the uses of a pack (default: the shipped ``amazon`` pack) and a plain pandas
implementation of the same metrics, checks on a sample of sellers that both
agree, and prints orders/s, peak memory (``ru_maxrss``: DuckDB allocates
outside Python, so ``tracemalloc`` would not see it) and the speed-up.

Prints figures; never asserts on time. Run small with
``python bench/bench_metrics.py --sellers 1000 --orders 100000``.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from benchkit import AS_OF, CACHE, peak_rss_mb, source_dir

from sellerpolicy.engine.metrics.compute import compute_metrics, configure_connection
from sellerpolicy.engine.sources.reader import load_source
from sellerpolicy.engine.sources.tables import TABLES
from sellerpolicy.rules import load_pack
from sellerpolicy.rules.catalog import LateBasis
from sellerpolicy.rules.model import MetricUse


def canonical_db(folder: Path) -> Path:
    """The source loaded once through the real loader into a DuckDB file (cached).

    Later runs open the file instead of re-validating 10 M rows, so the peak
    RSS printed after the metrics is that of the metrics, not of the loader.
    """
    path = folder / "canonical.duckdb"
    if path.exists():
        return path
    started = time.perf_counter()
    with duckdb.connect(str(path)) as con:
        report = load_source(folder, con)
    print(
        f"validated and loaded {report.rows_valid['orders']:,} orders "
        f"({report.reject_count} rejects) in {time.perf_counter() - started:.1f} s "
        f"(peak RSS {peak_rss_mb():,.0f} MiB; cached as {path.name})"
    )
    return path


# ---------------------------------------------------------------------------
# The pandas version (only the metrics the benchmarked packs use)


class PandasMetrics:
    """Per-order flags with merges, then one groupby per use: the obvious pandas code."""

    def __init__(self, tables: dict[str, pd.DataFrame], as_of: datetime) -> None:
        self.t = tables
        self.a = pd.Timestamp(as_of)
        o = tables["orders"]
        self.o = o
        self.cancelled = (o["cancelled_at"] < self.a).to_numpy()
        self.shipped = (o["shipped_at"] < self.a).to_numpy()
        self._rating: pd.Series | None = None

    def _per_order(self, table: str, at: str, keep: pd.Series | None = None) -> pd.Series:
        events = self.t[table]
        mask = events[at] < self.a
        if keep is not None:
            mask &= keep
        ids = events.loc[mask, "order_id"].unique()
        return self.o["order_id"].isin(ids)

    def rating(self) -> pd.Series:
        """Effective feedback rating per order (NaN when none)."""
        if self._rating is None:
            fb = self.t["feedback"]
            fb = fb[fb["at"] < self.a].sort_values("at")
            left = fb[fb["event"] == "left"].drop_duplicates("order_id").set_index("order_id")
            upd = fb[fb["event"] == "updated"].drop_duplicates("order_id").set_index("order_id")
            removed = fb[(fb["event"] == "removed") & (fb["at"] <= self.a - timedelta(hours=48))]
            rating = left["rating"].astype("float64")
            rating.update(upd["rating"].astype("float64"))
            rating[rating.index.isin(removed["order_id"])] = np.nan
            self._rating = self.o["order_id"].map(rating)
        return self._rating

    def flags(self, use: MetricUse) -> tuple[pd.Series | bool, pd.Series]:
        """``(denominator, numerator)`` per order for one use."""
        o, k, a = self.o, use.knobs, self.a
        if use.metric == "orders":
            return True, pd.Series(False, index=o.index)
        if use.metric == "order_defect_rate":
            claims = self.t["claims"]
            cbs = self.t["chargebacks"]
            defect = (
                (self.rating() <= k.negative_max_rating)
                | self._per_order("claims", "filed_at", claims["status"].isin(k.claim_statuses))
                | self._per_order("chargebacks", "filed_at", cbs["kind"].isin(k.chargeback_kinds))
            )
            return True, defect
        if use.metric == "pre_fulfillment_cancel_rate":
            cancel = (
                self.cancelled
                & o["cancelled_by"].isin(k.cancel_initiators)
                & ~(o["shipped_at"] <= o["cancelled_at"])
            )
            return True, cancel
        if use.metric == "late_shipment_rate":
            after = pd.Timedelta(k.late_after)
            if k.late_basis is LateBasis.SHIP_BY:
                deadline = o["ship_by"].fillna(o["ordered_at"] + after)
                late = np.where(self.shipped, o["shipped_at"] > deadline, a > deadline)
            else:
                due = o["ordered_at"] + after
                late = np.where(self.shipped, o["shipped_at"] >= due, a >= due)
            return True, pd.Series(late & ~self.cancelled, index=o.index)
        if use.metric == "valid_tracking_rate":
            return pd.Series(self.shipped, index=o.index), o["tracking_valid"].eq(True)
        if use.metric == "on_time_delivery_rate":
            delivered = o["delivered_at"] < a
            dropped = pd.Series(self.cancelled, index=o.index) & ~(
                o["delivered_at"] < o["cancelled_at"]
            )
            den = o["deliver_by"].notna() & ~dropped & (delivered | (o["deliver_by"] < a))
            return den, delivered & (o["delivered_at"] <= o["deliver_by"])
        if use.metric == "refund_rate":
            return True, o["refunded_at"] < a
        raise NotImplementedError(f"no pandas version of {use.metric}")

    def messages(self, use: MetricUse) -> pd.DataFrame:
        """num/den of message_response_rate per seller."""
        m, a = self.t["messages"], self.a
        end = a - use.lag
        m = m[(m["received_at"] >= end - use.window) & (m["received_at"] < end)]
        limit = pd.Timedelta(use.knobs.response_limit)
        answered = m["responded_at"] < a
        den = answered | (m["received_at"] <= a - limit)
        num = den & answered & (m["responded_at"] <= m["received_at"] + limit)
        frame = pd.DataFrame({"seller_id": m["seller_id"], "num": num, "den": den})
        return frame.groupby("seller_id")[["num", "den"]].sum()

    def compute(self, uses: Sequence[MetricUse]) -> pd.DataFrame:
        """num/den per seller and use, as columns ``<name>__num`` / ``<name>__den``."""
        o = self.o
        sellers = pd.Index(
            pd.concat([o["seller_id"], self.t["messages"]["seller_id"]]).unique(), name="seller_id"
        )
        out = pd.DataFrame(index=sellers.sort_values())
        for use in uses:
            if use.metric == "message_response_rate":
                counts = self.messages(use)
            else:
                end = self.a - use.lag
                inside = (o["ordered_at"] >= end - use.window) & (o["ordered_at"] < end)
                den, num = self.flags(use)
                den_mask = inside & den
                frame = pd.DataFrame(
                    {"seller_id": o["seller_id"], "num": den_mask & num, "den": den_mask}
                )
                counts = frame.groupby("seller_id")[["num", "den"]].sum()
            out[f"{use.name}__num"] = counts["num"].reindex(out.index, fill_value=0)
            out[f"{use.name}__den"] = counts["den"].reindex(out.index, fill_value=0)
        return out


# ---------------------------------------------------------------------------


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, func: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Best wall time of ``repeat`` runs (and the last result), printed with CPU time.

    CPU time per run is printed too: on a shared machine it is steadier than
    wall time (wall time suffers when other processes take the cores).
    """
    best, result, cpu = float("inf"), None, 0.0
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), cpu_seconds()
        result = func()
        best = min(best, time.perf_counter() - started)
        cpu += cpu_seconds() - cpu_started
    print(f"{label}: best of {repeat}: {best:.3f} s wall, {cpu / repeat:.3f} s CPU per run")
    return best, result


def main() -> None:
    """Generate/load the data, time both implementations, compare a sample."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sellers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pack", default="amazon")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 4GB")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sample", type=int, default=2_000, help="sellers compared")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--on-disk", action="store_true", help="query the cached DuckDB file")
    args = parser.parse_args()

    folder = source_dir(args.sellers, args.orders, args.seed)
    uses = load_pack(args.pack).metrics
    as_of = datetime.combine(AS_OF, datetime.min.time(), UTC)
    database = canonical_db(folder)
    con = duckdb.connect(str(database), read_only=True) if args.on_disk else duckdb.connect()
    configure_connection(
        con, memory_limit=args.memory_limit, temp_directory=CACHE / "spill", threads=args.threads
    )
    if not args.on_disk:  # like the CLI: the canonical tables live in an in-memory database
        con.execute(f"ATTACH '{database}' AS src (READ_ONLY)")
        for table in TABLES:
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM src.{table}")
        con.execute("DETACH src")
    orders = int(con.execute("SELECT count(*) FROM orders").fetchall()[0][0])
    where = "on disk" if args.on_disk else "in memory"
    print(f"{orders:,} orders ({where}, from {database}); peak RSS {peak_rss_mb():,.0f} MiB")
    print(f"pack {args.pack}: {len(uses)} metric uses: {', '.join(u.name for u in uses)}")

    rss_before = peak_rss_mb()
    seconds, result = timed(
        "duckdb compute_metrics", lambda: compute_metrics(con, uses, as_of), args.repeat
    )
    facts = result.table  # type: ignore[attr-defined]
    print(
        f"  {facts.num_rows:,} sellers, {orders / seconds / 1e6:.2f} M orders/s, "
        f"peak RSS {peak_rss_mb():,.0f} MiB (before metrics {rss_before:,.0f} MiB)"
    )
    daily = [u.name for u in uses if u.daily is not None]
    if daily:  # a score's daily mean: one metric pass per day of its window
        plain = [u for u in uses if u.daily is None]
        alone, _ = timed(
            "duckdb compute_metrics without the daily means",
            lambda: compute_metrics(con, plain, as_of),
            args.repeat,
        )
        print(f"  the daily means ({', '.join(daily)}) cost {seconds / alone:.1f}x the rest")
        args.skip_pandas = True  # the pandas implementation has no daily means
    if args.skip_pandas:
        return

    tables = {
        t: con.table(t).df() for t in ("orders", "feedback", "claims", "chargebacks", "messages")
    }
    pandas_seconds, expected = timed(
        "pandas", lambda: PandasMetrics(tables, as_of.replace(tzinfo=None)).compute(uses), 1
    )
    print(
        f"  speed-up duckdb vs pandas: {pandas_seconds / seconds:.1f}x; "
        f"peak RSS {peak_rss_mb():,.0f} MiB"
    )
    compare(facts.to_pandas().set_index("seller_id"), expected, uses, args.sample, args.seed)


def compare(
    got: pd.DataFrame, expected: object, uses: Sequence[MetricUse], sample: int, seed: int
) -> None:
    """Check num/den of every use on a random sample of sellers; print the verdict."""
    assert isinstance(expected, pd.DataFrame)
    rng = np.random.default_rng(seed)
    ids = rng.choice(expected.index.to_numpy(), size=min(sample, len(expected)), replace=False)
    columns = [f"{u.name}__{part}" for u in uses if u.metric != "orders" for part in ("num", "den")]
    left = got.loc[ids, columns].astype("int64")
    right = expected.loc[ids, columns].astype("int64")
    diff = (left != right).any(axis=1)
    if diff.any():
        print(f"MISMATCH on {int(diff.sum())} of {len(ids)} sampled sellers:")
        print(pd.concat({"duckdb": left[diff], "pandas": right[diff]}, axis=1).head())
        raise SystemExit(1)
    print(f"  sample of {len(ids):,} sellers: duckdb and pandas agree on every num/den")


if __name__ == "__main__":
    main()
