"""The dump formats we read: detection order, and one parse signature for all of them.

Each format module is pure (bytes in, ``ParsedRange`` out); this registry adapts them so
the readers in ``read.py`` need no per-format code.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from transforms import combo, decode, delimited, jsonlines, sqldump
from transforms.pieces import Piece, Range

# (data, first line, layout, wanted columns, at the input's start, every newline ends a record)
Parse = Callable[[bytes, int, "Layout", dict[str, int], bool, bool], delimited.ParsedRange]
ParseView = Callable[[bytes | memoryview, int, "Layout", dict[str, int], bool, bool], delimited.ParsedRange]
# (UTF-8 blocks, target piece bytes, layout) -> pieces that ``Parse`` reads on their own
Chunk = Callable[[Iterator[bytes], int, "Layout"], Iterator[Piece]]
# (UTF-8 blocks, layout, wanted columns, rows per batch) -> parsed batches, for formats read by one reader
Stream = Callable[[Iterator[bytes], "Layout", dict[str, int], int], Iterator[delimited.ParsedRange]]


@dataclass(frozen=True)
class Layout:
    """What a parser needs to know about one input beyond its bytes."""

    columns: tuple[str, ...]
    delimiter: str = ","
    has_header: bool = True
    table: str | None = None
    max_quoted_lines: int = decode.MAX_QUOTED_LINES


@dataclass(frozen=True)
class Format:
    name: str
    splittable: bool  # a plain file may be planned into ranges (``ranges``)
    parse: Parse
    chunks: Chunk | None = None  # cuts a stream into pieces, unless ``quoting`` or ``stream`` is set
    stream: Stream | None = None  # reads a whole input itself, instead of ``chunks`` + ``parse``
    quoting: Callable[[Layout], delimited.Quoting | None] | None = None  # set for text records (CSV, lines)
    parse_view: ParseView | None = None  # ``parse`` that also takes a view of a reused UTF-8 read buffer

    def pieces(
        self, blocks: Iterator[bytes], target: int, layout: Layout, cap: int | None = None
    ) -> Iterator[Piece | delimited.Oversized]:
        """Pieces of a stream; a text record (CSV, lines) longer than ``cap`` comes as ``Oversized``."""
        if self.quoting is not None:
            return delimited.chunks(blocks, target, self.quoting(layout), cap)
        if self.chunks is None:
            raise ValueError(f"{self.name} is read by one streaming reader, not in pieces")
        return self.chunks(blocks, target, layout)

    def ranges(
        self, handle: io.BufferedIOBase, target: int, layout: Layout, cap: int | None = None
    ) -> Iterator[tuple[int, int, int, bool] | Range | delimited.Oversized]:
        """The pieces of a plain file, as byte ranges; text records are planned without copying blocks."""
        if self.quoting is not None:
            return delimited.plan_file(handle, target, self.quoting(layout), cap)
        blocks = iter(lambda: handle.read(BLOCK_BYTES), b"")
        return (piece.at for piece in self.pieces(blocks, target, layout) if isinstance(piece, Piece))


def _csv(
    data: bytes | memoryview, first_line: int, layout: Layout, wanted: dict[str, int], at_start: bool, plain_lines: bool
) -> delimited.ParsedRange:
    parsed = delimited.parse_range(
        data,
        first_line,
        layout.delimiter,
        len(layout.columns),
        wanted,
        has_header=layout.has_header and at_start,
        plain_lines=plain_lines,
        max_quoted_lines=layout.max_quoted_lines,
    )
    return _repeated_headers_to_dead(parsed, layout, wanted) if layout.has_header else parsed


def _repeated_headers_to_dead(
    parsed: delimited.ParsedRange, layout: Layout, wanted: dict[str, int]
) -> delimited.ParsedRange:
    """Concatenated exports repeat their header mid-file: that is not a person."""
    table = parsed.table
    if not wanted or table.num_rows == 0:
        return parsed
    (first, i), *others = wanted.items()
    repeated = pc.fill_null(pc.equal(table.column(first), layout.columns[i]), False).to_numpy()
    if not repeated.any():  # one column rules it out for (nearly) every range
        return parsed
    for name, i in others:
        repeated &= pc.fill_null(pc.equal(table.column(name), layout.columns[i]), False).to_numpy()
    if not repeated.any():
        return parsed
    lines = table.column("_line").to_numpy()[repeated].tolist()
    raw = layout.delimiter.join(layout.columns)
    dead = parsed.dead + [(line, "repeated header", raw) for line in lines]
    return delimited.ParsedRange(table.filter(pa.array(~repeated)), sorted(dead), parsed.read, parsed.headers)


def _lines(parse: Callable[[bytes, int, list[str], dict[str, int]], delimited.ParsedRange]) -> Parse:
    def adapted(
        data: bytes, first_line: int, layout: Layout, wanted: dict[str, int], _: bool, __: bool
    ) -> delimited.ParsedRange:
        return parse(data, first_line, list(layout.columns), wanted)

    return adapted


def _sql(parse: Callable[..., delimited.ParsedRange]) -> Parse:
    def adapted(
        data: bytes, first_line: int, layout: Layout, wanted: dict[str, int], _: bool, __: bool
    ) -> delimited.ParsedRange:
        return parse(data, first_line, list(layout.columns), wanted, layout.table)

    return adapted


def _csv_quoting(layout: Layout) -> delimited.Quoting:
    return delimited.Quoting(layout.delimiter, layout.max_quoted_lines)


def _no_quoting(_: Layout) -> None:
    return None


def _statement_chunks(blocks: Iterator[bytes], target: int, layout: Layout) -> Iterator[Piece]:
    return sqldump.statement_chunks(blocks, target, layout.table)


def _copy_chunks(blocks: Iterator[bytes], target: int, layout: Layout) -> Iterator[Piece]:
    return sqldump.copy_chunks(blocks, target, layout.table)


def _json_stream(
    blocks: Iterator[bytes], layout: Layout, wanted: dict[str, int], batch_rows: int
) -> Iterator[delimited.ParsedRange]:
    return jsonlines.stream_array(blocks, 1, list(layout.columns), wanted, batch_rows)


FORMATS = {
    "csv": Format("csv", True, _csv, quoting=_csv_quoting, parse_view=_csv),
    "jsonl": Format("jsonl", jsonlines.SPLITTABLE, _lines(jsonlines.parse), quoting=_no_quoting),
    "json": Format("json", False, _lines(jsonlines.parse_array), stream=_json_stream),
    "combo": Format("combo", combo.SPLITTABLE, _lines(combo.parse), quoting=_no_quoting),
    "mysql": Format("mysql", True, _sql(sqldump.parse_mysql), _statement_chunks),
    "pgdump": Format("pgdump", True, _sql(sqldump.parse_pgdump), _copy_chunks),
}
TABLE_SNIFF_LINES = 20
BLOCK_BYTES = 4 << 20  # read size when planning SQL dumps


FORMAT_NAMES = ("auto", "csv", "jsonl", "json", "combo", "mysql", "pgdump", "parquet")


def detect(sample: bytes) -> str:
    """Format from content; the first detector that accepts the sample wins, CSV last."""
    for name, accepts in (
        ("mysql", sqldump.detect_mysql),
        ("pgdump", sqldump.detect_pgdump),
        ("json", jsonlines.detect_array),
        ("jsonl", jsonlines.detect),
    ):
        if accepts(sample):
            return name
    return "combo" if combo.detect(sample) and not _table_like(sample) else "csv"


def _table_like(sample: bytes) -> bool:
    """Lines of three or more columns, the same number on each: a header-less CSV, not a combo list."""
    lines = sample[: complete_end(sample)].decode("utf-8", "replace").splitlines()[:TABLE_SNIFF_LINES]
    if not lines:
        return False
    delimiter = delimited.sniff_delimiter(lines[0])
    widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
    return len(widths) == 1 and widths.pop() >= 3


def layout(name: str, sample: bytes, table: str | None) -> Layout:
    """Columns (and CSV delimiter/header) found in a UTF-8 sample of an input."""
    if name == "csv":
        return _csv_layout(sample)
    if name in ("mysql", "pgdump"):
        # Chosen once here and passed to every parse, so all tasks read the same table.
        tables = (sqldump.tables_mysql if name == "mysql" else sqldump.tables_pgdump)(sample)
        chosen = table or (max(tables, key=lambda t: tables[t]) if tables else None)
        columns = (sqldump.columns_mysql if name == "mysql" else sqldump.columns_pgdump)(sample, chosen)
        return Layout(tuple(columns), table=chosen)
    columns_of = {"jsonl": jsonlines.columns, "json": jsonlines.columns_array, "combo": combo.columns}[name]
    return Layout(tuple(columns_of(sample)), has_header=False)


def complete_end(sample: bytes) -> int:
    """End of the last complete line of a sample (a sample may stop mid-record)."""
    return sample.rfind(b"\n") + 1 or len(sample)


def _csv_layout(sample: bytes) -> Layout:
    record = delimited.first_record(sample) or sample
    text = record.removeprefix(delimited.UTF8_BOM).decode("utf-8", "replace")
    delimiter = delimited.sniff_delimiter(text)
    header = delimited.parse_header(record, delimiter)
    return Layout(tuple(header), delimiter=delimiter)
