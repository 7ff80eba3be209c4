"""Delimited text: record boundaries, header sniffing and range parsing (pure functions).

A record ends at a newline outside double quotes (RFC 4180 quote parity), so a
quoted field may hold newlines. Ranges are cut only at record ends, and each
record keeps the 1-based line on which it starts, as an editor shows it.
Parsing uses pyarrow's CSV reader for the whole range; when it fails (a ragged
row, bad quoting, bytes that are not UTF-8) the range is parsed record by
record and only the bad records become dead letters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

QUOTE = ord('"')
NEWLINE = ord("\n")
CARRIAGE_RETURN = ord("\r")
DELIMITERS = (",", ";", "\t", "|")
UTF8_BOM = b"\xef\xbb\xbf"
RAW_CAP = 4096
# Python's csv module refuses fields over 128 KiB by raising, where pyarrow's reader has no limit: the
# record-by-record path would then disagree with the fast one (or crash). Records are bounded by
# --max-record-bytes instead, so the module's own limit is lifted once, here.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class Records:
    """Record boundaries inside one buffer: [starts[i], ends[i]) and the line each starts on."""

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    quoted_newlines: bool


def find_records(data: bytes, first_line: int, plain_lines: bool = False) -> Records:
    """Splits a buffer that begins at a record start into non-empty records. ``plain_lines``: the
    planner already found no newline inside quotes here, so every newline ends a record."""
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == NEWLINE)
    terminators = newlines if plain_lines else newlines[_even_quotes_before(arr, newlines)]
    starts = np.concatenate([[0], terminators + 1]).astype(np.int64)
    ends = np.concatenate([terminators + 1, [len(data)]]).astype(np.int64)
    # A record is empty when nothing but its line ending ("\n" or "\r\n") is left.
    content = ends - starts
    if len(data):
        content -= (content > 0) & (arr[np.maximum(ends - 1, 0)] == NEWLINE)
        content -= (content > 0) & (arr[np.maximum(starts + content - 1, 0)] == CARRIAGE_RETURN)
    keep = content > 0
    lines = first_line + np.searchsorted(newlines, starts)
    return Records(starts[keep], ends[keep], lines[keep], terminators.size < newlines.size)


def _even_quotes_before(arr: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Whether an even number of '"' precede each position (RFC 4180 quote parity)."""
    return (np.searchsorted(np.flatnonzero(arr == QUOTE), positions) & 1) == 0


def first_record(data: bytes) -> bytes | None:
    """The first complete non-empty record of a sample, or None if it has none yet."""
    records = find_records(data, 1)
    for start, end in zip(records.starts, records.ends, strict=True):
        if end < len(data) or data.endswith(b"\n"):
            return data[start:end]
    return None


def sniff_delimiter(header: str) -> str:
    """The candidate delimiter that splits the header into the most columns."""
    counts = {d: len(next(csv.reader([header], delimiter=d))) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 1 else ","


def parse_header(record: bytes, delimiter: str) -> list[str]:
    text = record.removeprefix(UTF8_BOM).decode("utf-8", errors="replace").rstrip("\r\n")
    return [column.strip() for column in next(csv.reader([text], delimiter=delimiter))]


@dataclass
class ParsedRange:
    """Rows that parsed (raw strings per field, plus ``_line``), dead letters, counts."""

    table: pa.Table
    dead: list[tuple[int, str, str]] = field(default_factory=list)
    read: int = 0
    headers: int = 0


def parse_range(
    data: bytes,
    first_line: int,
    delimiter: str,
    n_columns: int,
    wanted: dict[str, int],
    has_header: bool,
    plain_lines: bool = False,
) -> ParsedRange:
    """Parses one range; ``wanted`` maps output field names to column positions."""
    records = find_records(data, first_line, plain_lines)
    read = len(records.starts)
    headers = 1 if has_header and read else 0
    starts, ends, lines = records.starts[headers:], records.ends[headers:], records.lines[headers:]
    body = data[int(starts[0]) :] if len(starts) else b""
    table = _parse_fast(body, delimiter, n_columns, wanted, records.quoted_newlines, len(starts))
    if table is not None:
        return ParsedRange(table.append_column("_line", pa.array(lines, pa.int64())), read=read, headers=headers)
    return _parse_slow(data, starts, ends, lines, delimiter, n_columns, wanted, read, headers)


def _parse_fast(
    body: bytes, delimiter: str, n_columns: int, wanted: dict[str, int], quoted_newlines: bool, expected: int
) -> pa.Table | None:
    names = [f"c{i}" for i in range(n_columns)]
    if not body:
        return _empty_table(wanted)
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            # Without quoted newlines pyarrow may split the range into blocks and parse them on all cores.
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24 if quoted_newlines else 1 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=quoted_newlines),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                include_columns=[names[i] for i in wanted.values()],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows != expected:
        return None
    return pa.table({name: table.column(f"c{i}") for name, i in wanted.items()})


