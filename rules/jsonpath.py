"""JSON paths as diagnostics print them: ``$.spec.rules[2].when.gte``."""

from __future__ import annotations

import re
from collections.abc import Iterable

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def child_path(path: str, key: str | int) -> str:
    """The path of ``key`` (a mapping key or a list index) under ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def join_path(parts: Iterable[str | int], root: str = "$") -> str:
    """The path of a sequence of keys and indices below ``root``."""
    path = root
    for part in parts:
        path = child_path(path, part)
    return path
