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


def iter_chunks(blocks: Iterator[bytes], target_bytes: int, quoted: bool) -> Iterator[tuple[bytes, int, bool]]:
    """Regroups a byte stream into (chunk, first_line, plain_lines) pieces of about ``target_bytes``
    that end at record ends: newlines outside double quotes when ``quoted`` (CSV), any newline
    otherwise. ``plain_lines`` says no newline of the chunk is inside quotes (parsers may skip the scan)."""
    buffer, line = b"", 1
    for block in blocks:
        buffer += block
        if len(buffer) < target_bytes:
            continue
        cut, plain = _last_record_end(buffer, quoted)
        if cut:
            yield buffer[:cut], line, plain
            line += buffer.count(b"\n", 0, cut)
            buffer = buffer[cut:]
    if buffer:
        yield buffer, line, not quoted


def _last_record_end(buffer: bytes, quoted: bool) -> tuple[int, bool]:
    """Offset just past the last record terminator in a buffer that starts at a record start, and
    whether every newline before it ends a record."""
    if not quoted:
        return buffer.rfind(b"\n") + 1, True
    arr = np.frombuffer(buffer, dtype=np.uint8)
    newlines = np.flatnonzero(arr == NEWLINE)
    ends = _even_quotes_before(arr, newlines)
    if not ends.any():
        return 0, False
    last = int(np.flatnonzero(ends)[-1])
    return int(newlines[last]) + 1, bool(ends[: last + 1].all())


def plan_ranges(
    blocks: Iterator[bytes], target_bytes: int, quoted: bool = True
) -> Iterator[tuple[int, int, int, bool]]:
    """Cuts a stream into (start, end, first_line, plain_lines) ranges of about ``target_bytes`` at record ends."""
    start = 0
    for chunk, line, plain in iter_chunks(blocks, target_bytes, quoted):
        yield start, start + len(chunk), line, plain
        start += len(chunk)
