"""The ``sellerpolicy`` command line (Typer + Rich).

Every command is a thin adapter: it parses options, calls the same library
functions the Python API and the HTTP service call, and renders the result.

Exit codes (documented in ``--help`` and the README):

====  ==========================================================
0     success (for ``validate``: no errors; for ``test``: all passed)
1     findings: pack errors, failed pack tests, ``--strict`` rejects
2     unusable input: unreadable source or facts, bad option values
3     internal error (a bug: please report it with the log line)
====  ==========================================================
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from sellerpolicy.engine.errors import StrictRejectsError
from sellerpolicy.rules.diagnostics import PackError, SellerPolicyError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3

app = typer.Typer(
    name="sellerpolicy",
    help=(
        "Marketplace seller-performance policies as runnable rule packs.\n\n"
        "Exit codes: 0 ok, 1 findings (pack errors, failed tests, --strict rejects), "
        "2 unusable input, 3 internal error."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from sellerpolicy import __version__  # noqa: PLC0415 - only when asked

        typer.echo(f"sellerpolicy {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Marketplace seller-performance policies as runnable rule packs."""


def main() -> None:
    """Console-script entry point: run the app, turn known errors into exit codes."""
    try:
        app()
    except PackError as exc:
        for diag in exc.diagnostics:
            err_console.print(diag.render(), markup=False, highlight=False)
        sys.exit(EXIT_FINDINGS)
    except StrictRejectsError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_FINDINGS)
    except SellerPolicyError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_INPUT)


# Each command module registers itself on `app` when imported; this order is
# the order of `sellerpolicy --help` (author a pack, compute, decide, serve).
from . import (  # noqa: E402, I001
    validate,  # noqa: F401
    test,  # noqa: F401
    generate,  # noqa: F401
    metrics,  # noqa: F401
    evaluate,  # noqa: F401
    decisions,  # noqa: F401
    explain,  # noqa: F401
    demo,  # noqa: F401
    serve,  # noqa: F401
    keys,  # noqa: F401
)
