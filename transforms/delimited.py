"""Delimited text: record boundaries, header sniffing and range parsing (pure functions).

A record ends at a newline outside double quotes, so a quoted field may hold
newlines, but only up to ``Quoting.max_lines`` lines: a stray opening quote is then
one dead-lettered line, not the rest of the file (``_record_ends``). Ranges are cut
only at record ends, and each record keeps the 1-based line on which it starts, as
an editor shows it.
Parsing uses pyarrow's CSV reader for the whole range; when it fails (a ragged
row, bad quoting, bytes that are not UTF-8) the range is parsed record by
record and only the bad records become dead letters.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from transforms.decode import MAX_QUOTED_LINES
from transforms.pieces import Piece, Range

QUOTE = ord('"')
NEWLINE = ord("\n")
CARRIAGE_RETURN = ord("\r")
DELIMITERS = (",", ";", "\t", "|")
UTF8_BOM = b"\xef\xbb\xbf"
RAW_CAP = 4096
UNBALANCED = "unbalanced quote"
PLAN_SLACK = 4  # the planner's buffer is a range plus 1/PLAN_SLACK of one
# Bytes of an oversized record kept for its dead letter: enough for RAW_CAP characters of UTF-8.
HEAD_BYTES = RAW_CAP * 4
# Python's csv module refuses fields over 128 KiB by raising, where pyarrow's reader has no limit: the
# record-by-record path would then disagree with the fast one (or crash). Records are bounded by
# --max-record-bytes instead, so the module's own limit is lifted once, here.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class Quoting:
    """What decides CSV record ends: the delimiter (a quote opens a field only at a field start)
    and how many lines one quoted field may span before its opening quote is taken as stray."""

    delimiter: str = ","
    max_lines: int = MAX_QUOTED_LINES


@dataclass(frozen=True)
class Records:
    """Record boundaries inside one buffer: [starts[i], ends[i]) and the line each starts on;
    ``strays[i]``: the record is one line whose opening quote never closes (a dead letter)."""

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    quoted_newlines: bool
    strays: np.ndarray


@dataclass(frozen=True)
class _Ends:
    """Which newlines of a buffer end records, and the lines whose opening quote is stray."""

    terminators: np.ndarray  # positions of the newlines that end records
    stray_starts: np.ndarray  # offsets of the lines dead-lettered as "unbalanced quote"
    irregular: np.ndarray  # sorted offsets of those lines and of lines opening a multi-line field
    joined: bool  # some newline is inside a quoted field


def find_records(data: bytes, first_line: int, plain_lines: bool = False, quoting: Quoting = Quoting()) -> Records:
    """Splits a buffer that begins at a record start into non-empty records. ``plain_lines``: the
    planner already found no quote opening a field here, so every newline ends a record."""
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == NEWLINE)
    if plain_lines:
        ends_at = _Ends(newlines, newlines[:0], newlines[:0], False)
    else:
        ends_at = _record_ends(data, arr, newlines, quoting, at_end=True)
    terminators = ends_at.terminators
    starts = np.concatenate([[0], terminators + 1]).astype(np.int64)
    ends = np.concatenate([terminators + 1, [len(data)]]).astype(np.int64)
    # A record is empty when nothing but its line ending ("\n" or "\r\n") is left.
    content = ends - starts
    if len(data):
        content -= (content > 0) & (arr[np.maximum(ends - 1, 0)] == NEWLINE)
        content -= (content > 0) & (arr[np.maximum(starts + content - 1, 0)] == CARRIAGE_RETURN)
    keep = content > 0
    lines = first_line + np.searchsorted(newlines, starts)
    starts, ends, lines = starts[keep], ends[keep], lines[keep]
    return Records(starts, ends, lines, ends_at.joined, np.isin(starts, ends_at.stray_starts))


def _record_ends(
    data: bytes | memoryview,
    arr: np.ndarray,
    newlines: np.ndarray,
    quoting: Quoting,
    at_end: bool,
    cap: int | None = None,
) -> _Ends:
    """Record ends by quote state, line by line: a line with an odd number of ``"`` whose last field
    opens a quote starts a quoted field, which the next line with an odd count closes if it is within
    ``quoting.max_lines`` lines; otherwise the opening line alone is a record, a dead letter, and the
    next line starts afresh. So a stray quote costs one line, and the rule depends only on the lines
    from a record start on: a range planned on the whole file and parsed alone agrees with it.
    ``at_end``: nothing follows the buffer; else a last line without its newline is not looked at, and
    no newline from an opening line whose window runs past the buffer on ends a record yet. A line
    longer than ``cap`` is a record of its own that no quoted field spans (it is set aside unread),
    so it also decides the opening lines before it, even while it runs past the buffer."""
    complete = newlines.size
    parity = _odd_lines(arr, newlines)
    if at_end and (newlines.size == 0 or newlines[-1] + 1 < len(arr)):
        tail = int(np.count_nonzero(arr[newlines[-1] + 1 if newlines.size else 0 :] == QUOTE)) & 1
        parity = np.append(parity, bool(tail))
    odd = np.flatnonzero(parity)
    if not odd.size:
        return _Ends(newlines, newlines[:0], newlines[:0], False)
    line_starts = np.concatenate([[0], newlines + 1])
    line_ends = np.append(newlines, len(arr))
    opener = _opener(quoting.delimiter)
    barriers = _long_lines(line_starts, line_ends, len(arr), cap)
    joins: list[tuple[int, int]] = []
    strays: list[int] = []
    decided = complete
    odd_lines = odd.tolist()
    k = 0
    while k < len(odd_lines):
        i = odd_lines[k]
        barrier = int(barriers[np.searchsorted(barriers, i)]) if barriers.size and barriers[-1] >= i else 1 << 62
        if barrier == i or not opener.fullmatch(data, int(line_starts[i]), int(line_ends[i])):
            k += 1  # a long line, or a literal quote inside an unquoted field, like O"Brien
        elif k + 1 < len(odd_lines) and odd_lines[k + 1] - i < quoting.max_lines and odd_lines[k + 1] < barrier:
            joins.append((i, odd_lines[k + 1]))
            k += 2
        elif not at_end and i + quoting.max_lines > complete and barrier > complete:
            decided = i  # its closing line may be past the buffer's end
            break
        else:
            strays.append(i)
            k += 1
    inside = np.zeros(complete + 2, dtype=np.int32)
    opened, closed = np.array(joins, dtype=np.int64).reshape(-1, 2).T
    np.add.at(inside, opened, 1)
    np.add.at(inside, closed, -1)
    ends = np.cumsum(inside[:complete]) == 0
    ends[decided:] = False
    irregular = np.sort(line_starts[np.concatenate([opened, strays]).astype(np.int64)])
    return _Ends(newlines[ends], line_starts[strays], irregular, bool(joins))


def _long_lines(line_starts: np.ndarray, line_ends: np.ndarray, size: int, cap: int | None) -> np.ndarray:
    """Indices of the lines longer than ``cap``, their newline included; the last line, without one,
    counts once it is longer (it can only grow)."""
    if cap is None:
        return line_starts[:0]
    lengths = line_ends - line_starts + 1
    lengths[-1] = size - line_starts[-1]
    return np.flatnonzero(lengths > cap)


def _odd_lines(arr: np.ndarray, newlines: np.ndarray) -> np.ndarray:
    """Whether each newline-terminated line holds an odd number of '"': one XOR per line over the
    quote mask (a tenth of the time of listing every quote, which is most bytes of a quoted CSV)."""
    if not newlines.size:
        return np.zeros(0, dtype=bool)
    quotes = (arr[: newlines[-1] + 1] == QUOTE).view(np.uint8)
    return np.bitwise_xor.reduceat(quotes, np.concatenate([[0], newlines[:-1] + 1])).astype(bool)


@functools.lru_cache(maxsize=16)
def _opener(delimiter: str) -> re.Pattern[bytes]:
    """Matches a line (read from a record start) whose last field is an open quoted field, as pyarrow
    and Python's csv read it: a quote opens a field only at its start, ``""`` is an escaped quote,
    and text after a closing quote belongs to the same field."""
    d = re.escape(delimiter.encode())
    field = rb'(?:"(?:[^"]|"")*"[^' + d + rb"\n]*|[^\"" + d + rb"\n][^" + d + rb"\n]*|)"
    return re.compile(rb"(?:" + field + d + rb')*"(?:[^"]|"")*', re.S)


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
    data: bytes | memoryview,
    first_line: int,
    delimiter: str,
    n_columns: int,
    wanted: dict[str, int],
    has_header: bool,
    plain_lines: bool = False,
    max_quoted_lines: int = MAX_QUOTED_LINES,
) -> ParsedRange:
    """Parses one range; ``wanted`` maps output field names to column positions. ``data`` may be a
    view of a reused read buffer: no output refers to it."""
    if plain_lines and (parsed := _parse_plain(data, first_line, delimiter, n_columns, wanted, has_header)):
        return parsed
    data = bytes(data)
    records = find_records(data, first_line, plain_lines, Quoting(delimiter, max_quoted_lines))
    read = len(records.starts)
    headers = 1 if has_header and read else 0
    starts, ends, lines = records.starts[headers:], records.ends[headers:], records.lines[headers:]
    strays = records.strays[headers:]
    stray_spans = list(_where(strays, starts, ends))
    dead = [(line, UNBALANCED, _raw(data[s:e])) for s, e, line in _where(strays, starts, ends, lines)]
    if dead:
        good = ~strays
        starts, ends, lines = starts[good], ends[good], lines[good]
    table = _parse_fast(_body(data, starts, stray_spans), delimiter, n_columns, wanted, records.quoted_newlines)
    if table is not None and table.num_rows == len(starts):
        return ParsedRange(table.append_column("_line", pa.array(lines, pa.int64())), dead, read, headers)
    return _parse_slow(data, starts, ends, lines, delimiter, n_columns, wanted, read, headers, dead)


def _parse_plain(
    data: bytes | memoryview,
    first_line: int,
    delimiter: str,
    n_columns: int,
    wanted: dict[str, int],
    has_header: bool,
) -> ParsedRange | None:
    """Where every newline ends a record and no line is blank, record i is line i: counting newlines
    replaces finding each record. pyarrow's row count checks it (a blank line gives no row); a bare
    ``\\r``, which pyarrow also ends rows at, sends the range to the general path first."""
    arr = np.frombuffer(data, dtype=np.uint8)
    returns = np.count_nonzero(arr == CARRIAGE_RETURN)
    if returns and returns != np.count_nonzero((arr[:-1] == CARRIAGE_RETURN) & (arr[1:] == NEWLINE)):
        return None
    newlines = arr == NEWLINE
    count = int(np.count_nonzero(newlines)) + (len(data) > 0 and data[-1] != NEWLINE)
    headers = 1 if has_header and count else 0
    body = data[int(newlines.argmax()) + 1 :] if headers and count > 1 else b"" if headers else data
    table = _parse_fast(body, delimiter, n_columns, wanted, quoted_newlines=False)
    if table is None or table.num_rows != count - headers:
        return None
    lines = np.arange(first_line + headers, first_line + count, dtype=np.int64)
    return ParsedRange(table.append_column("_line", pa.array(lines)), read=count, headers=headers)


def _where(mask: np.ndarray, *columns: np.ndarray) -> Iterator[tuple[int, ...]]:
    return zip(*(column[mask].tolist() for column in columns), strict=True)


def _raw(record: bytes) -> str:
    return record.decode("utf-8", errors="replace").rstrip("\r\n")[:RAW_CAP]


def _body(data: bytes, starts: np.ndarray, cut_out: list[tuple[int, ...]]) -> bytes:
    """The bytes from the first record on, without the (start, end) spans of stray-quote lines."""
    if not len(starts):
        return b""
    pieces, pos = [], int(starts[0])
    for start, end in cut_out:
        if start >= pos:
            pieces.append(data[pos:start])
            pos = end
    pieces.append(data[pos:])
    return b"".join(pieces) if len(pieces) > 1 else pieces[0]


def _parse_fast(
    body: bytes | memoryview, delimiter: str, n_columns: int, wanted: dict[str, int], quoted_newlines: bool
) -> pa.Table | None:
    names = [f"c{i}" for i in range(n_columns)]
    if not body:
        return _empty_table(wanted)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(body)),  # no copy; pyarrow copies the values it keeps
            # Without quoted newlines pyarrow may split the range into blocks (each a record batch) and
            # parse them on all cores; 4 MiB blocks keep ~30k-row batches and both cores busy.
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24 if quoted_newlines else 4 << 20),
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
    dead: list[tuple[int, str, str]],
) -> ParsedRange:
    good_lines: list[int] = []
    columns: dict[str, list[str]] = {name: [] for name in wanted}
    dead = list(dead)
    for start, end, line in zip(starts.tolist(), ends.tolist(), lines.tolist(), strict=True):
        raw = data[start:end]
        row, reason = _parse_record(raw, delimiter, n_columns)
        if row is None:
            dead.append((line, reason, _raw(raw)))
            continue
        good_lines.append(line)
        for name, i in wanted.items():
            columns[name].append(row[i])
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    table = table.append_column("_line", pa.array(good_lines, pa.int64()))
    return ParsedRange(table, sorted(dead), read, headers)


def _parse_record(raw: bytes, delimiter: str, n_columns: int) -> tuple[list[str] | None, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"bytes are not valid UTF-8 at offset {err.start}"
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


def chunks(
    blocks: Iterator[bytes], target_bytes: int, quoting: Quoting | None, cap: int | None = None
) -> Iterator[Piece | Oversized]:
    """Consecutive pieces of a stream of at least ``target_bytes`` (the last may be shorter), each
    ending at a record end: by ``quoting``'s rule (CSV), or at any newline when it is None. A record
    longer than ``cap`` bytes (its newline included) comes as ``Oversized`` instead; a line that long
    is a record of its own (a quoted field does not span it), skipped as it streams by. Memory: a
    piece, a cap and a block, or up to ``max_lines`` lines while a quoted field is undecided. Blocks
    are joined once per buffer; what follows the last cut is carried into the next buffer."""
    source = iter(blocks)
    pending: list[bytes] = []
    size, open_line, line, offset = 0, 0, 1, 0
    for block in source:
        pending.append(block)
        size += len(block)
        last = block.rfind(b"\n")
        open_line = len(block) - last - 1 if last >= 0 else open_line + len(block)
        if size < target_bytes and (cap is None or open_line <= cap):
            continue
        buffer = b"".join(pending)
        cuts, long_line = _cuts(buffer, target_bytes, quoting, cap, at_end=False)
        start = 0
        for cut in cuts:
            yield _piece_or_oversized(buffer, start, cut, offset, line)
            offset, line, start = offset + cut.end - start, line + cut.lines, cut.end
        if long_line:
            head, skipped, newlines, rest = _skip_line(buffer[start:], source)
            yield Oversized(line, offset, offset + skipped, head)
            offset, line = offset + skipped, line + newlines
            pending, size = [rest], len(rest)
            last = rest.rfind(b"\n")
            open_line = len(rest) - last - 1
            continue
        pending = [buffer[start:]] if start else [buffer]
        size = len(buffer) - start
    if size:
        buffer = b"".join(pending)
        start = 0
        for cut in _cuts(buffer, target_bytes, quoting, cap, at_end=True)[0]:
            yield _piece_or_oversized(buffer, start, cut, offset, line)
            offset, line, start = offset + cut.end - start, line + cut.lines, cut.end


def _piece_or_oversized(buffer: bytes, start: int, cut: _Cut, offset: int, line: int) -> Piece | Oversized:
    if cut.oversized:
        return _oversized(buffer, start, cut, offset, line)
    return Piece(buffer, start, Range(offset, offset + cut.end - start, line, cut.plain))


def _oversized(buffer: bytes | bytearray, start: int, cut: _Cut, offset: int, line: int) -> Oversized:
    return Oversized(line, offset, offset + cut.end - start, bytes(buffer[start : min(cut.end, start + HEAD_BYTES)]))


def _skip_line(begun: bytes, source: Iterator[bytes]) -> tuple[bytes, int, int, bytes]:
    """Reads on to the end of a line that began with ``begun``, keeping only its first bytes: (its first
    HEAD_BYTES, its size, its newlines (1, or 0 at the end of the stream), the bytes after it in the
    block where it ends)."""
    head, size = begun[:HEAD_BYTES], len(begun)
    for block in source:
        newline = block.find(b"\n")
        stop = newline + 1 if newline >= 0 else len(block)
        head += block[: max(0, min(stop, HEAD_BYTES - len(head)))]
        size += stop
        if newline >= 0:
            return head, size, 1, block[stop:]
    return head, size, 0, b""


def plan_ranges(
    blocks: Iterator[bytes], target_bytes: int, quoting: Quoting | None = Quoting(), cap: int | None = None
) -> Iterator[tuple[int, int, int, bool] | Oversized]:
    """Cuts a stream into (start, end, first_line, plain_lines) ranges of about ``target_bytes`` at record
    ends; records longer than ``cap`` come as ``Oversized`` (with their offsets)."""
    for piece in chunks(blocks, target_bytes, quoting, cap):
        if isinstance(piece, Oversized):
            yield piece
        else:
            yield piece.at.start, piece.at.end, piece.at.first_line, piece.at.plain


def range_buffer(target_bytes: int) -> bytearray:
    """A buffer any planned range fits (a range is at most ``target_bytes`` and 1/PLAN_SLACK of that, but
    for one record longer than that): the planner reads into one, and so does each parser of ranges."""
    return bytearray(target_bytes + max(target_bytes // PLAN_SLACK, 1))


def plan_file(
    handle: io.BufferedIOBase, target_bytes: int, quoting: Quoting | None, cap: int | None = None
) -> Iterator[tuple[int, int, int, bool] | Oversized]:
    """``plan_ranges`` of a whole file, read into one reused buffer: each byte is copied once, from
    the page cache, and only what follows a cut is moved to the buffer's front."""
    buffer = range_buffer(target_bytes)
    have, offset, line = 0, 0, 1
    while True:
        with memoryview(buffer) as view:
            while have < len(buffer) and (count := handle.readinto(view[have:])):
                have += count
            at_end = have < len(buffer)
            with view[:have] as data:
                cuts, long_line = _cuts(data, target_bytes, quoting, cap, at_end)
        start = 0
        for cut in cuts:
            yield (
                _oversized(buffer, start, cut, offset, line)
                if cut.oversized
                else (offset, offset + cut.end - start, line, cut.plain)
            )
            offset, line, start = offset + cut.end - start, line + cut.lines, cut.end
        if at_end:
            return
        if long_line:
            head, skipped, newlines, rest = _skip_line(
                bytes(buffer[start:have]), iter(lambda: handle.read(1 << 20), b"")
            )
            yield Oversized(line, offset, offset + skipped, head)
            offset, line, start, have = offset + skipped, line + newlines, 0, len(rest)
            buffer[:have] = rest
            continue
        rest = bytes(buffer[start:have])
        if not start:  # a record (or an undecided quoted field) longer than the buffer
            buffer = bytearray(len(buffer) * 2)
        buffer[: len(rest)] = rest
        have = len(rest)


