"""The complete ``sellerpolicy`` application, every command registered.

For Python callers and tests (``typer.testing.CliRunner().invoke(app, ...)``).
The console script runs :func:`sellerpolicy.engine.cli.root.main`, which
imports only the command it is asked for.
"""

from __future__ import annotations

from sellerpolicy.engine.cli.root import (
    EXIT_ABORTED,
    EXIT_FINDINGS,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    app,
    main,
    register_commands,
)

register_commands()

__all__ = [
    "EXIT_ABORTED",
    "EXIT_FINDINGS",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "app",
    "main",
]
