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

``sellerpolicy serve --log-format json`` routes everything through the standard
library instead (:func:`configure_stdlib_logging` and :func:`service_log_config`):
uvicorn's access and error records, the service's own events and any other
library's warnings become JSON lines on stderr from one handler, each carrying
the ``correlation_id`` that the service's middleware binds for the request
(``structlog.contextvars``).
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import structlog

__all__ = [
    "LogFormat",
    "configure_logging",
    "configure_stdlib_logging",
    "get_logger",
    "service_log_config",
]


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


#: The standard library logger that the service's structlog events go through (JSON mode).
SERVICE_LOGGER = "sellerpolicy"
_ACCESS_LOGGER = "uvicorn.access"
#: uvicorn's access record: '%s - "%s %s HTTP/%s" %d' with these arguments.
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


def configure_stdlib_logging(*, level: int | None = None) -> None:
    """Send structlog's events through the standard library logger ``sellerpolicy``.

    Its handler (set up by :func:`service_log_config`) renders them as JSON
    lines, like uvicorn's records: one handler, so lines written by several
    threads never interleave.
    """
    import structlog  # noqa: PLC0415 - see the module docstring

    if level is None:
        level = level_from_environment()
    service_logger = logging.getLogger(SERVICE_LOGGER)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *_args: service_logger,
        cache_logger_on_first_use=False,
    )


def service_log_config(*, level: int | None = None) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``serve --log-format json`` (uvicorn's ``log_config``).

    One stderr handler whose formatter is :func:`json_formatter`, for
    uvicorn's loggers, the service's (``sellerpolicy``, at ``level``) and the
    root logger (warnings of other libraries). Plain data naming the formatter
    by import path, so that uvicorn can hand it to worker processes.
    """
    if level is None:
        level = level_from_environment()
    stderr = {"handlers": ["stderr"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.json_formatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {**stderr, "level": "INFO"},
            "uvicorn.error": {"level": "INFO"},  # through "uvicorn"
            _ACCESS_LOGGER: {**stderr, "level": "INFO"},
            SERVICE_LOGGER: {**stderr, "level": logging.getLevelName(level)},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def json_formatter() -> logging.Formatter:
    """A formatter rendering any record as one JSON object (structlog's or not).

    Records of other libraries get the level, an ISO UTC timestamp, the
    logger's name and the context variables bound for the request; uvicorn's
    access records become ``http_request`` events with ``client``,
    ``method``, ``path``, ``http_version`` and ``status``; an exception
    becomes an ``exception`` field (the line stays one line).
    """
    import structlog  # noqa: PLC0415 - see the module docstring

    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _access_fields,
        ],
        processors=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        pass_foreign_args=True,
    )


def _access_fields(
    _logger: Any, _method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """uvicorn's access record as fields (its arguments); other records lose their arguments."""
    arguments = event.pop("positional_args", None)
    record = event.get("_record")
    if (
        getattr(record, "name", None) == _ACCESS_LOGGER
        and isinstance(arguments, tuple)
        and len(arguments) == len(_ACCESS_FIELDS)
    ):
        event.update(zip(_ACCESS_FIELDS, arguments, strict=True))
        event["event"] = "http_request"
    return event


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
