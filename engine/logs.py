"""Structured logs: one JSON line (or one console line) per run and per batch.

Logs go to stderr, never to stdout (stdout carries command output). On a
terminal they are rendered by structlog's ``ConsoleRenderer``; otherwise, or
with ``--log-format json``, each event is one JSON object per line with an
ISO timestamp and a level. Events are emitted per run and per batch, never
per seller: a million-seller run logs a few hundred lines, not millions.

Logging is never the error channel: errors are exceptions that the CLI turns
into a message and an exit code. ``SELLERPOLICY_LOG_LEVEL`` (``debug``,
``info``, ``warning``, ``error``) sets the level when no level is given.

structlog is imported on first use, so that commands which never log (``--help``,
``validate``) do not pay for it.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import structlog

__all__ = ["LogFormat", "configure_logging", "get_logger"]


class LogFormat(StrEnum):
    """How log events are rendered (``--log-format``)."""

    AUTO = "auto"  # console on a terminal, JSON otherwise
    CONSOLE = "console"
    JSON = "json"


class _StderrLoggerFactory:
    """Build loggers that write to the *current* ``sys.stderr``.

    Resolving the stream at call time (not at configuration time) keeps logs
    going to the right place when a test runner or Typer swaps ``sys.stderr``.
    """

    def __call__(self, *args: Any) -> structlog.PrintLogger:
        import structlog  # noqa: PLC0415 - see the module docstring

        return structlog.PrintLogger(file=sys.stderr)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


LEVEL_VARIABLE = "SELLERPOLICY_LOG_LEVEL"


def level_from_environment() -> int:
    """The level ``SELLERPOLICY_LOG_LEVEL`` names (``info`` when unset or unknown)."""
    name = os.environ.get(LEVEL_VARIABLE, "").strip().upper()
    level = logging.getLevelNamesMapping().get(name)
    return level if level is not None else logging.INFO


def configure_logging(fmt: LogFormat = LogFormat.AUTO, *, level: int | None = None) -> None:
    """Configure structlog for the process: renderer chosen by ``fmt``, events to stderr."""
    import structlog  # noqa: PLC0415 - see the module docstring

    if level is None:
        level = level_from_environment()
    use_json = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not _is_terminal(sys.stderr))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=_is_terminal(sys.stderr))
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_StderrLoggerFactory(),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> structlog.typing.FilteringBoundLogger:
    """A logger bound to ``context`` (for example ``run_id`` and ``pack``).

    When nothing configured structlog yet (a library caller), it is configured
    with :func:`configure_logging` defaults first, so that events go to stderr,
    never to the caller's stdout.
    """
    import structlog  # noqa: PLC0415 - see the module docstring

    if not structlog.is_configured():
        configure_logging()
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger().bind(**context)
    return logger
