"""``sellerpolicy completion bash|zsh|fish``: print the shell completion script.

The app is built with ``add_completion=False`` (Typer's ``--install-completion``
costs start-up time on every run); this command prints the same script
Typer would install, for the user to source or save where the shell looks.
Completion itself runs the program with ``_SELLERPOLICY_COMPLETE`` set.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from sellerpolicy.engine.cli.root import COMPLETE_VAR, app

EPILOG = """\
Examples:

  # this shell only
  eval "$(sellerpolicy completion bash)"

  # every new shell (bash, zsh, fish)
  sellerpolicy completion bash > ~/.local/share/bash-completion/completions/sellerpolicy
  sellerpolicy completion zsh > "${fpath[1]}/_sellerpolicy"
  sellerpolicy completion fish > ~/.config/fish/completions/sellerpolicy.fish
"""


class Shell(StrEnum):
    """The shells a completion script is printed for."""

    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"


@app.command("completion", epilog=EPILOG)
def completion_command(
    shell: Annotated[Shell, typer.Argument(help="The shell: bash, zsh or fish.")],
) -> None:
    """Print the shell completion script of sellerpolicy (commands, options, files)."""
    from typer._completion_shared import get_completion_script

    script = get_completion_script(
        prog_name="sellerpolicy", complete_var=COMPLETE_VAR, shell=shell.value
    )
    typer.echo(script.rstrip("\n"))
