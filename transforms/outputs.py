"""Writing result tables as deterministic Parquet shards (same rows → same bytes), and optionally one CSV
per table for people who open results in a spreadsheet.

Dump rows in those tables are hostile input: a cell such as ``=HYPERLINK(...)`` or ``@SUM(...)`` would
run as a formula when the CSV is opened. The CSV neutralizes every text cell a spreadsheet would evaluate
by prefixing ``'`` (OWASP's advice for CSV injection); the Parquet files keep the dump's exact bytes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zlib
from collections.abc import Iterable, Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from transforms import storage

# What makes a spreadsheet cell a formula or a command: the ASCII triggers, tab and CR (which some
# importers strip before the trigger), and the full-width forms some locales' spreadsheets accept.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
NEUTRALIZER = "'"
LIST_SEPARATOR = ";"
UTF8_BOM = b"\xef\xbb\xbf"  # so spreadsheets read the CSV as UTF-8, not the local legacy code page


ROW_GROUP_ROWS = 65_536  # rows per Parquet row group: the layout depends on the rows, never on the batches
PARTS = ".parts"


def shard_name(prefix: str, shard: int, shards: int) -> str:
    return f"{prefix}-{shard:05d}-of-{shards:05d}.parquet"


def _shard_of(table: pa.Table, shards: int) -> int:
    """Stable across processes (Python's str hash is salted per process)."""
    first = f"{table.column('source_file')[0].as_py()}:{table.column('line')[0].as_py()}"
    return zlib.crc32(first.encode("utf-8")) % shards


PartKey = tuple[str, int, str]  # first row's source_file and line, then the part's content hash


class WritePartFn(beam.DoFn):
    """Writes each table as it comes, sorted, to a part file: only its path crosses the shuffle, so
    memory does not grow with the number of result rows (the in-process runner buffers what a stage
    boundary carries)."""

    def __init__(self, folder: str, prefix: str, shards: int, sort_keys: list[str]) -> None:
        self._folder = folder
        self._prefix = prefix
        self._shards = shards
        self._sort_keys = sort_keys

    def process(self, table: pa.Table) -> Iterator[tuple[int, tuple[PartKey, str]]]:
        if table.num_rows == 0:
            return
        table = table.sort_by([(key, "ascending") for key in self._sort_keys])
        data = storage.parquet_bytes(table)
        digest = hashlib.sha256(data).hexdigest()[:32]
        path = storage.join(self._folder, PARTS, f"{self._prefix}-{digest}.parquet")
        storage.write_bytes(path, data)
        first = (table.column("source_file")[0].as_py(), table.column("line")[0].as_py(), digest)
        yield _shard_of(table, self._shards), (first, path)


class WriteShardFn(beam.DoFn):
    """Streams a shard's parts, in order of their first row, into one Parquet file of fixed-size row
    groups (same rows → same bytes, however they were batched), then removes the parts."""

    def __init__(self, folder: str, prefix: str, schema: pa.Schema, shards: int) -> None:
        self._folder = folder
        self._prefix = prefix
        self._schema = schema
        self._shards = shards

    def process(self, element: tuple[int, tuple[Iterable[int], Iterable[tuple[PartKey, str]]]]) -> Iterator[str]:
        shard, (_, parts) = element
        ordered = [path for _, path in sorted(parts)]
        path = storage.join(self._folder, shard_name(self._prefix, shard, self._shards))
        storage.write_parquet_stream(path, self._schema, _row_groups(ordered, self._schema))
        for part in ordered:
            storage.delete_tree(part)
        yield path


def _row_groups(parts: list[str], schema: pa.Schema) -> Iterator[pa.Table]:
    """The parts' rows in order, cut into tables of ROW_GROUP_ROWS (the last one shorter), at least one."""
    pending, rows, emitted = [schema.empty_table()], 0, False
    for part in parts:
        table = storage.read_parquet(part).cast(schema)
        pending.append(table)
        rows += table.num_rows
        while rows >= ROW_GROUP_ROWS:
            joined = pa.concat_tables(pending)
            yield joined.slice(0, ROW_GROUP_ROWS)
            emitted = True
            pending, rows = [joined.slice(ROW_GROUP_ROWS)], rows - ROW_GROUP_ROWS
    if rows or not emitted:
        yield pa.concat_tables(pending)


class WriteTables(beam.PTransform):
    """Writes every shard, empty ones included, so readers always find the schema; with ``csv``, also that
    CSV file of all rows. Rows are sorted within each input table, tables in order of their first row.
    Outputs the paths written."""

    def __init__(
        self,
        folder: str,
        prefix: str,
        schema: pa.Schema,
        shards: int,
        sort_keys: list[str],
        csv: str | None = None,
    ) -> None:
        super().__init__()
        if shards < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self._folder, self._prefix, self._schema, self._shards = folder, prefix, schema, shards
        self._sort_keys = sort_keys
        self._csv = csv

    def expand(self, tables: beam.PCollection) -> beam.PCollection:
        parts = tables | "WriteParts" >> beam.ParDo(
            WritePartFn(self._folder, self._prefix, self._shards, self._sort_keys)
        )
        every = tables.pipeline | "EveryShard" >> beam.Create([(i, i) for i in range(self._shards)])
        written = (
            {"shard": every, "parts": parts}
            | "GroupShards" >> beam.CoGroupByKey()
            | "Unpack" >> beam.MapTuple(lambda shard, groups: (shard, (groups["shard"], groups["parts"])))
            | "WriteShards" >> beam.ParDo(WriteShardFn(self._folder, self._prefix, self._schema, self._shards))
        )
        if self._csv is None:
            return written
        csv = (
            tables.pipeline
            | "CsvSeed" >> beam.Create([None])
            | "WriteCsv" >> beam.Map(write_csv, self._csv, beam.pvalue.AsList(written))
        )
        return (written, csv) | "AllFiles" >> beam.Flatten()


def neutralize(values: pa.Array) -> pa.Array:
    """Text cells that a spreadsheet would evaluate (after leading spaces) get a leading ``'``."""
    text = values.cast(pa.string())
    lead = pc.utf8_ltrim(text, " ")
    risky = functools.reduce(pc.or_, (pc.starts_with(lead, prefix) for prefix in FORMULA_PREFIXES))
    return pc.if_else(pc.fill_null(risky, False), pc.binary_join_element_wise(NEUTRALIZER, text, ""), text)


def csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Lists joined with ``;`` and every text cell neutralized; numbers and booleans as they are."""
    columns = []
    for column in batch.columns:
        if pa.types.is_list(column.type):
            column = pc.binary_join(column.cast(pa.list_(pa.string())), LIST_SEPARATOR)
        if pa.types.is_string(column.type):
            column = neutralize(column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def write_csv(_: None, path: str, shards: list[str]) -> str:
    """One CSV from a table's Parquet shards, in shard order, streamed batch by batch; every cell quoted."""
    ordered = sorted(shards)
    with storage.open_write(path) as sink:
        sink.write(UTF8_BOM)
        with storage.open_raw(ordered[0]) as handle:
            schema = pq.ParquetFile(handle).schema_arrow
        sink.write(_csv_bytes(csv_ready(pa.RecordBatch.from_pylist([], schema=schema)), header=True))
        for shard in ordered:
            with storage.open_raw(shard) as handle:
                for batch in pq.ParquetFile(handle).iter_batches():
                    sink.write(_csv_bytes(csv_ready(batch), header=False))
    return path


def _csv_bytes(batch: pa.RecordBatch, header: bool) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(batch, sink, pacsv.WriteOptions(include_header=header, quoting_style="all_valid"))
    return sink.getvalue()
