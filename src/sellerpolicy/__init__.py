"""sellerpolicy: marketplace seller-performance policies as runnable rule packs.

The import name maps the project's top-level folders: ``sellerpolicy.rules``
is ``rules/`` (the pack language), ``sellerpolicy.engine`` is ``engine/`` (the
runtime), and the shipped packs and JSON Schemas travel inside the package.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # The version is read from the installed metadata on first use only:
    # importlib.metadata costs ~40 ms, a third of the CLI's start-up.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        found = version("sellerpolicy")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
