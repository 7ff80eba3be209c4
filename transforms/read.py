"""Reading customer bases and dumps into Arrow record batches, with row accounting.

``inspect_inputs`` runs at launch (one clear error per bad file before any work);
``ReadRecords`` plans line-aligned byte ranges per file, reshuffles them so a
runner can spread one large file over workers, and parses each range.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms import delimited, storage
from transforms.errors import InputError
from transforms.fields import map_columns

SAMPLE_BYTES = 1 << 20
BLOCK_BYTES = 4 << 20
RANGE_BYTES = 16 << 20
BATCH_ROWS = 65536
SOURCE = "_source"
LINE = "_line"
DEAD_LETTER_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("line", pa.int64()), ("reason", pa.string()), ("raw", pa.string())]
)
_COMPRESSED = (".gz", ".bz2", ".zst", ".zip", ".xz", ".7z", ".rar")


@dataclass(frozen=True)
class InputSpec:
    """One input file as inspected at launch: format, layout and column mapping."""

    path: str
    size: int
    format: str  # "csv" or "parquet"
    delimiter: str
    columns: tuple[str, ...]
    mapping: tuple[tuple[str, int], ...]  # (field, column position)

    def field_columns(self) -> dict[str, str]:
        return {field: self.columns[i] for field, i in self.mapping}


def expand_paths(patterns: list[str], option: str) -> list[str]:
    """Expands globs; a pattern that matches nothing stops the run."""
    paths: list[str] = []
    for pattern in patterns:
        found = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
        if not found:
            raise InputError(f"{option}: {pattern} does not exist: check the path")
        paths.extend(found)
    return paths


def inspect_inputs(patterns: list[str], overrides: dict[str, str], option: str, fmt: str = "auto") -> list[InputSpec]:
    """Inspects every input at launch so bad files fail before the pipeline starts."""
    return [inspect_file(path, overrides, fmt) for path in expand_paths(patterns, option)]


def inspect_file(path: str, overrides: dict[str, str], fmt: str = "auto") -> InputSpec:
    size = storage.size(path)
    if path.lower().endswith(_COMPRESSED):
        raise InputError(f"{path}: compressed inputs are not supported yet: decompress it first")
    with storage.open_raw(path) as handle:
        head = handle.read(4)
        handle.seek(0)
        if fmt == "parquet" or (fmt == "auto" and head == b"PAR1"):
            return _inspect_parquet(path, size, handle, overrides)
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise InputError(f"{path} is empty: there is nothing to read")
    record = delimited.first_record(sample) or (sample if len(sample) == size else None)
    if record is None:
        raise InputError(f"{path}: no line ending in the first {SAMPLE_BYTES} bytes: is this a delimited text file?")
    delimiter = delimited.sniff_delimiter(record.removeprefix(delimited.UTF8_BOM).decode("utf-8", "replace"))
    columns = delimited.parse_header(record, delimiter)
    if len(sample) == size and len(delimited.find_records(sample, 1).starts) < 2:
        raise InputError(f"{path} has a header but no rows: there is nothing to read")
    return _spec(path, size, "csv", delimiter, columns, overrides)


def _inspect_parquet(path: str, size: int, handle: io.RawIOBase, overrides: dict[str, str]) -> InputSpec:
    try:
        meta = pq.ParquetFile(handle).metadata
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path}: not a readable Parquet file ({err})") from None
    if meta.num_rows == 0:
        raise InputError(f"{path} has no rows: there is nothing to read")
    return _spec(path, size, "parquet", "", list(meta.schema.to_arrow_schema().names), overrides)


def _spec(path: str, size: int, fmt: str, delimiter: str, columns: list[str], overrides: dict[str, str]) -> InputSpec:
    mapping = map_columns(columns, overrides, path)
    if not mapping or set(mapping) == {"customer_id"}:
        raise InputError(
            f"{path}: no column is recognised as a field (header: {columns}); "
            "name them with --columns email=<Header>,phone=<Header>,..."
        )
    positions = tuple(sorted((field, columns.index(col)) for field, col in mapping.items()))
    return InputSpec(path, size, fmt, delimiter, tuple(columns), positions)


@dataclass(frozen=True)
class RangeTask:
    """A piece of one input: a byte range (text) or a row group (Parquet)."""

    spec: InputSpec
    start: int
    end: int
    first_line: int


class PlanRangesFn(beam.DoFn):
    """Cuts each input into record-aligned ranges; one sequential scan finds line numbers."""

    def __init__(self, range_bytes: int) -> None:
        self._range_bytes = range_bytes

    def process(self, spec: InputSpec) -> Iterator[RangeTask]:
        with storage.open_raw(spec.path) as handle:
            if spec.format == "parquet":
                meta = pq.ParquetFile(handle).metadata
                first = 1
                for group in range(meta.num_row_groups):
                    yield RangeTask(spec, group, group + 1, first)
                    first += meta.row_group(group).num_rows
                return
            blocks = iter(lambda: handle.read(BLOCK_BYTES), b"")
            for start, end, line in delimited.plan_ranges(blocks, self._range_bytes):
                yield RangeTask(spec, start, end, line)


class ParseRangeFn(beam.DoFn):
    """Parses one range into record batches; bad records go to the ``dead`` output."""

    DEAD = "dead"
    STATS = "stats"

    def __init__(self, batch_rows: int) -> None:
        self._batch_rows = batch_rows
        self._read = Metrics.counter("dumpmatch", "rows_read")
        self._parsed = Metrics.counter("dumpmatch", "rows_parsed")
        self._dead = Metrics.counter("dumpmatch", "rows_dead_lettered")

    def process(self, task: RangeTask) -> Iterator:
        spec = task.spec
        wanted = {field: i for field, i in spec.mapping}
        if spec.format == "parquet":
            parsed = _read_row_group(task, wanted)
        else:
            with storage.open_raw(spec.path) as handle:
                handle.seek(task.start)
                data = handle.read(task.end - task.start)
            parsed = delimited.parse_range(
                data, task.first_line, spec.delimiter, len(spec.columns), wanted, has_header=task.start == 0
            )
        table = parsed.table
        self._read.inc(parsed.read)
        self._parsed.inc(table.num_rows)
        self._dead.inc(len(parsed.dead))
        yield beam.pvalue.TaggedOutput(
            self.STATS,
            {
                "inputs": {
                    spec.path: {
                        "rows_read": parsed.read,
                        "rows_parsed": table.num_rows,
                        "rows_dead_lettered": len(parsed.dead),
                        "headers": parsed.headers,
                    }
                }
            },
        )
        if parsed.dead:
            yield beam.pvalue.TaggedOutput(self.DEAD, _dead_table(spec.path, parsed.dead))
        source = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, np.int32)), pa.array([spec.path]))
        table = table.append_column(SOURCE, source)
        yield from table.to_batches(max_chunksize=self._batch_rows)


def _read_row_group(task: RangeTask, wanted: dict[str, int]) -> delimited.ParsedRange:
    spec = task.spec
    with storage.open_raw(spec.path) as handle:
        group = pq.ParquetFile(handle).read_row_group(task.start, columns=[spec.columns[i] for i in wanted.values()])
    columns = {field: group.column(spec.columns[i]).cast(pa.string()) for field, i in wanted.items()}
    lines = pa.array(np.arange(task.first_line, task.first_line + group.num_rows), pa.int64())
    return delimited.ParsedRange(pa.table({**columns, LINE: lines}), read=group.num_rows)


def _dead_table(path: str, dead: list[tuple[int, str, str]]) -> pa.Table:
    lines, reasons, raws = zip(*dead, strict=True)
    return pa.table(
        {"source_file": [path] * len(dead), "line": list(lines), "reason": list(reasons), "raw": list(raws)},
        schema=DEAD_LETTER_SCHEMA,
    )


class ReadRecords(beam.PTransform):
    """Inputs → record batches (``main``), dead-letter tables (``dead``), accounting (``stats``)."""

    def __init__(self, specs: list[InputSpec], range_bytes: int = RANGE_BYTES, batch_rows: int = BATCH_ROWS) -> None:
        super().__init__()
        self._specs = specs
        self._range_bytes = range_bytes
        self._batch_rows = batch_rows

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        return (
            pbegin
            | "Inputs" >> beam.Create(self._specs)
            | "PlanRanges" >> beam.ParDo(PlanRangesFn(self._range_bytes))
            | "Spread" >> beam.Reshuffle()
            | "Parse"
            >> beam.ParDo(ParseRangeFn(self._batch_rows)).with_outputs(
                ParseRangeFn.DEAD, ParseRangeFn.STATS, main="records"
            )
        )
