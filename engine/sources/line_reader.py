"""Reading a text file line by line, in large blocks, with a bound on a line's length.

:class:`Lines` reads blocks of :data:`CHUNK` bytes and splits them on a newline
byte; a line longer than its limit is given as ``None`` and skipped without
being kept, so a malformed file can never make a line take unbounded memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["CHUNK", "END", "MAX_LINE_BYTES", "End", "Lines", "physical_lines"]

CHUNK = 1 << 20
MAX_LINE_BYTES = 2_000_000


def physical_lines(raw: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """The lines of ``raw`` from where it stands, without their line feed; ``None``
    for a line longer than ``limit`` bytes, which is skipped without being kept."""
    lines = Lines(raw, b"\n", limit)
    while not isinstance(line := lines.line(), End):
        yield line


class End:
    """The end of the lines."""


END = End()


class Lines:
    """The lines of a file from where it stands, without their line break ``newline``
    (a ``\r\n`` line keeps its ``\r``): a block of whole lines at a time
    (:meth:`block`), or one line at a time (:meth:`line`); ``None`` stands for a
    line longer than ``limit`` bytes, which is skipped without being kept."""

    __slots__ = ("_limit", "_queue", "_raw", "_rest", "newline")

    def __init__(self, raw: BinaryIO, newline: bytes, limit: int = MAX_LINE_BYTES) -> None:
        self._raw = raw
        self.newline = newline
        self._limit = limit
        self._rest = b""
        self._queue: deque[bytes | None] = deque()

    @property
    def queued(self) -> bool:
        """Whether lines of a block read before are still to be read."""
        return bool(self._queue)

    def block(self) -> bytes | End | None:
        """The next block of whole lines, joined by their line break (nothing may be
        queued); ``None`` for one line too long; :data:`END` at the end."""
        skipping = False
        while chunk := self._raw.read(CHUNK):
            data = self._rest + chunk
            if skipping:
                first = data.find(self.newline)
                if first < 0:
                    continue
                self._rest = data[first + 1 :]
                return None
            cut = data.rfind(self.newline)
            if cut >= 0:
                self._rest = data[cut + 1 :]
                return data[:cut]
            self._rest = data
            if len(data) > self._limit:
                self._rest, skipping = b"", True
        rest, self._rest = self._rest, b""
        return None if skipping else rest or END

    def queue(self, block: bytes | None) -> None:
        """Read ``block`` (from :meth:`block`) one line at a time."""
        if block is None:
            self._queue.append(None)
            return
        limit = self._limit
        self._queue.extend(p if len(p) <= limit else None for p in block.split(self.newline))

    def line(self) -> bytes | End | None:
        """The next line: ``None`` for one too long, :data:`END` at the end."""
        if not self._queue:
            block = self.block()
            if isinstance(block, End):
                return block
            self.queue(block)
        return self._queue.popleft()
