"""CLI: the ``sellerpolicy`` command line (Typer + Rich).

``app`` holds the Typer application and the exit codes; each other module is
one command. Heavy libraries are imported inside the commands that use them,
so ``--help``, ``validate`` and ``test`` start fast.

May import: every other part of the engine.
"""
