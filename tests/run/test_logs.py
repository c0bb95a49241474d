"""Log configuration: JSON or console lines, always on stderr."""

from __future__ import annotations

import json

import pytest

from sellerpolicy.engine.logs import LogFormat, configure_logging, get_logger


def test_json_format_writes_one_object_per_event_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With the JSON format each event is one JSON line on stderr with level and time."""
    configure_logging(LogFormat.JSON)
    get_logger(run_id="r1").info("run.finished", sellers=3)
    captured = capsys.readouterr()
    assert captured.out == ""
    (event,) = [json.loads(line) for line in captured.err.splitlines()]
    assert event["event"] == "run.finished"
    assert (event["run_id"], event["sellers"], event["level"]) == ("r1", 3, "info")
    assert event["timestamp"].endswith("Z")


def test_console_format_is_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    """The console format prints key=value text, not JSON, on stderr."""
    configure_logging(LogFormat.CONSOLE)
    get_logger(run_id="r2").info("batch.evaluated", sellers=5)
    err = capsys.readouterr().err
    assert "batch.evaluated" in err
    assert "sellers=5" in err
    assert not err.lstrip().startswith("{")


def test_auto_format_is_json_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Auto picks JSON when stderr is not a terminal (as under pytest or in CI)."""
    configure_logging(LogFormat.AUTO)
    get_logger().info("x")
    assert json.loads(capsys.readouterr().err)["event"] == "x"


def test_debug_events_are_filtered_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    """Below the configured level nothing is written."""
    configure_logging(LogFormat.JSON)
    get_logger().debug("noise")
    assert capsys.readouterr().err == ""
