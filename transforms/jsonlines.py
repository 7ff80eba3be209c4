"""JSON Lines and JSON array dumps: flattening, line numbers and parsing (pure functions).

A record is one JSON object. Nested objects become dotted names (``user.email``);
MongoDB extended-JSON wrappers (``{"$oid": "x"}``, ``{"$date": ...}``,
``{"$numberLong": "5"}``) are unwrapped to their value. An array stands for its
first element and the rest is ignored: a dump row keeps one value per field, and
the first is the primary one (``"emails": [primary, alias]``). Values stay text:
numbers exactly as written, ``true``/``false``, null as null.

JSON Lines (one object per line) are read by pyarrow's JSON reader with a schema
of the wanted fields only, learnt from the first lines of the range, so other
fields may hold anything. If the range does not fit that schema it is parsed line
by line and only the bad lines become dead letters. A JSON array file may be
pretty-printed across lines, so it is read element by element from a stream of blocks
by one reader (``stream_array``): finding where an element ends takes a JSON decode
of it, so a planner that cut the file into ranges would do the parser's work alone.

The line helpers here (``find_lines``, ``sample_lines``, ``strings_table``,
``raw_text``) are shared with the other line-oriented parsers.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from transforms.delimited import NEWLINE, RAW_CAP, UTF8_BOM, ParsedRange

SPLITTABLE = True
SPLITTABLE_ARRAY = False
LINE = "_line"
WHITESPACE = b" \t\n\r\f"
SAMPLE_LINES = 1000  # complete lines a detector looks at
DETECT_SHARE = 0.8  # share of those lines that must have the format's shape
TRIM_STEPS = 8  # whitespace bytes trimmed with numpy at each end of a line, the rest in Python
PEEK_LINES = 100  # lines of a range whose field types set the fast path's schema
BLOCK_BYTES = 1 << 24
RAW_BYTES = RAW_CAP * 4  # enough bytes for RAW_CAP characters of a dead letter's raw text
MONGO_WRAPPERS = frozenset(
    {"$oid", "$date", "$numberLong", "$numberInt", "$numberDouble", "$numberDecimal", "$uuid", "$symbol"}
)
FIRST = 0  # path step: an array's first element (keys are always str)
OPEN_BRACE = ord("{")
CLOSE_BRACE = ord("}")

NOT_OBJECT = "not a JSON object"
NOT_ARRAY = "not a JSON array"
CUT_OFF = "JSON array cut off"
TOO_DEEP = "invalid JSON: nested too deeply"

_IS_SPACE = np.zeros(256, dtype=bool)
_IS_SPACE[list(WHITESPACE)] = True
_SPACE = re.compile(r"[ \t\n\r]*")
_STRUCTURE = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\[\]{},]')

Path = tuple[str | int, ...]
Leaf = tuple[str, Path, object]  # (dotted name, path in the document, scalar value)


class _Int(str):
    """A JSON integer kept as written."""


class _Float(str):
    """A JSON float (or NaN/Infinity) kept as written; pyarrow cannot keep its text, so no fast path."""


_DECODER = json.JSONDecoder(parse_int=_Int, parse_float=_Float, parse_constant=_Float)


# --- lines, shared with the other line-oriented formats --------------------------------------


@dataclass(frozen=True)
class Lines:
    """Non-blank lines of a buffer: content [starts, ends) without surrounding whitespace, and
    the line each is on, as an editor shows it."""

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray


def find_lines(data: bytes, first_line: int) -> Lines:
    """Finds non-blank lines with numpy; a line is any run of bytes between newlines."""
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == NEWLINE)
    starts = np.concatenate([[0], newlines + 1]).astype(np.int64)
    ends = np.concatenate([newlines, [len(data)]]).astype(np.int64)
    padded = np.append(arr, np.uint8(NEWLINE))  # so that an empty last line can be looked at
    # Trim a byte at a time, only on lines that still start or end with whitespace (few, briefly).
    todo = np.arange(starts.size)
    for _ in range(TRIM_STEPS):
        s, e = starts[todo], ends[todo]
        todo = todo[(s < e) & (_IS_SPACE[padded[s]] | _IS_SPACE[padded[e - 1]])]
        if not todo.size:
            break
        starts[todo] += _IS_SPACE[padded[starts[todo]]]
        ends[todo] -= (starts[todo] < ends[todo]) & _IS_SPACE[padded[ends[todo] - 1]]
    for i in todo.tolist():  # longer runs of whitespace
        line = data[starts[i] : ends[i]]
        starts[i] += len(line) - len(line.lstrip(WHITESPACE))
        ends[i] -= len(line) - len(line.rstrip(WHITESPACE))
    keep = starts < ends
    return Lines(starts[keep], ends[keep], first_line + np.flatnonzero(keep))


def sample_lines(sample: bytes, limit: int = SAMPLE_LINES) -> list[bytes]:
    """Up to ``limit`` non-blank lines of a sample, without a last line the sample may have cut."""
    sample = sample.removeprefix(UTF8_BOM)
    lines = find_lines(sample, 1)
    count = len(lines.starts)
    if count > 1 and not sample.endswith(b"\n"):
        count -= 1
    count = min(count, limit)
    return [sample[s:e] for s, e in zip(lines.starts[:count].tolist(), lines.ends[:count].tolist(), strict=True)]


def raw_text(raw: bytes) -> str:
    """The raw text of a dead letter, capped (the bytes are cut first: a record may be the rest of a file)."""
    return raw[:RAW_BYTES].decode("utf-8", errors="replace")[:RAW_CAP]


def strings_table(values: dict[str, list[str | None]], lines: Sequence[int] | np.ndarray) -> pa.Table:
    """The output table: one string column per wanted field, then ``_line``."""
    columns = {name: pa.array(column, pa.string()) for name, column in values.items()}
    return pa.table({**columns, LINE: pa.array(lines, pa.int64())})


# --- flattening ---------------------------------------------------------------------------------


def _flatten(value: object, name: str, path: Path) -> Iterator[Leaf]:
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in MONGO_WRAPPERS:
            ((key, inner),) = value.items()
            yield from _flatten(inner, name, (*path, key))
            return
        for key, inner in value.items():
            yield from _flatten(inner, f"{name}.{key}", (*path, key))
    elif isinstance(value, list):
        yield from _flatten(value[0] if value else None, name, (*path, FIRST))
    else:
        yield name, path, value


def _leaves(obj: dict) -> list[Leaf] | None:
    """Every scalar of an object with its dotted name; None when it nests deeper than Python recurses."""
    try:
        return [leaf for key, value in obj.items() for leaf in _flatten(value, key, (key,))]
    except RecursionError:
        return None


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def _load(raw: bytes) -> tuple[list[Leaf] | None, str]:
    """One line as leaves, or None and the dead-letter reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"bytes are not valid UTF-8 at offset {err.start}"
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as err:
        return None, _invalid(err)
    except RecursionError:
        return None, TOO_DEEP
    if not isinstance(value, dict):
        return None, NOT_OBJECT
    leaves = _leaves(value)
    return (leaves, "") if leaves is not None else (None, TOO_DEEP)


