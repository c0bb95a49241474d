"""A real browser on a real server: Debian's Chromium driven by Playwright.

The server is ``sellerpolicy serve`` in its own process, on a store that
holds the shipped packs, a generated marketplace's decisions and one key per
person of the journey. Chromium is the system's (``/usr/bin/chromium``,
installed by ``.ci/run``); Playwright never downloads a browser. axe-core
comes from ``tests/browser/node_modules`` (``npm ci`` in ``.ci/run``).
Without Chromium or axe-core the tests skip here and fail in CI.

Every page visited is screenshot at 1280x800 into ``build/screenshots/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from browserkit import AXE, CHROMIUM, Site, missing
from service.servicekit import free_port, serve_process

from sellerpolicy.engine.batch.run import run_evaluation
from sellerpolicy.engine.generate.marketplace import generate
from sellerpolicy.engine.store.decisions import DecisionStore
from sellerpolicy.engine.store.keys import KeyStore, Role
from sellerpolicy.engine.store.packs import PackStore
from sellerpolicy.rules import load_pack

AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server on a store with decisions of 600 generated sellers and the journey's keys."""
    folder = tmp_path_factory.mktemp("workbench")
    source = folder / "source"
    generate(sellers=600, days=120, seed=5, as_of=AS_OF, out=source)
    store_url = str(folder / "workbench.db")
    with DecisionStore(store_url) as store:
        PackStore(store.engine, store.where).import_shipped()
        keys = KeyStore(store.engine, store.where)
        people = {
            "editor": keys.create(Role.EDITOR, actor="test")[1],
            "admin": keys.create(Role.ADMIN, actor="test")[1],
            "reader": keys.create(Role.READER, actor="test")[1],
        }
    run_evaluation(
        load_pack("amazon"), source=source, as_of=AS_OF, out=folder / "d.jsonl",
        store_url=store_url,
    )  # fmt: skip
    port = free_port()
    process = serve_process(store_url, port)
    try:
        yield Site(f"http://127.0.0.1:{port}", people)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium (headless), the system's; closed after the module, because Playwright's
    sync API keeps an event loop running in this thread while it is open."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        missing(f"Chromium ({CHROMIUM})")
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only these tests
    except ImportError:
        missing("Playwright (pip install playwright)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script (the accessibility engine)."""
    if not AXE.exists():
        missing(f"axe-core ({AXE}; run: npm ci --prefix tests/browser)")
    return AXE.read_text(encoding="utf-8")
