"""The contract every evaluation back end keeps.

A back end decides only which rule conditions are true for each seller. All
else (not-assessed checks, escalation, exemptions, status, explanations) is
shared code in ``engine.evaluate`` so that back ends cannot drift apart.

``engine.evaluate`` calls a back end once per batch, with the pack cut down
to the rules that at least one seller of the batch can be judged on; answers
for rules a given seller cannot be judged on are discarded afterwards. A back
end therefore sees null or absent facts: a leaf on a null fact is false and
must never fail. The cut-down pack keeps the original digest, so a back end
must not cache compiled forms by digest alone. It returns, for each seller in
order, the ids of the rules whose ``when`` condition holds. ``eq`` compares
exactly; percent thresholds were already turned into fractions.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the names of --backend need neither (the CLI offers them at start-up)
    from sellerpolicy.engine.metrics.facts import SellerFacts
    from sellerpolicy.rules.model import CompiledPack


class BackendName(StrEnum):
    """Back ends selectable with ``--backend``."""

    AUTO = "auto"
    PYTHON = "python"
    DURABLE = "durable"
    VECTOR = "vector"


class Backend(Protocol):
    """Evaluate the conditions of a compiled pack on many sellers."""

    name: str

    def match(self, pack: CompiledPack, facts: Sequence[SellerFacts]) -> list[frozenset[str]]:
        """For each seller, in order, the ids of rules whose condition is true."""
        ...