def _invalid(err: json.JSONDecodeError) -> str:
    """``invalid JSON: <json's message> at column N`` (its "Unterminated string starting at" too)."""
    return f"invalid JSON: {err.msg.removesuffix(' starting at')} at column {err.colno}"


class _Rows:
    """Wanted values gathered record by record, where pyarrow cannot read the input."""

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names
        self._values: dict[str, list[str | None]] = {out: [] for out in names}
        self._lines: list[int] = []

    def add(self, line: int, leaves: list[Leaf]) -> None:
        fields = {name: value for name, _, value in leaves}
        self._lines.append(line)
        for out, name in self._names.items():
            self._values[out].append(_text(fields.get(name)))

    def table(self) -> pa.Table:
        return strings_table(self._values, self._lines)


def _names(columns: list[str], wanted: dict[str, int]) -> dict[str, str]:
    return {out: columns[i] for out, i in wanted.items()}


# --- JSON Lines ---------------------------------------------------------------------------------


def detect(sample: bytes) -> bool:
    """JSON Lines: the first line and most others are JSON objects."""
    lines = sample_lines(sample)
    if not lines or _load(lines[0])[0] is None:
        return False
    return sum(_load(line)[0] is not None for line in lines) >= DETECT_SHARE * len(lines)


def columns(sample: bytes) -> list[str]:
    """Flattened names over all the sample's complete lines, in first-seen order."""
    names: dict[str, None] = {}
    for line in sample_lines(sample, limit=len(sample)):
        for name, _, _ in _load(line)[0] or []:
            names.setdefault(name)
    return list(names)


