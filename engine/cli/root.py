"""The ``sellerpolicy`` command line (Typer + Rich).

Every command is a thin adapter: it parses options, calls the same library
functions the Python API and the HTTP service call, and renders the result.

Exit codes (documented in ``--help`` and the README):

====  ==========================================================
0     success (for ``validate``: no errors; for ``test``: all passed)
1     findings: pack errors, failed pack tests, ``--strict`` rejects
2     unusable input: unreadable source or facts, bad option values
3     internal error (a bug: please report it with the log line)
130   interrupted (Ctrl-C)
====  ==========================================================
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from sellerpolicy.engine.errors import StrictRejectsError
from sellerpolicy.rules.diagnostics import PackError, PackNotFoundError, SellerPolicyError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_ABORTED = 130  # Ctrl-C, as shells report SIGINT

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


@cache
def err_console() -> Console:
    """Rich's console on stderr, made on first use (importing Rich costs ~20 ms)."""
    from rich.console import Console

    return Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from sellerpolicy import __version__

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


def check_out_folder(path: Path, option: str = "--out") -> None:
    """A usage error (exit 2) unless the folder that ``path`` is to be written in exists."""
    folder = path.parent
    if not folder.is_dir():
        raise typer.BadParameter(f"folder {folder} does not exist", param_hint=option)


def _say(message: str) -> None:
    """One line on stderr, never wrapped or marked up."""
    err_console().print(message, markup=False, highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the app, turn every outcome into an exit code.

    Usage errors and unusable input are one ``error:`` line and exit 2;
    anything unexpected is logged with a correlation id and exits 3, its
    traceback logged only at debug level (``SELLERPOLICY_LOG_LEVEL=debug``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        register_commands(args)
        code = app(args=args, prog_name="sellerpolicy", standalone_mode=False)
    except NoArgsIsHelpError:  # Typer has printed the help already
        sys.exit(EXIT_INPUT)
    except UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _say(f"error: {exc.format_message()}{hint}")
        sys.exit(EXIT_INPUT)
    except typer.Abort:
        _say("aborted")
        sys.exit(EXIT_ABORTED)
    except PackNotFoundError as exc:
        diag = exc.diagnostics[0]
        _say(f"error: {diag.message}" + (f"; {diag.hint}" if diag.hint else ""))
        sys.exit(EXIT_INPUT)
    except PackError as exc:
        for diag in exc.diagnostics:
            _say(diag.render())
        sys.exit(EXIT_FINDINGS)
    except StrictRejectsError as exc:
        _say(f"error: {exc}")
        sys.exit(EXIT_FINDINGS)
    except SellerPolicyError as exc:
        _say(f"error: {exc}")
        sys.exit(EXIT_INPUT)
    except ClickException as exc:  # raised by a command: same one-line form
        _say(f"error: {exc.format_message()}")
        sys.exit(exc.exit_code)
    except Exception as exc:
        _internal_error(exc)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _internal_error(exc: Exception) -> NoReturn:
    """Log an unexpected exception under a fresh correlation id and exit 3."""
    import traceback
    import uuid

    from sellerpolicy.engine.logs import get_logger

    correlation_id = uuid.uuid4().hex[:12]
    log = get_logger(correlation_id=correlation_id)
    summary = f"{type(exc).__name__}: {exc}"
    log.error("internal_error", error=summary)
    log.debug("internal_error_traceback", traceback=traceback.format_exc())
    _say(
        f"error: internal error {correlation_id} ({summary}); this is a bug, please report it"
        " with the log line (SELLERPOLICY_LOG_LEVEL=debug adds the traceback)"
    )
    sys.exit(EXIT_INTERNAL)


#: Command name -> its module in this package, in the order of ``--help``
#: (author a pack, compute, decide, serve).
COMMANDS: dict[str, str] = {
    "validate": "validate",
    "test": "test",
    "diff": "diff",
    "impact": "impact",
    "backtest": "backtest",
    "sweep": "sweep",
    "import": "importing",
    "reconcile": "reconcile",
    "generate": "generate",
    "metrics": "metrics",
    "evaluate": "evaluate",
    "decisions": "decisions",
    "explain": "explain",
    "demo": "demo",
    "serve": "serve",
    "keys": "keys",
}


def register_commands(argv: Sequence[str] | None = None) -> None:
    """Import the command modules (each registers itself on :data:`app`).

    Given the arguments of a run, only the module of the command named
    there: ``sellerpolicy validate`` never imports the code of ``evaluate``.
    Anything else (``--help``, no command, a misspelt one) registers them all.
    """
    words = [a for a in (argv or ()) if not a.startswith("-")]
    names = [words[0]] if words and words[0] in COMMANDS else list(COMMANDS)
    for name in names:
        import_module(f"{__package__}.{COMMANDS[name]}")
