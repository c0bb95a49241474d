"""sellerpolicy: marketplace seller-performance policies as runnable rule packs.

The import name maps the project's top-level folders: ``sellerpolicy.rules``
is ``rules/`` (the pack language), ``sellerpolicy.engine`` is ``engine/`` (the
runtime), and the shipped packs and JSON Schemas travel inside the package.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sellerpolicy")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
