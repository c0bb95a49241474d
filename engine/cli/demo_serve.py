"""``sellerpolicy demo --serve``: a dozen weeks of decisions, then the workbench on them.

:func:`build_history` generates the demo marketplace over enough days for
its earliest date to have the usual 120 days behind it, and evaluates it
with the Amazon and Walmart packs on ``weeks`` weekly dates ending on the
demo's ``as_of``, oldest first, through the batch run of ``sellerpolicy
evaluate`` into one SQLite store: every run reads the decisions of the runs
before it, so repeat offenders climb their escalation ladders as they would
in production. :func:`serve_demo` then makes an admin, an editor and a
reader key, starts the service on the store (which imports and activates
the shipped packs, as on any first start) and prints the URL and the keys
once it listens. A folder that already holds the store is served as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from .demo import AS_OF, DAYS, SEED

__all__ = ["HISTORY_PACKS", "STORE_NAME", "build_history", "serve_demo", "weekly_dates"]

#: The packs the history is evaluated with (names of shipped packs).
HISTORY_PACKS = ("amazon", "walmart")
#: The store's file name in the demo folder.
STORE_NAME = "workbench.db"


def weekly_dates(end: date, weeks: int) -> list[date]:
    """``weeks`` dates a week apart, the last one ``end``, oldest first."""
    return [end - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]


def build_history(
    folder: Path,
    *,
    sellers: int,
    weeks: int,
    packs: tuple[str, ...] = HISTORY_PACKS,
    on_run: Callable[[str, date, int, int], None] | None = None,
) -> str:
    """Generate the marketplace into ``folder/source`` and evaluate it week after week.

    Each pack is evaluated on each of the :func:`weekly_dates` ending on the
    demo's ``as_of``, dates in order, into the SQLite store
    ``folder/workbench.db`` (each run's decisions also in ``folder/runs/``).
    ``on_run(pack, as_of, done, total)`` is called before each run. Returns
    the store's URL.
    """
    from sellerpolicy.engine.batch.run import run_evaluation
    from sellerpolicy.engine.generate.marketplace import generate
    from sellerpolicy.rules import load_pack

    dates = weekly_dates(AS_OF, weeks)
    source, runs = folder / "source", folder / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    generate(sellers=sellers, days=DAYS + 7 * (weeks - 1), seed=SEED, as_of=AS_OF, out=source)
    store_url = f"sqlite:///{folder / STORE_NAME}"
    compiled = {name: load_pack(name) for name in packs}
    total, done = len(dates) * len(packs), 0
    for day in dates:
        for name, pack in compiled.items():
            if on_run is not None:
                on_run(name, day, done, total)
            run_evaluation(
                pack,
                source=source,
                as_of=day,
                out=runs / f"{name}-{day.isoformat()}.jsonl",
                store_url=store_url,
            )
            done += 1
    return store_url


def _make_keys(store_url: str) -> dict[str, str]:
    """A new admin, editor and reader key on the store, by role label."""
    from sellerpolicy.engine.store.decisions import DecisionStore
    from sellerpolicy.engine.store.keys import KeyStore, Role

    with DecisionStore(store_url) as store:
        keys = KeyStore(store.engine, store.where)
        return {
            role.label: keys.create(role, actor="demo")[1]
            for role in (Role.ADMIN, Role.EDITOR, Role.READER)
        }


def _announce(console: Console, url: str, keys: dict[str, str], folder: Path) -> None:
    console.rule("the workbench")
    console.print(
        f"Workbench: {url}/  (API under {url}/v1, docs at {url}/docs)",
        highlight=False,
        soft_wrap=True,
    )
    for role, key in keys.items():
        console.print(f"{role + ' key:':12} {key}", highlight=False, soft_wrap=True)
    console.print(
        "Sign in with a key. The editor uploads a draft, the admin reviews, approves and "
        "activates it (an approval must come from another person than the uploader).",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"Files are in {folder}. Stop with Ctrl+C.", highlight=False, soft_wrap=True)


def serve_demo(
    console: Console, folder: Path, *, sellers: int, weeks: int, host: str, port: int
) -> None:
    """Build the history (unless ``folder`` has it), make keys, serve until interrupted."""
    import uvicorn

    from sellerpolicy.engine.service.app import Settings, create_app

    store = folder / STORE_NAME
    if store.exists():
        console.print(f"Serving the store already in {store}", highlight=False, soft_wrap=True)
        store_url = f"sqlite:///{store}"
    else:
        with console.status("generating the marketplace") as status:

            def progress(pack: str, day: date, done: int, total: int) -> None:
                status.update(f"evaluating {pack} as of {day} ({done + 1} of {total})")

            store_url = build_history(folder, sellers=sellers, weeks=weeks, on_run=progress)
        console.print(
            f"Evaluated {sellers:,} sellers with {' and '.join(HISTORY_PACKS)} on {weeks} "
            f"weekly dates up to {AS_OF} into {store}",
            highlight=False,
            soft_wrap=True,
        )
    keys = _make_keys(store_url)
    app = create_app(Settings(store_url=store_url))
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                _announce(console, url, keys, folder)

    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning")
    _Server(config).run()
