"""YAML 1.1 / 1.2 traps: plain scalars the two dialects read differently, and controls.

Each trap is written as a mapping value (``key: TEXT``) or as a mapping key
(``TEXT: 1``). ``yaml11`` is what PyYAML's ``safe_load`` (YAML 1.1) reads;
``reads`` is what sellerpolicy reads: YAML 1.2's value (what editors read),
or :class:`Refused` with the diagnostic code when the text is refused.
``tests/rules/test_yaml_dialect.py`` checks sellerpolicy against the table;
``tests/editor/test_yaml_language_server.py`` checks that the editor's own
YAML library reads every accepted trap the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True, slots=True)
class Refused:
    """The text is refused with this diagnostic code, located at the scalar."""

    code: str


@dataclass(frozen=True, slots=True)
class Trap:
    """One plain scalar, where it is written, and how each dialect reads it."""

    text: str
    yaml11: object
    reads: object
    key: bool = False

    @property
    def document(self) -> str:
        """The one-line YAML document holding the trap."""
        return f"{self.text}: 1\n" if self.key else f"value: {self.text}\n"

    @property
    def differs(self) -> bool:
        """Whether YAML 1.1 reads something other than sellerpolicy does (a real trap)."""
        if isinstance(self.reads, Refused):
            return True
        return type(self.yaml11) is not type(self.reads) or self.yaml11 != self.reads


TRAPS: tuple[Trap, ...] = (
    # sexagesimal (base 60) numbers: YAML 1.1 only
    Trap("1:40", 100, "1:40"),
    Trap("-1:40", -100, "-1:40"),
    Trap("1:30.5", 90.5, "1:30.5"),
    # YAML 1.1's booleans are text in YAML 1.2, as values and as keys
    Trap("on", True, "on"),
    Trap("off", False, "off"),
    Trap("yes", True, "yes"),
    Trap("no", False, "no"),
    Trap("On", True, "On"),
    Trap("NO", False, "NO"),
    Trap("on", True, "on", key=True),
    Trap("off", False, "off", key=True),
    Trap("yes", True, "yes", key=True),
    Trap("no", False, "no", key=True),
    # y and n: booleans in the YAML 1.1 spec, text to PyYAML and to YAML 1.2
    Trap("y", "y", "y"),
    Trap("n", "n", "n"),
    Trap("y", "y", "y", key=True),
    Trap("n", "n", "n", key=True),
    # exponents without a dot or a sign: text to PyYAML, numbers to YAML 1.2
    Trap("1e-2", "1e-2", 0.01),
    Trap("1E3", "1E3", 1000.0),
    Trap("1.5e3", "1.5e3", 1500.0),
    Trap("1.0e+3", 1000.0, 1000.0),
    # octal: 0o in YAML 1.2, a leading 0 in YAML 1.1
    Trap("0o10", "0o10", 8),
    Trap("010", 8, Refused("yaml_dialect")),
    Trap("-010", -8, Refused("yaml_dialect")),
    Trap("08", "08", 8),
    Trap("00", 0, 0),
    # digit separators and binary: YAML 1.1 only
    Trap("1_000", 1000, "1_000"),
    Trap("1_000.5", 1000.5, "1_000.5"),
    Trap("0b101", 5, "0b101"),
    # hexadecimal: both, but a sign only in YAML 1.1
    Trap("0x1F", 31, 31),
    Trap("-0x1F", -31, "-0x1F"),
    # infinities and NaN: numbers in both, refused here (no JSON form, no meaning)
    Trap(".inf", math.inf, Refused("non_finite_number")),
    Trap("-.Inf", -math.inf, Refused("non_finite_number")),
    Trap(".NaN", math.nan, Refused("non_finite_number")),
    # null: ~, null, Null, NULL and nothing, in both; as a key refused
    Trap("~", None, None),
    Trap("null", None, None),
    Trap("NULL", None, None),
    Trap("nULL", "nULL", "nULL"),
    Trap("~", None, Refused("yaml_key_type"), key=True),
    # booleans both dialects agree on; as a key refused
    Trap("true", True, True),
    Trap("False", False, False),
    Trap("tRUE", "tRUE", "tRUE"),
    Trap("true", True, Refused("yaml_key_type"), key=True),
    # numbers both dialects agree on
    Trap("+1", 1, 1),
    Trap("0", 0, 0),
    Trap(".5", 0.5, 0.5),
    Trap("1.", 1.0, 1.0),
    Trap("-2.50", -2.5, -2.5),
    Trap("1", 1, Refused("yaml_key_type"), key=True),
    # timestamps: YAML 1.1 only; text in YAML 1.2 (the schema decides what a date is)
    Trap("2026-01-01", date(2026, 1, 1), "2026-01-01"),
    Trap("2026-01-01T10:00:00Z", datetime(2026, 1, 1, 10, tzinfo=UTC), "2026-01-01T10:00:00Z"),
    Trap("2026-1-1", "2026-1-1", "2026-1-1"),
)
