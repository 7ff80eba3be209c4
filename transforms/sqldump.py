"""SQL dumps: the rows of one table from MySQL ``INSERT`` or PostgreSQL ``COPY`` (pure functions).

A dump holds many tables; the caller picks one (``tables_*`` lists them; by default
the one with the most rows in the sample) and only its rows are records. Other
statements (SET, LOCK TABLES, comments, other tables' INSERTs) are skipped
uncounted. A MySQL tuple may span lines and its strings may hold anything, so
tuples are read by a regex scanner, one match per tuple, and only the wanted
values are unescaped. A COPY block is tab-separated lines read by pyarrow's CSV
reader, line by line only when that fails. A dump that ends inside a statement
leaves one dead letter for its cut-off remainder, so a truncation is never silent.

Large dumps are read in pieces (``statement_chunks``, ``copy_chunks``) that the same parsers
read as if each were a small dump, so memory stays bounded and a plain file can be parsed in
parallel: MySQL pieces end at statement ends, found by a quote-aware scan (a string still
open at the end of what has been read waits for more, up to MAX_STATEMENT_BYTES), or between two
tuples of an INSERT longer than the buffer, the next piece repeating its ``INSERT … VALUES``;
PostgreSQL pieces are COPY rows cut at newlines (COPY escapes newlines in values), each given
its block's COPY header before and an end marker after, the last piece of a dump that ends
inside a block excepted, so that its cut-off is reported as before.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from transforms.delimited import NEWLINE, UTF8_BOM, ParsedRange
from transforms.jsonlines import LINE, RAW_BYTES, raw_text
from transforms.pieces import Piece, Range, Window

SPLITTABLE = False
SAMPLE_BYTES = 1 << 20  # the prefix that ``table=None`` looks at, as large as the launch-time sample
BLOCK_BYTES = 1 << 24
COPY_NULL = b"\\N"
END_OF_COPY = b"\\.\n"
TUPLE_WINDOW_BYTES = 1 << 16  # bytes of tuples one regex match may cover when cutting an INSERT
MAX_STATEMENT_BYTES = 64 << 20  # mysqldump's max_allowed_packet; a quote open for longer is taken as stray
SEMICOLON = ord(";")

CUT_OFF = "SQL statement cut off"
UNTERMINATED = "unterminated string"
MALFORMED = "malformed tuple"

# --- MySQL grammar, as much as dumps use -----------------------------------------------------------
_SQ_BODY = rb"[^'\\]*(?:(?:\\.|'')[^'\\]*)*"
_DQ_BODY = rb'[^"\\]*(?:(?:\\.|"")[^"\\]*)*'
_SQ = b"'" + _SQ_BODY + b"'"
_DQ = b'"' + _DQ_BODY + b'"'
_HEX = rb"[xXbB]'[0-9a-fA-F]*'"
# Numbers, NULL, 0x.., and function calls without nested parentheses (NOW(), UNHEX('41')).
_WORD = rb"[^\s,'\"()]+(?:\s*\((?:[^'\"()]|" + _SQ + b"|" + _DQ + rb")*\))?"
# Groups: 1 single-quoted text (after an optional _charset or N introducer), 2 double-quoted text, 3 anything else.
_VALUE_SOURCE = rb"(?:_\w+\s*|[nN])?'(" + _SQ_BODY + rb")'|\"(" + _DQ_BODY + rb")\"|(" + _HEX + b"|" + _WORD + b")"
_VALUE = re.compile(_VALUE_SOURCE, re.S)
_VALUES = rb"(?:" + _VALUE_SOURCE + rb")(?:\s*,\s*(?:" + _VALUE_SOURCE + rb"))*"
_TUPLE = re.compile(rb"\s*(?P<tuple>\(\s*(?P<body>" + _VALUES + rb")?\s*\))\s*(?P<sep>[,;])?", re.S)
_TUPLE_RUN = re.compile(rb"(?:\s*\(\s*(?:" + _VALUES + rb")?\s*\)\s*,)*", re.S)  # whole tuples, each with its comma
_RESYNC = re.compile(rb"\)\s*(?:,\s*(?=\()|;)")
_ON_DUPLICATE = re.compile(rb"\s*ON\s+DUPLICATE\s+KEY\s+UPDATE\b", re.I)
_SPACE = re.compile(rb"\s*")
_COMMENT = rb"\s+|--[^\n]*|#[^\n]*|/\*.*?\*/"
_GAP = re.compile(rb"(?:" + _COMMENT + rb")*", re.S)
_PREAMBLE = re.compile(rb"(?:" + _COMMENT + rb"|;)*", re.S)  # also empty statements, as /*!40101 ... */; leaves
_REST = re.compile(rb"[^;'\"`]*(?:(?:" + _SQ + b"|" + _DQ + rb"|`[^`]*`)[^;'\"`]*)*", re.S)
_NAME = rb"(?:`(?:[^`]|``)*`|\"(?:[^\"]|\"\")*\"|[^\s,()'\"`.;]+)"
_QUALIFIED = rb"(?:" + _NAME + rb"\s*\.\s*)*(?P<table>" + _NAME + rb")"
_COLUMN_LIST = rb"(?:\((?P<columns>[^)]*)\)\s*)?"
_CREATE = re.compile(
    rb"CREATE\s+(?:(?:TEMPORARY|TEMP|UNLOGGED)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _QUALIFIED + rb"\s*\(", re.I
)
_INSERT = re.compile(
    rb"(?:INSERT|REPLACE)\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)\s+)*(?:INTO\s+)?"
    + _QUALIFIED
    + rb"\s*"
    + _COLUMN_LIST
    + rb"VALUES?\s*",
    re.I,
)
_DEFINITION = re.compile(rb"'" + _SQ_BODY + rb"'|\"" + _DQ_BODY + rb"\"|`(?:[^`]|``)*`|[(),]|[^'\"`(),]+", re.S)
_DEFINITION_NAME = re.compile(rb"\s*(" + _NAME + rb")")
# Table-level definitions inside CREATE TABLE, when not quoted (a column may be called `key`).
_NOT_COLUMNS = frozenset(
    {"PRIMARY", "KEY", "UNIQUE", "INDEX", "CONSTRAINT", "FOREIGN", "FULLTEXT", "SPATIAL", "CHECK", "PERIOD", "LIKE"}
)
_MYSQL_ESCAPES = {
    b"0": b"\0",
    b"b": b"\b",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"Z": b"\x1a",
    b"%": b"\\%",  # MySQL keeps the backslash of \% and \_ (LIKE patterns)
    b"_": b"\\_",
}
_SQ_ESCAPE = re.compile(rb"\\(.)|''", re.S)
_DQ_ESCAPE = re.compile(rb'\\(.)|""', re.S)

# --- PostgreSQL ---------------------------------------------------------------------------------------
_COPY = re.compile(rb"^COPY\s+" + _QUALIFIED + rb"\s*" + _COLUMN_LIST + rb"FROM\s+stdin\s*;[^\n]*\n?", re.I | re.M)
_END_OF_COPY = re.compile(rb"^\\\.\r?$", re.M)
_PG_CREATE = re.compile(rb"^" + _CREATE.pattern, re.I | re.M)
_PG_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))", re.S)
_PG_ESCAPES = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
_PG_HEADER = b"-- PostgreSQL database dump"

# --- detection -----------------------------------------------------------------------------------------
_SQL_START = re.compile(
    rb"(?:SET|CREATE|DROP|INSERT|REPLACE|LOCK|UNLOCK|USE|START|BEGIN|ALTER|SELECT|COPY|PRAGMA)\b|\\restrict\b", re.I
)
_MYSQL_STATEMENT = re.compile(
    rb"^[ \t]*(?:(?:INSERT|REPLACE)\s+(?:\w+\s+)*INTO\s|CREATE\s+(?:TEMPORARY\s+)?TABLE\s)", re.I | re.M
)


@dataclass
class _Survey:
    """What a sample says about each table: rows seen, and where its column names can come from."""

    rows: dict[str, int] = field(default_factory=dict)
    created: dict[str, list[str]] = field(default_factory=dict)
    listed: dict[str, dict[str, None]] = field(default_factory=dict)
    arity: dict[str, int] = field(default_factory=dict)

    def see(self, table: str) -> None:
        self.rows.setdefault(table, 0)

    def table(self, table: str | None) -> str | None:
        """The given table, or the one with the most rows (the first on a tie)."""
        return table if table is not None else max(self.rows, key=self.rows.__getitem__, default=None)

    def columns(self, table: str | None) -> list[str]:
        """CREATE TABLE's columns, else the names INSERT/COPY lists, else col1..colN by the first row."""
        table = self.table(table)
        if table is None:
            return []
        if table in self.created:
            return self.created[table]
        if self.listed.get(table):
            return list(self.listed[table])
        return [f"col{i + 1}" for i in range(self.arity.get(table, 0))]