def parse(data: bytes, first_line: int, columns: list[str], wanted: dict[str, int]) -> ParsedRange:
    """Parses one range of JSON Lines; ``wanted`` maps output names to positions in ``columns``."""
    data = data.removeprefix(UTF8_BOM)
    lines = find_lines(data, first_line)
    read = len(lines.starts)
    names = _names(columns, wanted)
    table = _parse_fast(data, lines, names)
    if table is not None:
        return ParsedRange(table, read=read)
    rows, dead = _Rows(names), []
    for start, end, line in zip(lines.starts.tolist(), lines.ends.tolist(), lines.lines.tolist(), strict=True):
        leaves, reason = _load(data[start:end])
        if leaves is None:
            dead.append((line, reason, raw_text(data[start:end])))
        else:
            rows.add(line, leaves)
    return ParsedRange(rows.table(), dead, read)


def _parse_fast(data: bytes, lines: Lines, names: dict[str, str]) -> pa.Table | None:
    if not len(lines.starts):
        return strings_table({out: [] for out in names}, [])
    arr = np.frombuffer(data, dtype=np.uint8)
    # One object per line is what keeps rows aligned with lines (pyarrow gives no offsets).
    if not names or (arr[lines.starts] != OPEN_BRACE).any() or (arr[lines.ends - 1] != CLOSE_BRACE).any():
        return None
    paths = _peek_paths(data, lines, set(names.values()))
    if paths is None:
        return None
    schema = _schema(paths)
    if schema is None:
        return None
    try:
        table = pajson.read_json(
            io.BytesIO(data),
            read_options=pajson.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
        if table.num_rows != len(lines.starts):
            return None
        columns = {out: _extract(table, paths[name][0]) for out, name in names.items()}
        for column in columns.values():
            column.validate(full=True)  # pyarrow's JSON reader does not check UTF-8
    except pa.ArrowInvalid:
        return None
    return pa.table({**columns, LINE: pa.array(lines.lines, pa.int64())})


def _peek_paths(data: bytes, lines: Lines, wanted: set[str]) -> dict[str, tuple[Path, pa.DataType]] | None:
    """Where each wanted name sits in the first lines and its Arrow type; None if those lines
    hold something the fast path cannot keep exactly (a float, a bad line)."""
    found: dict[str, tuple[Path, pa.DataType]] = {}
    for start, end in zip(lines.starts[:PEEK_LINES].tolist(), lines.ends[:PEEK_LINES].tolist(), strict=True):
        leaves, _ = _load(data[start:end])
        if leaves is None:
            return None
        for name, path, value in leaves:
            if name not in wanted or (value is None and name in found):
                continue
            if isinstance(value, _Float):
                return None
            kind = pa.bool_() if isinstance(value, bool) else pa.int64() if isinstance(value, _Int) else pa.string()
            found[name] = (path, kind)
    for name in wanted - set(found):
        found[name] = (tuple(name.split(".")), pa.string())
    return found


def _schema(paths: dict[str, tuple[Path, pa.DataType]]) -> pa.Schema | None:
    """Merges the wanted paths into one nested schema; None if two paths disagree on a node."""
    tree: dict = {}
    for path, kind in paths.values():
        node = tree
        for step in path[:-1]:
            if not _fits(node, step):
                return None
            node = node.setdefault(step, {})
            if not isinstance(node, dict):
                return None
        if not _fits(node, path[-1]):
            return None
        leaf = node.setdefault(path[-1], kind)
        if not isinstance(leaf, pa.DataType) or leaf != kind:
            return None
    return pa.schema([pa.field(key, _arrow_type(node)) for key, node in tree.items()])


def _fits(node: dict, step: str | int) -> bool:
    """A node is either an array (its one step is FIRST) or an object (keys only)."""
    return all(isinstance(key, int) == isinstance(step, int) for key in node)


def _arrow_type(node: dict | pa.DataType) -> pa.DataType:
    if isinstance(node, pa.DataType):
        return node
    if FIRST in node:
        return pa.list_(_arrow_type(node[FIRST]))
    return pa.struct([pa.field(key, _arrow_type(child)) for key, child in node.items()])


def _extract(table: pa.Table, path: Path) -> pa.Array:
    array = table.column(path[0]).combine_chunks()
    for step in path[1:]:
        if isinstance(step, int):
            has_first = pc.fill_null(pc.greater(pc.list_value_length(array), 0), False)
            array = pc.list_element(pc.if_else(has_first, array, pa.nulls(len(array), array.type)), 0)
        else:
            array = pc.struct_field(array, step)
    return array.cast(pa.string())


# --- JSON array ---------------------------------------------------------------------------------


def detect_array(sample: bytes) -> bool:
    """A JSON array whose first element is an object (or runs past the end of the sample)."""
    text = sample.removeprefix(UTF8_BOM).decode("utf-8", errors="replace")
    start = _skip_space(text, 0)
    if not text.startswith("[", start) or not text.startswith("{", _skip_space(text, start + 1)):
        return False
    _, value, reason, _ = next(_array_items(_Text.of(text)))
    return isinstance(value, dict) or reason == CUT_OFF


def columns_array(sample: bytes) -> list[str]:
    """Flattened names over the complete elements of the sample, in first-seen order."""
    text = sample.removeprefix(UTF8_BOM).decode("utf-8", errors="replace")
    names: dict[str, None] = {}
    for _, value, reason, _ in _array_items(_Text.of(text)):
        for name, _, _ in (_leaves(value) if isinstance(value, dict) and not reason else None) or []:
            names.setdefault(name)
    return list(names)


def parse_array(data: bytes, first_line: int, columns: list[str], wanted: dict[str, int]) -> ParsedRange:
    """Parses a whole JSON array file; ``_line`` is where each element's ``{`` is."""
    parts = list(stream_array(iter([data]), first_line, columns, wanted, batch_rows=1 << 62))
    return parts[0]


def stream_array(
    blocks: Iterator[bytes], first_line: int, columns: list[str], wanted: dict[str, int], batch_rows: int
) -> Iterator[ParsedRange]:
    """Parses a JSON array file from a stream of UTF-8 blocks, ``batch_rows`` elements at a time:
    memory holds one block, the element being read and one batch, however long the file."""
    names = _names(columns, wanted)
    text = _Text(blocks, first_line)
    rows, dead, read = _Rows(names), [], 0
    for line, value, reason, raw in _array_items(text):
        read += 1
        leaves = _leaves(value) if isinstance(value, dict) and not reason else None
        if leaves is None:
            dead.append((line, reason or TOO_DEEP, raw))
        else:
            rows.add(line, leaves)
        if read == batch_rows:
            yield ParsedRange(rows.table(), dead, read)
            rows, dead, read = _Rows(names), [], 0
    yield ParsedRange(rows.table(), dead, read)


class _Text:
    """Decoded text of a stream, held from the element being read on: ``more`` drops what is
    behind ``keep`` and decodes the next block (bytes cut mid-character wait for the rest).
    ``line_at`` counts newlines forward from the last position it was asked about."""

    def __init__(self, blocks: Iterator[bytes], first_line: int = 1) -> None:
        self._blocks = blocks
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = ""
        self.done = False
        self._line, self._mark = first_line, 0
        self.more(0)

    @classmethod
    def of(cls, text: str) -> _Text:
        whole = cls(iter(()))
        whole.text = text
        return whole

    def more(self, keep: int) -> bool:
        """Drops ``text[:keep]`` (callers shift their positions by ``keep``) and adds the next block
        with its first character removed if it is a BOM at the stream's start; False at the end."""
        if self.done:
            return False
        self.line_at(keep)
        block = next(self._blocks, None)
        self.done = block is None
        added = self._decoder.decode(block or b"", final=self.done)
        self.text, self._mark = self.text[keep:] + added, 0
        if not self.text.startswith("\ufeff") or self._line != 1:
            return True
        self.text = self.text[1:]
        return True

    def line_at(self, pos: int) -> int:
        self._line += self.text.count("\n", self._mark, pos)
        self._mark = pos
        return self._line

    def skip_space(self, pos: int) -> int:
        """Past the whitespace at ``pos``, reading on while the text ends in it."""
        while True:
            pos = _skip_space(self.text, pos)
            if pos < len(self.text) or not self.more(pos):
                return pos
            pos = 0

    def raw(self, start: int, end: int) -> str:
        return self.text[start : min(end, start + RAW_CAP)].rstrip()


def _array_items(t: _Text) -> Iterator[tuple[int, object, str, str]]:
    """Yields (line, value, dead-letter reason, raw text if dead) per element; several arrays may
    follow each other. Positions are into ``t.text`` and move back by what ``t.more`` drops."""
    pos = t.skip_space(0)
    while pos < len(t.text):
        if t.text[pos] != "[":
            yield t.line_at(pos), None, NOT_ARRAY, t.raw(pos, len(t.text))
            return
        pos = t.skip_space(pos + 1)
        while not t.text.startswith("]", pos):
            if pos >= len(t.text):
                yield t.line_at(pos), None, CUT_OFF, ""
                return
            start, line = pos, t.line_at(pos)
            try:
                value, pos = _DECODER.raw_decode(t.text, start)
                reason = "" if isinstance(value, dict) else NOT_OBJECT
                if pos == len(t.text) and t.more(start):
                    pos = 0  # a number may go on in the next block
                    continue
            except (json.JSONDecodeError, RecursionError) as err:
                stop = None if _runs_off_the_end(err, t.text) else _skip_broken(t.text, start)
                if stop is None and t.more(start):
                    pos = 0  # read on, then try the element again
                    continue
                if stop is None:
                    yield line, None, CUT_OFF, t.raw(start, len(t.text))
                    return
                value, pos = None, stop
                reason = _invalid(err) if isinstance(err, json.JSONDecodeError) else TOO_DEEP
            yield line, value, reason, t.raw(start, pos) if reason else ""
            pos = t.skip_space(pos)
            if t.text.startswith(",", pos):
                pos = t.skip_space(pos + 1)
            # Anything else is read as the next element: a missing comma costs nothing.
        pos = t.skip_space(pos + 1)


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _runs_off_the_end(err: json.JSONDecodeError | RecursionError, text: str) -> bool:
    """The decoder hit the end of the text (a string cannot hold a raw newline, so an open one
    is always at the end)."""
    if isinstance(err, RecursionError):
        return False
    return err.msg.startswith("Unterminated string") or not text[err.pos :].strip(" \t\n\r")


def _skip_broken(text: str, start: int) -> int | None:
    """Where a broken element ends: the ``,`` or ``]`` after it, counting brackets outside strings."""
    depth = 0
    for match in _STRUCTURE.finditer(text, start):
        token = match.group()
        if token in ("{", "["):
            depth += 1
        elif token in ("}", "]") and depth:
            depth -= 1
        elif token in (",", "]") and not depth:
            return match.start()
    return None
