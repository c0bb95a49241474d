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

import os
import sys
from collections.abc import Sequence
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer._click.core import Command as ClickCommand
from typer._click.core import Context, Parameter
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer._click.types import ParamType

from sellerpolicy.engine.errors import StrictRejectsError
from sellerpolicy.rules.diagnostics import PackError, PackNotFoundError, SellerPolicyError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_ABORTED = 130  # Ctrl-C, as shells report SIGINT
#: Set by the shell completion scripts of ``sellerpolicy completion``.
COMPLETE_VAR = "_SELLERPOLICY_COMPLETE"

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
    """Rich's console on stderr, made on first use (importing Rich costs ~20 ms).

    Text is never wrapped by Rich (``soft_wrap``): a path or an error message stays
    on one line whatever the width, so scripts can read it.
    """
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


@cache
def out_console() -> Console:
    """Rich's console on stdout, made on first use; text never wrapped, as on stderr."""
    from rich.console import Console

    return Console(soft_wrap=True)


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
    if (not args or "--help" in args) and not sys.stdout.isatty():
        _boxless_help()
    if COMPLETE_VAR in os.environ:  # a shell asks for completions (`sellerpolicy completion`)
        from typer._completion_classes import completion_init

        completion_init()
    try:
        register_commands(args)
        command = word_metavars(typer.main.get_command(app))
        code = command.main(args=args, prog_name="sellerpolicy", standalone_mode=False)
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
    "completion": "completion",
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


#: Metavars of options and arguments, by parameter name (else by type: see
#: :func:`word_metavars`): help reads ``--as-of DATE``, not ``--as-of <str>``.
METAVARS: dict[str, str] = {
    "as_of": "DATE",
    "since": "DATE",
    "until": "DATE",
    "start": "DATE",
    "end": "DATE",
    "pack": "PACK",
    "packs": "PACK",
    "baseline": "PACK",
    "candidate": "PACK",
    "source": "SOURCE",
    "out": "FILE",
    "facts": "FILE",
    "mapping": "FILE",
    "store": "STORE",
    "exemptions": "FOLDER",
    "cluster": "ADDRESS",
    "memory_limit": "SIZE",
    "seller": "SELLER",
    "seller_id": "SELLER",
    "sellers": "SELLER",
    "paths": "PATH",
}


def word_metavars(command: ClickCommand) -> ClickCommand:
    """Give every option and argument under ``command`` a metavar that reads as a word.

    Typer's own metavars are type names (``<str>``, ``<path>``, ``<int range>``);
    choices keep theirs (``<auto|python>``) and flags have none. A parameter
    whole number gets ``N``, a fractional one ``NUMBER``, a parameter named
    in :data:`METAVARS` that word, anything else its name in capitals
    (``--log-level LOG_LEVEL``). Returns ``command``.
    """
    from typer._click import types

    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        if hasattr(param.type, "choices") or isinstance(param.type, types.BoolParamType):
            continue
        name = param.name or ""
        if isinstance(param.type, types.IntParamType):
            param.metavar = "N"
        elif isinstance(param.type, types.FloatParamType):
            param.metavar = "NUMBER"
        elif name in METAVARS:
            param.metavar = METAVARS[name]
        elif isinstance(param.type, types.DateTime):
            param.metavar = "DATE"
        else:
            param.metavar = name.upper()
        if param.param_type_name == "argument":
            param.type = _Untyped(param.type)  # Rich adds <type> beside an argument's name
    for sub in getattr(command, "commands", {}).values():
        word_metavars(sub)
    return command


class _Untyped(ParamType):
    """An argument's own type, shown by its metavar alone (``PATH``, not ``PATH <path>``)."""

    def __init__(self, inner: ParamType) -> None:
        self.inner = inner
        self.name = inner.name

    def convert(self, value: Any, param: Parameter | None, ctx: Context | None) -> Any:
        """Convert as the wrapped type does."""
        return self.inner.convert(value, param, ctx)

    def get_metavar(self, param: Parameter, ctx: Context) -> str | None:
        """No type beside the metavar."""
        return ""

    def shell_complete(self, ctx: Context, param: Parameter, incomplete: str) -> list[Any]:
        """Complete as the wrapped type does (files for paths)."""
        return self.inner.shell_complete(ctx, param, incomplete)


def _boxless_help() -> None:
    """Help read by a program or written to a file: Rich's panels without their box.

    Typer draws help panels with box-drawing characters; when stdout is not a
    terminal they only get in the way (``grep``, pagers, pasted into tickets).
    The panels keep their titles and layout, with spaces for borders.
    """
    from functools import partial

    from rich import box
    from rich.panel import Panel
    from typer import rich_utils

    # Typer draws every help panel through its module's name ``Panel``.
    setattr(rich_utils, "Panel", partial(Panel, box=box.SIMPLE))  # noqa: B010
