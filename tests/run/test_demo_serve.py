"""``sellerpolicy demo --serve``, run as a user runs it: it builds weeks of history into
a store, prints the URL and the keys once it listens, and its workbench answers with
that history (ladders climbed) to a signed-in key; without --serve it is unchanged."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx

from sellerpolicy.engine.cli.demo_serve import weekly_dates


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_until(process: subprocess.Popen[str], pattern: str, seconds: float) -> str:
    """The process's output up to the first line matching ``pattern``."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def test_weekly_dates_end_on_the_date_oldest_first() -> None:
    assert weekly_dates(date(2026, 11, 1), 3) == [
        date(2026, 10, 18),
        date(2026, 10, 25),
        date(2026, 11, 1),
    ]


def test_demo_serve_prints_the_url_and_keys_and_serves_the_history(tmp_path: Path) -> None:
    port = _free_port()
    exe = str(Path(sys.executable).with_name("sellerpolicy"))
    command = [exe, "demo", "--serve", "--out", str(tmp_path), "--sellers", "80",
               "--weeks", "3", "--port", str(port), "--log-format", "json"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
    )
    try:
        printed = _read_until(process, r"Stop with Ctrl\+C", 240)
        assert "Evaluated 80 sellers with amazon and walmart on 3 weekly dates" in printed
        assert f"Workbench: http://127.0.0.1:{port}/" in printed
        keys = dict(re.findall(r"(admin|editor|reader) key:\s+(spk_\S+)", printed))
        assert set(keys) == {"admin", "editor", "reader"}
        assert (tmp_path / "workbench.db").is_file()
        runs = {p.name for p in (tmp_path / "runs").glob("*.jsonl") if ".rejects" not in p.name}
        assert runs == {f"{pack}-{day}.jsonl" for pack in ("amazon", "walmart")
                        for day in ("2026-10-18", "2026-10-25", "2026-11-01")}  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as client:
            signed = client.post("/signin", data={"key": keys["reader"], "next": "/decisions"})
            assert signed.status_code == 200
            assert "Showing the latest <em>as of</em> day that has decisions, 2026-11-01" in (
                signed.text
            )
            critical = client.get("/decisions", params={"status": "critical"}).text
            sellers = re.findall(r'href="/sellers/([^"]+)"', critical)
            assert sellers, "no critical seller on the last date"
            page = client.get(f"/sellers/{sellers[0]}")
            assert page.status_code == 200
            assert "Timeline" in page.text
            assert re.search(r"\((2nd|3rd) firing in a row\)", page.text)  # ladders climbed
            assert client.get("/packs").status_code == 200  # the shipped packs, imported
            refused = client.post("/signin", data={"key": "spk_00000000_wrong"})
            assert refused.status_code == 401
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            if process.stdout is not None:
                process.stdout.close()
    assert process.returncode is not None


def test_a_second_start_serves_the_store_it_built(tmp_path: Path) -> None:
    """With the store already in --out, the demo serves it as it is (new keys each time)."""
    (tmp_path / "workbench.db").write_bytes(b"")  # an empty SQLite file is a new store
    port = _free_port()
    exe = str(Path(sys.executable).with_name("sellerpolicy"))
    process = subprocess.Popen(
        [exe, "demo", "--serve", "--out", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    try:
        printed = _read_until(process, r"Stop with Ctrl\+C", 120)
        assert f"Serving the store already in {tmp_path / 'workbench.db'}" in printed
        assert not (tmp_path / "source").exists()  # nothing generated
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            if process.stdout is not None:
                process.stdout.close()
