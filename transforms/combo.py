"""Combo lists (``email:password`` and kin): one pair per line, email first (pure functions).

A line is split at the first separator after the email (``:``, ``;``, ``|`` or ``,``),
so the password may hold separators and even ``@``: ``user@x:hash:salt`` keeps
``hash:salt`` as the password. Lines are trimmed; there is no header. All lines of
a range are matched at once by pyarrow's regex engine.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms import delimited
from transforms.delimited import ParsedRange
from transforms.fields import map_columns
from transforms.jsonlines import DETECT_SHARE, LINE, Lines, find_lines, raw_text, sample_lines, strings_table

SPLITTABLE = True
COLUMNS = ("email", "password")
NO_PAIR = "no email:password pair"

_NOT_EMAIL = r"\s@:;|,<>\""
_EMAIL = rf"[^{_NOT_EMAIL}]+@[^{_NOT_EMAIL}]+"  # no TLD required (user@x:hash:salt); normalizing judges it
# One regex for pyarrow (RE2) and Python: whitespace after the password is the rest of the line.
PAIR = rf"^(?P<email>{_EMAIL})[ \t]*[:;|,](?P<password>.*?)\s*$"
_PAIR = re.compile(PAIR.encode())


def detect(sample: bytes) -> bool:
    """Most lines are ``<email><separator><rest>`` and the first is not a CSV header naming an email column."""
    lines = sample_lines(sample)
    if not lines or _is_csv_header(lines[0]):
        return False
    return sum(_PAIR.match(line) is not None for line in lines) >= DETECT_SHARE * len(lines)


def _is_csv_header(line: bytes) -> bool:
    if _PAIR.match(line):
        return False
    text = line.decode("utf-8", errors="replace")
    return any(
        "email" in map_columns([name.strip().strip('"') for name in text.split(d)], {}, "")
        for d in delimited.DELIMITERS
    )


def columns(sample: bytes) -> list[str]:
    """Always the pair's two columns: a combo list has no header."""
    return list(COLUMNS)


def parse(data: bytes, first_line: int, columns: list[str], wanted: dict[str, int]) -> ParsedRange:
    """Parses one range of a combo list; ``wanted`` maps output names to positions in ``columns``."""
    lines = find_lines(data, first_line)
    read = len(lines.starts)
    if not read:
        return ParsedRange(strings_table({out: [] for out in wanted}, []))
    text = _line_texts(data, lines)
    pairs = pc.extract_regex(text, PAIR)
    ok = pc.is_valid(pairs).to_numpy(zero_copy_only=False)
    good = pairs.filter(pa.array(ok))
    table = pa.table(
        {out: pc.struct_field(good, columns[i]).cast(pa.string()) for out, i in wanted.items()}
        | {LINE: pa.array(lines.lines[ok], pa.int64())}
    )
    bad = np.flatnonzero(~ok)
    dead = [
        (line, NO_PAIR, raw_text(data[start:end]))
        for start, end, line in zip(
            lines.starts[bad].tolist(), lines.ends[bad].tolist(), lines.lines[bad].tolist(), strict=True
        )
    ]
    return ParsedRange(table, dead, read)


def _line_texts(data: bytes, lines: Lines) -> pa.Array:
    """Each line from its first non-blank byte up to the next line's, without copying the bytes;
    the whitespace carried along is what the pattern's final ``\\s*$`` takes."""
    offsets = np.concatenate([lines.starts, [len(data)]]).astype(np.int64)
    text = pa.LargeStringArray.from_buffers(len(lines.starts), pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:  # not UTF-8 after all: keep each line, with U+FFFD for bad bytes
        spans = zip(lines.starts.tolist(), lines.ends.tolist(), strict=True)
        return pa.array([data[s:e].decode("utf-8", errors="replace") for s, e in spans], pa.large_string())
    return text