@dataclass
class _Rows:
    """Rows and dead letters of the selected table, with byte offsets turned into lines at the end."""

    names: list[str]  # output names, in order
    values: dict[str, list[bytes | None]] = field(init=False)
    offsets: list[int] = field(default_factory=list)
    dead: list[tuple[int, str, bytes]] = field(default_factory=list)
    parts: list[pa.Table] = field(default_factory=list)  # whole blocks read by pyarrow

    def __post_init__(self) -> None:
        self.values = {name: [] for name in self.names}

    def result(self, data: bytes, first_line: int) -> ParsedRange:
        newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == NEWLINE)

        def lines(offsets: list[int]) -> list[int]:
            return (first_line + np.searchsorted(newlines, offsets)).tolist()

        table = pa.table(
            {name: _strings(column) for name, column in self.values.items()}
            | {LINE: pa.array(lines(self.offsets), pa.int64())}
        )
        if self.parts:  # blocks read whole and rows read one by one: back into file order
            table = pa.concat_tables([*self.parts, table]).combine_chunks().sort_by(LINE)
        dead_lines = lines([offset for offset, _, _ in self.dead])
        dead = [(line, reason, raw_text(raw)) for line, (_, reason, raw) in zip(dead_lines, self.dead, strict=True)]
        return ParsedRange(table, dead, table.num_rows + len(dead))


