"""Without durable-rules (Python 3.13, where it cannot load) only the durable back end stops.

The import failure is simulated (``sys.modules["durable_rules_engine"] = None``
makes the import raise, as a missing or unloadable module does); the real
Pythons are checked by ``scripts/check_pythons``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from runkit import ROOT

WITHOUT_DURABLE = (
    "import sys; sys.modules['durable_rules_engine'] = None; "
    "from sellerpolicy.engine.cli.root import main; main()"
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_DURABLE, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_durable_backend_says_why_in_one_line() -> None:
    result = _run("test", "policies/amazon", "--backend", "durable")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "durable back end needs durable-rules 2.0.28, which cannot be loaded" in lines[0]
    assert "--backend auto, vector or python" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["auto", "python", "vector"])
def test_other_backends_never_need_durable(backend: str) -> None:
    result = _run("test", "policies/amazon", "--backend", backend)
    assert result.returncode == 0, result.stderr
    assert " 0 failed" in result.stdout


def test_validate_never_needs_durable() -> None:
    result = _run("validate", "policies/")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_module_imports_and_the_backend_refuses() -> None:
    code = (
        "import sys; sys.modules['durable_rules_engine'] = None\n"
        "from sellerpolicy.engine.evaluation.backends import durable\n"
        "from sellerpolicy.engine.batch.backends import select_backend\n"
        "from sellerpolicy.engine.evaluation.backends.protocol import BackendName\n"
        "assert not durable.durable_available()\n"
        "assert select_backend(BackendName.AUTO).name == 'vector'\n"
        "try:\n"
        "    select_backend(BackendName.DURABLE)\n"
        "except durable.DurableUnavailableError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "cannot be loaded on Python" in result.stdout