@dataclass(frozen=True)
class _Cut:
    """One span a chunker hands on: where it ends in the buffer, its newlines, whether every newline
    in it ends a record, and whether it is one record longer than the cap."""

    end: int
    lines: int
    plain: bool = True
    oversized: bool = False


def _cuts(
    buffer: bytes | memoryview, target_bytes: int, quoting: Quoting | None, cap: int | None, at_end: bool
) -> tuple[list[_Cut], bool]:
    """How a buffer that starts at a record start is cut: pieces of at least ``target_bytes`` at decided
    record ends (at the end of the stream, the rest as a last piece), records longer than ``cap`` set
    apart; and whether a line longer than ``cap`` starts where the last cut ends and runs past the
    buffer (the caller skips it as it streams by)."""
    arr = np.frombuffer(buffer, dtype=np.uint8)
    newlines = np.flatnonzero(arr == NEWLINE)
    if quoting is None:
        ends, irregular = newlines + 1, newlines[:0]
    else:
        decided = _record_ends(buffer, arr, newlines, quoting, at_end, cap)
        ends, irregular = decided.terminators + 1, decided.irregular
    tail = int(ends[-1]) if ends.size else 0
    if at_end and tail < len(arr):
        ends, tail = np.append(ends, len(arr)), len(arr)
    line_start = int(newlines[-1]) + 1 if newlines.size else 0
    long_line = not at_end and cap is not None and len(arr) - line_start > cap and tail == line_start
    bounds = np.concatenate([[0], ends])
    big = np.flatnonzero(np.diff(bounds) > cap) if cap is not None else bounds[:0]
    cuts: list[_Cut] = []
    start = 0
    for record in big.tolist():
        first, after = int(bounds[record]), int(bounds[record + 1])
        cuts += _pieces_between(ends, newlines, irregular, start, first, target_bytes, final=True)
        cuts.append(_Cut(after, _newlines_in(newlines, first, after), False, True))
        start = after
    cuts += _pieces_between(ends, newlines, irregular, start, tail, target_bytes, at_end or long_line)
    return cuts, long_line


def _pieces_between(
    ends: np.ndarray,
    newlines: np.ndarray,
    irregular: np.ndarray,
    start: int,
    stop: int,
    target_bytes: int,
    final: bool,
) -> list[_Cut]:
    """Pieces of at least ``target_bytes`` from ``start`` cut at record ``ends`` up to ``stop``; with
    ``final`` the rest up to ``stop`` too."""
    cuts = []
    while start < stop:
        i = int(np.searchsorted(ends, start + target_bytes))
        end = int(ends[i]) if i < ends.size and ends[i] <= stop else stop if final else None
        if end is None:
            break
        plain = bool(np.searchsorted(irregular, end) == np.searchsorted(irregular, start))
        cuts.append(_Cut(end, _newlines_in(newlines, start, end), plain))
        start = end
    return cuts


def _newlines_in(newlines: np.ndarray, start: int, end: int) -> int:
    return int(np.searchsorted(newlines, end) - np.searchsorted(newlines, start))