def _empty_table(wanted: dict[str, int]) -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in wanted})


def _parse_slow(
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    lines: np.ndarray,
    delimiter: str,
    n_columns: int,
    wanted: dict[str, int],
    read: int,
    headers: int,
) -> ParsedRange:
    good_lines: list[int] = []
    columns: dict[str, list[str]] = {name: [] for name in wanted}
    dead: list[tuple[int, str, str]] = []
    for start, end, line in zip(starts.tolist(), ends.tolist(), lines.tolist(), strict=True):
        raw = data[start:end]
        row, reason = _parse_record(raw, delimiter, n_columns)
        if row is None:
            dead.append((line, reason, raw.decode("utf-8", errors="replace").rstrip("\r\n")[:RAW_CAP]))
            continue
        good_lines.append(line)
        for name, i in wanted.items():
            columns[name].append(row[i])
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    table = table.append_column("_line", pa.array(good_lines, pa.int64()))
    return ParsedRange(table, dead, read, headers)


def _parse_record(raw: bytes, delimiter: str, n_columns: int) -> tuple[list[str] | None, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"bytes are not valid UTF-8 at offset {err.start}"
    if text.count('"') % 2:
        return None, "unbalanced quote"
    rows = list(csv.reader(io.StringIO(text.rstrip("\r\n"), newline=""), delimiter=delimiter))
    if len(rows) != 1:
        return None, "bare carriage return inside a record"
    if len(rows[0]) != n_columns:
        return None, f"ragged row: {len(rows[0])} fields, expected {n_columns}"
    return rows[0], ""


@dataclass(frozen=True)
class Oversized:
    """A record longer than the cap, skipped without ever being held whole: the line it starts on, its
    [start, end) offsets in the stream and its first bytes, for the dead letter."""

    line: int
    start: int
    end: int
    head: bytes


def oversized_range(record: Oversized, cap: int, wanted: dict[str, int]) -> ParsedRange:
    """An oversized record as what a parser returns: no rows, one dead letter."""
    reason = f"record of {record.end - record.start} bytes is longer than {cap} (--max-record-bytes): not parsed"
    raw = record.head.decode("utf-8", errors="replace").rstrip("\r\n")[:RAW_CAP]
    table = _empty_table(wanted).append_column("_line", pa.array([], pa.int64()))
    return ParsedRange(table, [(record.line, reason, raw)], read=1)


_NONE = np.zeros(0, np.int64)
# Bytes of an oversized record kept for its dead letter: enough for RAW_CAP characters of UTF-8.
HEAD_BYTES = RAW_CAP * 4


class _RecordEnds:
    """Record-ending newlines of a stream fed block by block: each byte is scanned once, the quote parity
    carried from block to block. Without ``quoted`` every newline ends a record."""

    def __init__(self, quoted: bool, cap: int | None) -> None:
        self._quoted = quoted
        self._cap = cap
        self._odd = False

    def restart(self) -> None:
        """The next block starts at a record start (outside quotes)."""
        self._odd = False

    def scan(self, block: bytes) -> tuple[np.ndarray, np.ndarray]:
        """(offsets of newlines that end a record, offsets of newlines inside quotes) in ``block``. Without
        quotes, only the newlines a caller needs, found with ``bytes.find`` instead of a scan: the first, the
        last, and with a cap enough in between that two of them are more than the cap apart only where a
        record longer than the cap lies between."""
        if self._quoted:
            arr = np.frombuffer(block, dtype=np.uint8)
            newlines = np.flatnonzero(arr == NEWLINE)
            quotes = np.flatnonzero(arr == QUOTE)
            even = ((np.searchsorted(quotes, newlines) + self._odd) & 1) == 0
            self._odd = bool((quotes.size + self._odd) & 1)
            return newlines[even], newlines[~even]
        position, last = block.find(b"\n"), block.rfind(b"\n")
        if position < 0:
            return _NONE, _NONE
        found = [position]
        while position < last:
            after = block.rfind(b"\n", position + 1, position + 1 + self._cap) if self._cap else last
            position = after if after > position else block.find(b"\n", position + 1)
            found.append(position)
        return np.array(found, np.int64), _NONE


def _long_record(last_end: int, ends: np.ndarray, size: int, cap: int) -> tuple[int, int | None] | None:
    """The first record longer than ``cap`` in a buffer of ``size`` bytes whose records start at
    ``last_end`` and end just after ``ends``: (start, end), end None while the record is still open."""
    starts = np.concatenate([[last_end], ends + 1])
    long = np.flatnonzero(np.diff(starts) > cap)
    if long.size:
        return int(starts[long[0]]), int(starts[long[0] + 1])
    return (int(starts[-1]), None) if size - int(starts[-1]) > cap else None


def iter_chunks(
    blocks: Iterator[bytes], target_bytes: int, quoted: bool, max_record: int | None = None
) -> Iterator[tuple[bytes, int, bool] | Oversized]:
    """Regroups a byte stream into (chunk, first_line, plain_lines) pieces of about ``target_bytes``
    that end at record ends: newlines outside double quotes when ``quoted`` (CSV), any newline
    otherwise. ``plain_lines`` says no newline of the chunk is inside quotes (parsers may skip the scan).
    A record longer than ``max_record`` bytes (its newline included) is given as ``Oversized`` instead,
    skipped as it streams by: memory stays within ``target_bytes + max_record`` plus a block."""
    source = iter(blocks)
    pushed: list[bytes] = []
    ends_of = _RecordEnds(quoted, max_record)
    buffer, line, offset = b"", 1, 0
    last_end, inner_before, inner_after = 0, False, False  # newlines inside quotes before / after last_end
    while (block := pushed.pop() if pushed else next(source, None)) is not None:
        base = len(buffer)
        buffer += block
        ends, inner = ends_of.scan(block)
        long = None if max_record is None else _long_record(last_end, base + ends, len(buffer), max_record)
        if long is not None:
            start, stop = long
            if start:
                yield buffer[:start], line, not quoted  # rare: no need to know whether quotes hold newlines
                line += buffer.count(b"\n", 0, start)
            if stop is None:
                size, newlines, head, rest = _skip_record(buffer[start:], source, ends_of)
            else:
                head = buffer[start : min(stop, start + HEAD_BYTES)]
                size, newlines, rest = stop - start, buffer.count(b"\n", start, stop), buffer[stop:]
            yield Oversized(line, offset + start, offset + start + size, head)
            line += newlines
            offset += start + size
            buffer, last_end, inner_before, inner_after = b"", 0, False, False
            ends_of.restart()
            if rest:
                pushed.append(rest)
            continue
        if ends.size:
            last = int(ends[-1])
            inner_before = inner_before or inner_after or bool(inner.size and inner[0] < last)
            inner_after = bool(inner.size and inner[-1] > last)
            last_end = base + last + 1
        else:
            inner_after = inner_after or bool(inner.size)
        if len(buffer) >= target_bytes and last_end:
            yield buffer[:last_end], line, not inner_before
            line += buffer.count(b"\n", 0, last_end)
            offset += last_end
            buffer, last_end, inner_before = buffer[last_end:], 0, False
    if buffer:
        yield buffer, line, not quoted


def _skip_record(record: bytes, source: Iterator[bytes], ends_of: _RecordEnds) -> tuple[int, int, bytes, bytes]:
    """Reads on to the end of a record that began with ``record``, keeping only its first bytes: (its size,
    the newlines in it, its first HEAD_BYTES, the bytes after it in the block where it ends)."""
    size, newlines, head = len(record), record.count(b"\n"), record[:HEAD_BYTES]
    for block in source:
        ends, _ = ends_of.scan(block)
        stop = int(ends[0]) + 1 if ends.size else len(block)
        head += block[: min(stop, HEAD_BYTES - len(head))]
        size += stop
        newlines += block.count(b"\n", 0, stop)
        if ends.size:
            return size, newlines, head, block[stop:]
    return size, newlines, head, b""


def plan_ranges(
    blocks: Iterator[bytes], target_bytes: int, quoted: bool = True, max_record: int | None = None
) -> Iterator[tuple[int, int, int, bool] | Oversized]:
    """Cuts a stream into (start, end, first_line, plain_lines) ranges of about ``target_bytes`` at record
    ends; records longer than ``max_record`` come as ``Oversized`` (with their offsets)."""
    start = 0
    for item in iter_chunks(blocks, target_bytes, quoted, max_record):
        if isinstance(item, Oversized):
            yield item
            start = item.end
            continue
        chunk, line, plain = item
        yield start, start + len(chunk), line, plain
        start += len(chunk)
