"""Writing result tables as deterministic Parquet shards (same rows → same bytes), and optionally one CSV
per table for people who open results in a spreadsheet.

Dump rows in those tables are hostile input: a cell such as ``=HYPERLINK(...)`` or ``@SUM(...)`` would
run as a formula when the CSV is opened. The CSV neutralizes every text cell a spreadsheet would evaluate
by prefixing ``'`` (OWASP's advice for CSV injection); the Parquet files keep the dump's exact bytes.
"""

from __future__ import annotations

import functools
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


def shard_name(prefix: str, shard: int, shards: int) -> str:
    return f"{prefix}-{shard:05d}-of-{shards:05d}.parquet"


def _shard_of(table: pa.Table, shards: int) -> int:
    """Stable across processes (Python's str hash is salted per process)."""
    first = f"{table.column('source_file')[0].as_py()}:{table.column('line')[0].as_py()}"
    return zlib.crc32(first.encode("utf-8")) % shards


class WriteShardFn(beam.DoFn):
    def __init__(self, folder: str, prefix: str, schema: pa.Schema, shards: int, sort_keys: list[str]) -> None:
        self._folder = folder
        self._prefix = prefix
        self._schema = schema
        self._shards = shards
        self._sort_keys = sort_keys

    def process(self, element: tuple[int, tuple[Iterable[int], Iterable[pa.Table]]]) -> Iterator[str]:
        shard, (_, tables) = element
        table = pa.concat_tables([self._schema.empty_table(), *tables])
        table = table.sort_by([(key, "ascending") for key in self._sort_keys])
        path = storage.join(self._folder, shard_name(self._prefix, shard, self._shards))
        storage.write_parquet(path, table)
        yield path


class WriteTables(beam.PTransform):
    """Writes every shard, empty ones included, so readers always find the schema; with ``csv``, also that
    CSV file of all rows. Outputs the paths written."""

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
        self._args = (folder, prefix, schema, shards, sort_keys)
        self._csv = csv

    def expand(self, tables: beam.PCollection) -> beam.PCollection:
        shards = self._args[3]
        keyed = tables | "KeyByShard" >> beam.Map(lambda t: (_shard_of(t, shards), t))
        every = tables.pipeline | "EveryShard" >> beam.Create([(i, i) for i in range(shards)])
        written = (
            {"shard": every, "tables": keyed}
            | "GroupShards" >> beam.CoGroupByKey()
            | "Unpack" >> beam.MapTuple(lambda shard, groups: (shard, (groups["shard"], groups["tables"])))
            | "WriteShards" >> beam.ParDo(WriteShardFn(*self._args))
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
