"""Pieces of a byte stream that parse on their own, so no reader holds a whole input.

A format's chunker cuts a stream at places its parser can start from (a CSV record end,
an SQL statement end, a COPY row end) and says what the parser must see around a piece
that it cannot see there: a SQL ``COPY`` header before rows taken from the middle of a
block, the ``\\.`` that ends it after them. The same pieces are parsed one after another
from a stream (compressed input) or planned as byte ranges of a plain file and parsed in
parallel, which is why a chunker's decisions may depend only on what follows a cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple


class Range(NamedTuple):
    """Where a piece is in the stream (or plain file), the line of its first byte (of ``prefix``'s
    first byte, with one), whether every newline in it ends a record (a CSV parser may then skip its
    quote scan), and the text its parser must read before and after it."""

    start: int
    end: int
    first_line: int
    plain: bool = False
    prefix: bytes = b""
    suffix: bytes = b""


@dataclass(frozen=True)
class Piece:
    """``buffer[start:]``, as long as ``at`` says, read as ``at.prefix`` + it + ``at.suffix``."""

    buffer: bytes
    start: int
    at: Range

    @property
    def end(self) -> int:
        return self.start + self.at.end - self.at.start

    def data(self) -> bytes:
        whole = self.start == 0 and self.end == len(self.buffer)
        body = self.buffer if whole else self.buffer[self.start : self.end]
        return self.at.prefix + body + self.at.suffix if self.at.prefix or self.at.suffix else body


class Window:
    """The unread part of a stream held as one buffer: grown by whole blocks, cut from the front.
    ``offset`` and ``line`` say where ``data[0]`` is in the stream."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self.data = b""
        self.offset = 0
        self.line = 1
        self.done = False

    def fill(self, size: int) -> None:
        """Reads blocks until ``data`` holds at least ``size`` bytes or the stream ends."""
        pending, have = [self.data], len(self.data)
        while have < size:
            block = next(self._blocks, None)
            if block is None:
                self.done = True
                break
            pending.append(block)
            have += len(block)
        self.data = b"".join(pending) if len(pending) > 1 else self.data

    def grow(self, target: int) -> None:
        """At least one more block (unless the stream has ended), and twice the buffer for a long
        statement, so re-scanning it after each refill costs O(its size) in all."""
        self.fill(max(len(self.data) * 2, len(self.data) + target))

    def drop(self, pos: int) -> None:
        """Forgets ``data[:pos]``."""
        if pos:
            self.line += self.data.count(b"\n", 0, pos)
            self.offset += pos
            self.data = self.data[pos:]

    def line_of(self, pos: int) -> int:
        return self.line + self.data.count(b"\n", 0, pos)
