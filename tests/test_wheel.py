"""The built wheel works on its own: installed into a fresh virtualenv outside
the repository, it validates and tests the shipped packs."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_wheel_in_fresh_venv_validates_and_tests_shipped_packs(tmp_path: Path) -> None:
    """A wheel built from the tree, installed in a clean venv, runs
    `sellerpolicy validate` and `sellerpolicy test` on its embedded packs."""
    dist = tmp_path / "dist"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    wheels = list(dist.glob("sellerpolicy-*.whl"))
    assert len(wheels) == 1

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    installed = _run([str(py), "-m", "pip", "install", "-q", str(wheels[0])], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr

    work = tmp_path / "elsewhere"
    work.mkdir()
    exe = str(env_dir / "bin" / "sellerpolicy")
    listed = _run(
        [str(py), "-c", "import sellerpolicy.rules as r; print(len(r.shipped_packs()))"], cwd=work
    )
    assert listed.returncode == 0, listed.stderr
    assert int(listed.stdout.strip()) >= 5

    validated = _run([exe, "validate"] + [str(p) for p in _shipped(py, work)], cwd=work)
    assert validated.returncode == 0, validated.stdout + validated.stderr

    tested = _run([exe, "test"], cwd=work)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "passed" in tested.stdout


def _shipped(py: Path, cwd: Path) -> list[str]:
    out = _run(
        [str(py), "-c", "import sellerpolicy.rules as r; print(*r.shipped_packs(), sep='\\n')"],
        cwd=cwd,
    )
    assert out.returncode == 0, out.stderr
    paths = out.stdout.split()
    assert all("site-packages" in p for p in paths), paths
    return paths