def _strings(values: list[bytes | None]) -> pa.Array:
    try:
        return pa.array(values, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:  # not UTF-8 (an escaped binary value): keep it readable
        return pa.array([None if v is None else v.decode("utf-8", errors="replace") for v in values], pa.string())


def _name(raw: bytes) -> str:
    """An identifier without its quotes."""
    if raw[:1] in (b"`", b'"'):
        quote = raw[:1]
        raw = raw[1:-1].replace(quote + quote, quote)
    return raw.decode("utf-8", errors="replace")


def _listed(raw: bytes | None) -> list[str] | None:
    """The column list of an INSERT or COPY, if it has one."""
    if raw is None:
        return None
    return [_name(part.strip()) for part in raw.split(b",") if part.strip()]


def _skip(pattern: re.Pattern[bytes], data: bytes, pos: int) -> int:
    """Past what ``pattern`` matches at ``pos`` (patterns used here may match nothing)."""
    match = pattern.match(data, pos)
    return match.end() if match else pos


def _statement_end(data: bytes, pos: int, partial: bool = False) -> int:
    """Just past the ``;`` that ends the statement at ``pos`` (quotes respected), or the end of data,
    which is also the answer for a quote that does not close in ``partial`` data (it may close later).
    Scanned a window at a time: one match over a long statement keeps a backtracking entry per
    string in ``re`` (86 MiB for a 4 MB INSERT)."""
    window = TUPLE_WINDOW_BYTES
    while True:
        stop = min(len(data), pos + window)
        match = _REST.match(data, pos, stop)
        reached = match.end() if match else pos
        if reached < stop and data[reached] == SEMICOLON:
            return reached + 1
        if reached == stop == len(data):
            return len(data)
        if stop < len(data):  # read on: from the quote the window cut, with more room if it is long
            window = window * 2 if reached == pos else TUPLE_WINDOW_BYTES
            pos = reached
            continue
        if partial:
            return len(data)
        pos = reached + 1  # a quote that never closes: read past it


def _column_definitions(data: bytes, pos: int) -> list[str]:
    """Column names of a CREATE TABLE whose ``(`` ends just before ``pos``."""
    names: list[str] = []
    depth, start = 0, pos
    for match in _DEFINITION.finditer(data, pos, _statement_end(data, pos)):
        token = match.group()
        if token == b"(":
            depth += 1
        elif token == b")" and depth:
            depth -= 1
        elif token in (b",", b")") and not depth:
            name = _DEFINITION_NAME.match(data, start, match.start())
            if name and (name[1][:1] in (b"`", b'"') or _name(name[1]).upper() not in _NOT_COLUMNS):
                names.append(_name(name[1]))
            if token == b")":
                break
            start = match.end()
    return names


# --- MySQL --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Create:
    table: str
    columns: list[str]


@dataclass
class _Insert:
    """One INSERT: where each tuple starts and ends, the text between its parentheses, and the
    tuples that do not parse."""

    table: str
    listed: list[str] | None
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    dead: list[tuple[int, str, bytes]] = field(default_factory=list)


def _mysql_statements(data: bytes, wanted: Callable[[str], bool]) -> Iterator[_Create | _Insert]:
    """CREATE TABLE statements, and the INSERTs into tables ``wanted`` accepts (others are skipped)."""
    pos, size = 0, len(data)
    while (pos := _skip(_GAP, data, pos)) < size:
        if create := _CREATE.match(data, pos):
            yield _Create(_name(create["table"]), _column_definitions(data, create.end()))
            pos = _statement_end(data, create.end())
        elif (insert := _INSERT.match(data, pos)) and wanted(_name(insert["table"])):
            statement = _Insert(_name(insert["table"]), _listed(insert["columns"]))
            pos = _read_tuples(data, insert.end(), statement)
            yield statement
        else:
            pos = _statement_end(data, pos)


def _read_tuples(data: bytes, pos: int, statement: _Insert) -> int:
    """Reads the tuples of one INSERT from ``pos`` into ``statement``; returns where it ends."""
    while True:
        match = _TUPLE.match(data, pos)
        if match:
            statement.starts.append(match.start("tuple"))
            statement.ends.append(match.end("tuple"))
            statement.bodies.append(match["body"] or b"")
            pos = match.end()
            if match["sep"] == b",":
                continue
            if match["sep"] == b";":
                return pos
            if _ON_DUPLICATE.match(data, pos):
                return _statement_end(data, pos)
        # A tuple that does not parse, or the data ends: resynchronise at the next tuple boundary.
        start = _skip(_SPACE, data, pos)
        boundary = _RESYNC.search(data, start)
        if boundary is None:
            statement.dead.append((start, CUT_OFF, data[start : start + RAW_BYTES]))
            return len(data)
        bad = data[start : boundary.start() + 1]
        quotes = _SQ_ESCAPE.sub(b"", bad).count(b"'")
        statement.dead.append((start, UNTERMINATED if quotes % 2 else MALFORMED, bad))
        pos = boundary.end()
        if data[pos - 1] == SEMICOLON:
            return pos


def _survey_mysql(sample: bytes) -> _Survey:
    survey = _Survey()
    for statement in _mysql_statements(sample.removeprefix(UTF8_BOM), lambda _: True):
        survey.see(statement.table)
        if isinstance(statement, _Create):
            survey.created.setdefault(statement.table, statement.columns)
            continue
        survey.rows[statement.table] += len(statement.bodies)
        if statement.listed:
            survey.listed.setdefault(statement.table, {}).update(dict.fromkeys(statement.listed))
        elif statement.bodies:
            survey.arity.setdefault(statement.table, len(_VALUE.findall(statement.bodies[0])))
    return survey


def tables_mysql(sample: bytes) -> dict[str, int]:
    """Tables in a MySQL dump sample and how many complete tuples each has there, in order of appearance."""
    return _survey_mysql(sample).rows


def columns_mysql(sample: bytes, table: str | None = None) -> list[str]:
    """Column names of ``table`` (None: the table with the most rows in the sample)."""
    return _survey_mysql(sample).columns(table)


def parse_mysql(
    data: bytes, first_line: int, columns: list[str], wanted: dict[str, int], table: str | None = None
) -> ParsedRange:
    """Parses a whole MySQL dump: one record per VALUES tuple of ``table`` (None: as ``columns_mysql``
    chooses it from the first SAMPLE_BYTES of ``data``)."""
    data = data.removeprefix(UTF8_BOM)
    if table is None:
        table = _survey_mysql(data[:SAMPLE_BYTES]).table(None)
    rows = _Rows(list(wanted))
    for statement in _mysql_statements(data, lambda name: name == table):
        if isinstance(statement, _Insert):
            _add_tuples(data, statement, *_positions(columns, wanted, statement.listed), rows)
    return rows.result(data, first_line)


def statement_chunks(blocks: Iterator[bytes], target_bytes: int, _table: str | None = None) -> Iterator[Piece]:
    """Consecutive pieces of a MySQL dump of at least ``target_bytes``, each ending at a statement end,
    or between two tuples of an INSERT too long for the buffer: that piece then ends with ``;`` and the
    next one begins with the statement's ``INSERT … VALUES``, so each still reads as a small dump."""
    window = Window(blocks)
    window.fill(target_bytes)
    start = pos = 0
    header = b""  # the INSERT that the piece at ``start`` continues, if it was cut between tuples
    while True:
        data = window.data
        statement = _skip(_GAP, data, pos)
        # A string that has not closed by the buffer's end may yet close, unless it is already longer
        # than any sane statement: then it is read as the whole-dump parser reads it (past the quote).
        end = _statement_end(data, statement, not window.done and len(data) - statement < MAX_STATEMENT_BYTES)
        runs_on = end == len(data) and not window.done  # the statement (or a comment before it) may go on
        if runs_on or end - start > target_bytes:  # a long INSERT is cut between tuples near the target
            cut = _between_tuples(data, statement, header if statement == start else b"", start + target_bytes)
            if cut is not None and cut[0] < end:
                last, following, continued = cut
                line = _line(window, start, header)
                yield Piece(data, start, Range(window.offset + start, window.offset + last, line, False, header, b";"))
                window.drop(following)
                start = pos = 0
                header = continued
                continue
        if runs_on:
            window.drop(start)
            pos, start = pos - start, 0
            window.grow(target_bytes)
            continue
        if end == len(data) or end - start >= target_bytes:
            at = Range(window.offset + start, window.offset + end, _line(window, start, header), False, header)
            yield Piece(data, start, at)
            if end == len(data):
                return
            window.drop(end)
            start = pos = 0
            header = b""
        else:
            pos = end


def _line(window: Window, start: int, header: bytes) -> int:
    """The line of a piece's first byte, counting the header put before it as its own lines."""
    return window.line_of(start) - header.count(b"\n")


def _between_tuples(data: bytes, statement: int, header: bytes, limit: int) -> tuple[int, int, bytes] | None:
    """Where an INSERT (or, with ``header``, the rest of one) that runs past the buffer can be cut: at
    the comma after the last whole tuple before ``limit`` (after the first tuple if none fits there),
    where the next tuple starts, and the INSERT's header; None while the buffer is shorter than
    ``limit``, or for a statement that is no INSERT or whose first tuple is not whole yet. A first
    tuple that does not parse is cut after where the parser resynchronises, so it is dead-lettered
    as in the whole dump."""
    if len(data) < limit:
        return None
    if not header:
        insert = _INSERT.match(data, statement)
        if insert is None:
            return None
        header, statement = data[statement : insert.end()], insert.end()
    end = _whole_tuples(data, statement, limit)
    if end == statement and (first := _TUPLE.match(data, statement)) and first["sep"] == b",":
        end = first.end()
    if end > statement:
        return end - 1, _skip(_SPACE, data, end), header
    boundary = _RESYNC.search(data, statement)
    if boundary is None or data[boundary.end() - 1] == SEMICOLON:
        return None
    return boundary.start() + 1, boundary.end(), header


def _whole_tuples(data: bytes, pos: int, limit: int) -> int:
    """Just past the comma of the last whole tuple before ``limit`` (``pos`` if none), matched a window
    at a time: one repetition over megabytes of tuples keeps a backtracking entry per tuple in ``re``
    (350 MiB for 4 MB)."""
    end = pos
    while end < limit:
        run = _TUPLE_RUN.match(data, end, min(limit, end + TUPLE_WINDOW_BYTES))
        if run is None or run.end() == end:
            break
        end = run.end()
    return end


def _add_tuples(data: bytes, statement: _Insert, positions: dict[str, int | None], expected: int, rows: _Rows) -> None:
    """Splits the tuples into values (list comprehensions: this is the hot loop) and keeps the wanted ones."""
    rows.dead += statement.dead
    starts = statement.starts
    values = [_VALUE.findall(body) for body in statement.bodies]
    fits = [len(tuple_values) == expected for tuple_values in values]
    if not all(fits):
        for start, end, tuple_values, fit in zip(starts, statement.ends, values, fits, strict=True):
            if not fit:
                reason = f"tuple has {len(tuple_values)} values, expected {expected}"
                rows.dead.append((start, reason, data[start:end]))
        starts = [start for start, fit in zip(starts, fits, strict=True) if fit]
        values = [tuple_values for tuple_values, fit in zip(values, fits, strict=True) if fit]
    rows.offsets += starts
    for out, position in positions.items():
        if position is None:
            rows.values[out] += [None] * len(values)
        else:
            rows.values[out] += [_mysql_value(tuple_values[position]) for tuple_values in values]


def _positions(
    columns: list[str], wanted: dict[str, int], listed: list[str] | None
) -> tuple[dict[str, int | None], int]:
    """Where each wanted field is in a statement's rows (None: not listed), and how many values a row has."""
    if listed is None:
        return dict(wanted), len(columns)
    where = {name.lower(): i for i, name in reversed(list(enumerate(listed)))}
    return {out: where.get(columns[i].lower()) for out, i in wanted.items()}, len(listed)


def _mysql_value(parts: tuple[bytes, bytes, bytes]) -> bytes | None:
    single, double, word = parts
    if word:
        return None if word.upper() == b"NULL" else word
    if single:
        return _SQ_ESCAPE.sub(_mysql_escape, single) if b"\\" in single or b"''" in single else single
    return _DQ_ESCAPE.sub(_mysql_escape, double) if b"\\" in double or b'""' in double else double


def _mysql_escape(match: re.Match[bytes]) -> bytes:
    char = match[1]
    if char is None:
        return match.group()[:1]  # a doubled quote
    return _MYSQL_ESCAPES.get(char, char)


def detect_mysql(sample: bytes) -> bool:
    """Starts like SQL, has a CREATE TABLE or INSERT statement, and no PostgreSQL COPY data."""
    sample = sample.removeprefix(UTF8_BOM)
    return _starts_like_sql(sample) and not detect_pgdump(sample) and bool(_MYSQL_STATEMENT.search(sample))


def _starts_like_sql(sample: bytes) -> bool:
    return bool(_SQL_START.match(sample, _skip(_PREAMBLE, sample, 0)))


# --- PostgreSQL ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Copy:
    """One ``COPY ... FROM stdin`` block: rows are [start, end); ``ended`` if ``\\.`` closed it."""

    table: str
    listed: list[str] | None
    start: int
    end: int
    ended: bool


def _copy_blocks(data: bytes) -> Iterator[_Copy]:
    pos = 0
    while header := _COPY.search(data, pos):
        marker = _END_OF_COPY.search(data, header.end())
        table, listed = _name(header["table"]), _listed(header["columns"])
        if marker is None:
            yield _Copy(table, listed, header.end(), len(data), False)
            return
        yield _Copy(table, listed, header.end(), marker.start(), True)
        pos = marker.end()


def _survey_pgdump(sample: bytes) -> _Survey:
    survey = _Survey()
    sample = sample.removeprefix(UTF8_BOM)
    for create in _PG_CREATE.finditer(sample):
        table = _name(create["table"])
        survey.see(table)
        survey.created.setdefault(table, _column_definitions(sample, create.end()))
    for block in _copy_blocks(sample):
        survey.see(block.table)
        rows = sample.count(b"\n", block.start, block.end)
        survey.rows[block.table] += rows
        if block.listed:
            survey.listed.setdefault(block.table, {}).update(dict.fromkeys(block.listed))
        elif rows:
            first_row = sample[block.start : sample.index(b"\n", block.start)]
            survey.arity.setdefault(block.table, first_row.count(b"\t") + 1)
    # A COPY list names the columns of the data itself, so it wins over CREATE TABLE.
    for table, listed in survey.listed.items():
        survey.created[table] = list(listed)
    return survey


def tables_pgdump(sample: bytes) -> dict[str, int]:
    """Tables in a pg_dump sample and how many complete COPY rows each has there, in order of appearance."""
    return _survey_pgdump(sample).rows


def columns_pgdump(sample: bytes, table: str | None = None) -> list[str]:
    """Column names of ``table`` (None: the table with the most rows in the sample)."""
    return _survey_pgdump(sample).columns(table)


def parse_pgdump(
    data: bytes, first_line: int, columns: list[str], wanted: dict[str, int], table: str | None = None
) -> ParsedRange:
    """Parses a whole pg_dump: one record per COPY line of ``table`` (None: as ``columns_pgdump``
    chooses it from the first SAMPLE_BYTES of ``data``)."""
    data = data.removeprefix(UTF8_BOM)
    if table is None:
        table = _survey_pgdump(data[:SAMPLE_BYTES]).table(None)
    rows = _Rows(list(wanted))
    for block in _copy_blocks(data):
        if block.table != table:
            continue
        positions, expected = _positions(columns, wanted, block.listed)
        complete = block.end if block.ended else max(data.rfind(b"\n", block.start, block.end) + 1, block.start)
        if not _copy_fast(data, block.start, complete, positions, expected, rows, first_line):
            _copy_slow(data, block.start, complete, positions, expected, rows)
        if not block.ended:
            rows.dead.append((complete, CUT_OFF, data[complete : min(block.end, complete + RAW_BYTES)]))
    return rows.result(data, first_line)


def copy_chunks(blocks: Iterator[bytes], target_bytes: int, table: str | None) -> Iterator[Piece]:
    """Pieces of at least ``target_bytes`` of the COPY rows of ``table`` (other text holds no record),
    each with its block's header before it and an end marker after it."""
    window = Window(blocks)
    window.fill(target_bytes)
    header: bytes | None = None  # of the block the window is in
    pos = 0
    while True:
        data = window.data
        if header is None:
            found = _COPY.search(data, pos)
            if found is None or (found.end() == len(data) and not data.endswith(b"\n")):
                if window.done:
                    return
                window.drop(max(pos, data.rfind(b"\n", pos) + 1) if found is None else found.start())
                pos = 0
                window.grow(target_bytes)
                continue
            header, wanted, pos = data[found.start() : found.end()], _name(found["table"]) == table, found.end()
            continue
        marker = _end_of_copy(data, pos)
        last = marker >= 0 or window.done
        rows_end = marker if marker >= 0 else len(data) if window.done else max(pos, data.rfind(b"\n", pos) + 1)
        cut_off = marker < 0 and window.done
        start = pos
        while wanted and start < rows_end:
            end = data.find(b"\n", start + target_bytes - 1) + 1
            if not 0 < end <= rows_end:
                if not last:
                    break
                end = rows_end
            suffix = b"" if cut_off and end == rows_end else END_OF_COPY
            at = Range(window.offset + start, window.offset + end, window.line_of(start) - 1, False, header, suffix)
            yield Piece(data, start, at)
            start = end
        if last:
            if marker < 0:
                return
            pos, header = data.index(b"\n", marker) + 1 if b"\n" in data[marker : marker + 4] else len(data), None
            continue
        window.drop(start if wanted else rows_end)
        pos = 0
        window.grow(target_bytes)


def _end_of_copy(data: bytes, pos: int) -> int:
    """Where the ``\\.`` line that ends a COPY block starts, or -1 (``bytes.find``: no regex pass)."""
    while (found := data.find(b"\\.", pos)) >= 0:
        after = data[found + 2 : found + 4]
        if (found == 0 or data[found - 1] == NEWLINE) and (after[:1] in (b"", b"\n") or after == b"\r\n"):
            return found
        pos = found + 2
    return -1


def _copy_fast(
    data: bytes,
    start: int,
    end: int,
    positions: dict[str, int | None],
    expected: int,
    rows: _Rows,
    first_line: int,
) -> bool:
    """Reads a block of COPY lines with pyarrow; False if it cannot be trusted with it."""
    body = data[start:end]
    count = body.count(b"\n")
    if not count:
        return True
    if not expected:  # an empty column list: every row is a dead letter
        return False
    # pyarrow turns an empty line into a row of empty fields instead of a short row.
    if expected > 1 and (body.startswith((b"\n", b"\r\n")) or b"\n\n" in body or b"\n\r\n" in body):
        return False
    names = [f"c{i}" for i in range(expected)]
    include = sorted({p for p in positions.values() if p is not None}) or [0]
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(
                delimiter="\t", quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                include_columns=[names[p] for p in include],
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return False
    if table.num_rows != count:
        return False
    first = first_line + data.count(b"\n", 0, start)
    columns = {
        out: pa.nulls(count, pa.string()) if p is None else _copy_text(table.column(names[p]))
        for out, p in positions.items()
    }
    rows.parts.append(pa.table(columns | {LINE: pa.array(np.arange(first, first + count), pa.int64())}))
    return True


def _copy_text(column: pa.ChunkedArray) -> pa.Array:
    """``\\N`` to null, and backslash escapes undone (in Python, only for values that have one)."""
    column = column.combine_chunks()
    column = pc.if_else(pc.equal(column, COPY_NULL.decode()), pa.scalar(None, pa.string()), column)
    escaped = pc.fill_null(pc.match_substring(column, "\\"), False)
    where = np.flatnonzero(escaped.to_numpy(zero_copy_only=False))
    if not where.size:
        return column
    fixed = [_pg_unescape(value.encode()).decode("utf-8", errors="replace") for value in column.take(where).to_pylist()]
    return pc.replace_with_mask(column, escaped, pa.array(fixed, pa.string()))


def _copy_slow(data: bytes, start: int, end: int, positions: dict[str, int | None], expected: int, rows: _Rows) -> None:
    offset = start
    for line in data[start:end].split(b"\n")[:-1]:
        fields = line.removesuffix(b"\r").split(b"\t")
        if len(fields) != expected:
            rows.dead.append((offset, f"COPY row has {len(fields)} fields, expected {expected}", line))
        else:
            rows.offsets.append(offset)
            for out, p in positions.items():
                value = None if p is None or fields[p] == COPY_NULL else fields[p]
                rows.values[out].append(None if value is None else _pg_unescape(value))
        offset += len(line) + 1


def _pg_unescape(value: bytes) -> bytes:
    return _PG_ESCAPE.sub(_pg_escape, value) if b"\\" in value else value


def _pg_escape(match: re.Match[bytes]) -> bytes:
    octal, hexadecimal, char = match.groups()
    if octal:
        return bytes([int(octal, 8) & 0xFF])
    if hexadecimal:
        return bytes([int(hexadecimal, 16)])
    return _PG_ESCAPES.get(char, char)


def detect_pgdump(sample: bytes) -> bool:
    """Starts like SQL and has COPY ... FROM stdin data (or pg_dump's header and no INSERT)."""
    sample = sample.removeprefix(UTF8_BOM)
    if not _starts_like_sql(sample):
        return False
    if _COPY.search(sample):
        return True
    return _PG_HEADER in sample and not _INSERT.search(sample)
