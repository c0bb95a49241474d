"""Start-up time of the command line, next to a bare interpreter.

    python bench/bench_cli.py [--runs 15]

Each command runs ``--runs`` times in a fresh process (the console script,
as a user types it); the figures are the median and the best wall time, and
the median's distance from ``python -c pass``. It also lists which heavy
libraries each command imported (none should, for these three). It prints
figures, it never passes or fails.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("duckdb", "pyarrow", "sqlalchemy", "alembic", "fastapi", "dask", "numpy", "pandas")
PROBE = (
    "import atexit, sys\n"
    "heavy = {heavy!r}\n"
    "atexit.register(lambda: print('imported:', [m for m in heavy if m in sys.modules],"
    " file=sys.stderr))\n"
    "sys.argv = ['sellerpolicy', *{args!r}]\n"
    "from sellerpolicy.engine.cli.root import main\n"
    "main()\n"
)


def _script() -> list[str]:
    found = shutil.which("sellerpolicy", path=str(Path(sys.executable).parent))
    if found is None:
        sys.exit("the sellerpolicy console script is not installed next to this Python")
    return [found]


def _time(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return times


def _imported(args: list[str]) -> str:
    probe = PROBE.format(heavy=HEAVY, args=args)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("imported:")]
    return lines[-1].removeprefix("imported: ") if lines else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    script = _script()
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "sellerpolicy --help": ([*script, "--help"], ["--help"]),
        "sellerpolicy validate policies/amazon": (
            [*script, "validate", "policies/amazon"],
            ["validate", "policies/amazon"],
        ),
        "sellerpolicy test policies/amazon": (
            [*script, "test", "policies/amazon"],
            ["test", "policies/amazon"],
        ),
    }
    print(f"{runs} runs each, wall time of a fresh process")
    print(f"{'command':40} {'median':>9} {'best':>9} {'over pass':>10}  heavy imports")
    base = None
    for name, (command, args) in commands.items():
        times = _time(command, runs)
        median = statistics.median(times)
        base = median if base is None else base
        heavy = _imported(args) if args is not None else ""
        print(
            f"{name:40} {median * 1000:7.0f}ms {min(times) * 1000:7.0f}ms "
            f"{(median - base) * 1000:+8.0f}ms  {heavy}"
        )


if __name__ == "__main__":
    main()
