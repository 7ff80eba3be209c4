"""Reading customer bases and dumps into Arrow record batches, with row accounting.

``inspect_inputs`` runs at launch: format, compression, encoding and column mapping
of every input, so a bad file stops the run with one line before any work.
``ReadRecords`` turns inputs into tasks — record-aligned byte ranges for plain
splittable text, Parquet row groups, or one whole-input stream for compressed,
zipped, UTF-16 and single-document formats — reshuffles them so a runner can
spread one large file over workers, and parses each task.
"""

from __future__ import annotations

import dataclasses
import logging
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from transforms import decode, delimited, formats, progress, storage
from transforms.errors import InputError
from transforms.fields import CUSTOMER_ID, fold_header, map_columns
from transforms.pieces import Piece
from transforms.sniff import looks_like, sniff_fields

SAMPLE_BYTES = 1 << 20
# Words in a header that, beside a phone-shaped sample, make its column the phone ("mobile_no"); not a bare
# "tel", which "hotel" holds.
PHONE_HEADER_WORDS = ("phone", "mobile", "cell", "msisdn", "telefon", "handy")
BLOCK_BYTES = 4 << 20
RANGE_BYTES = 16 << 20
BATCH_ROWS = 65536
WHOLE = -1  # RangeTask.end for a task that streams its whole input
SOURCE = "_source"
LINE = "_line"
DEAD_LETTER_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("line", pa.int64()), ("reason", pa.string()), ("raw", pa.string())]
)
DEFAULT_LIMITS = decode.Limits(max_ratio=1000.0, max_bytes=1 << 40)
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputSpec:
    """One input as inspected at launch: where it is, how it is encoded, how it maps."""

    path: str
    size: int
    format: str
    layout: formats.Layout
    mapping: tuple[tuple[str, int], ...]  # (field, column position)
    compression: str = "none"
    member: str | None = None  # zip member
    encoding: str = "utf-8"
    bare_cr: bool = False
    limits: decode.Limits = DEFAULT_LIMITS

    @property
    def label(self) -> str:
        """The name rows of this input carry as ``source_file``."""
        return f"{self.path}!{self.member}" if self.member else self.path

    @property
    def columns(self) -> tuple[str, ...]:
        return self.layout.columns

    @property
    def splittable(self) -> bool:
        """Whether byte ranges of the raw file can be parsed independently."""
        return (
            self.format != "parquet"
            and self.compression == "none"
            and formats.FORMATS[self.format].splittable
            and decode.byte_splittable(self.encoding)
            and not self.bare_cr
        )

    def field_columns(self) -> dict[str, str]:
        return {name: self.columns[i] for name, i in self.mapping}


def expand_paths(patterns: list[str], option: str) -> list[str]:
    """Expands globs; a pattern that matches nothing stops the run."""
    paths: list[str] = []
    for pattern in patterns:
        found = [m.path for m in storage.match(pattern)]
        if not found:
            raise InputError(f"{option}: {pattern} does not exist: check the path")
        paths.extend(found)
    return paths


def inspect_inputs(
    patterns: list[str],
    overrides: dict[str, str],
    option: str,
    fmt: str = "auto",
    limits: decode.Limits = DEFAULT_LIMITS,
    table: str | None = None,
) -> list[InputSpec]:
    """Inspects every input at launch so bad files fail before the pipeline starts."""
    specs = [
        spec for path in expand_paths(patterns, option) for spec in inspect_file(path, overrides, fmt, limits, table)
    ]
    for spec in specs:  # names and headers only: a log never holds a value
        _LOG.info(
            "%s: %s, %s, %s, fields %s", spec.label, spec.format, spec.compression, spec.encoding, spec.field_columns()
        )
    return specs


def inspect_file(
    path: str,
    overrides: dict[str, str],
    fmt: str = "auto",
    limits: decode.Limits = DEFAULT_LIMITS,
    table: str | None = None,
) -> list[InputSpec]:
    """One spec per readable input in the file (a zip archive gives one per member)."""
    size = storage.size(path)
    with storage.open_raw(path) as handle:
        head = handle.read(8)
        handle.seek(0)
        if fmt == "parquet" or (fmt == "auto" and head.startswith(b"PAR1")):
            return [_inspect_parquet(path, size, handle, overrides)]
        compression = decode.detect_compression(head)
        if compression == "zip":
            return _inspect_zip(path, handle, overrides, fmt, limits, table)
        sample = _sample(path, handle, compression, limits)
    return [_inspect_text(path, size, compression, None, sample, overrides, fmt, limits, table)]


def _sample(path: str, handle: BinaryIO, compression: str, limits: decode.Limits) -> bytes:
    if compression == "none":
        return handle.read(SAMPLE_BYTES)
    sample = b""
    try:
        for block in decode.decompress(handle, compression, limits):
            sample += block
            if len(sample) >= SAMPLE_BYTES:
                break
    except decode.Incomplete as err:
        if not sample:
            raise InputError(f"{path}: {err}: nothing in it could be read") from None
    return sample[:SAMPLE_BYTES]


def _inspect_zip(
    path: str, handle: BinaryIO, overrides: dict[str, str], fmt: str, limits: decode.Limits, table: str | None
) -> list[InputSpec]:
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile as err:
        raise InputError(f"{path}: zip archive is cut off or corrupt ({err}): nothing in it can be listed") from None
    specs = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise InputError(f"{path}: zip member {name!r} has an unsafe path; refusing the archive")
        try:
            limits.check(info.compress_size, info.file_size)
        except decode.Incomplete as err:
            raise InputError(f"{path}: zip member {name!r}: {err}") from None
        try:
            with archive.open(info) as member:
                sample = member.read(SAMPLE_BYTES)
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError):
            sample = b""
        specs.append(_inspect_text(path, info.compress_size, "zip", name, sample, overrides, fmt, limits, table))
    if not specs:
        raise InputError(f"{path}: zip archive holds no files")
    return specs


def _inspect_text(
    path: str,
    size: int,
    compression: str,
    member: str | None,
    sample: bytes,
    overrides: dict[str, str],
    fmt: str,
    limits: decode.Limits,
    table: str | None,
) -> InputSpec:
    label = f"{path}!{member}" if member else path
    if not sample.strip(b" \t\r\n\x00"):
        raise InputError(f"{label} is empty: there is nothing to read")
    encoding = decode.detect_encoding(sample)
    bare_cr = decode.has_bare_cr(sample)
    text = b"".join(decode.transcode(iter([sample]), encoding, bare_cr)).removeprefix(delimited.UTF8_BOM)
    name = formats.detect(text) if fmt == "auto" else fmt
    layout = dataclasses.replace(formats.layout(name, text, table), max_quoted_lines=limits.max_quoted_lines)
    mapping = map_columns(list(layout.columns), overrides, label)
    whole = compression == "none" and len(sample) < SAMPLE_BYTES
    if name == "csv" and not _known(mapping):
        layout, mapping = _headerless(text, layout, overrides, label)
    elif name in ("csv", "jsonl") and not overrides and not {"email", "phone"} <= set(mapping):
        mapping = {**_by_values(text, name, layout, mapping), **mapping}
    if name == "csv" and layout.has_header and whole and len(delimited.find_records(text, 1).starts) < 2:
        raise InputError(f"{label} has a header but no rows: there is nothing to read")
    if not _known(mapping):
        raise InputError(
            f"{label}: no column is recognised as a field (columns: {[c[:40] for c in layout.columns[:20]]}); "
            "name them with --columns email=<column>,phone=<column>,..."
        )
    positions = tuple(sorted((f, layout.columns.index(col)) for f, col in mapping.items()))
    return InputSpec(path, size, name, layout, positions, compression, member, encoding, bare_cr, limits)


def _by_values(text: bytes, name: str, layout: formats.Layout, mapping: dict[str, str]) -> dict[str, str]:
    """The e-mail and phone columns a header that names other fields left unnamed, found by the values of
    the sample's complete records: any column for e-mail ("contact_email", "login"); for phone only one
    whose header holds a phone word ("mobile_no", "home_phone"), since order or account numbers pass
    the phone-shape test too."""
    free = _names(layout) - set(mapping.values())
    unnamed = {f"c{i}": i for i, column in enumerate(layout.columns) if column in free}
    if not unnamed:
        return {}
    sample = formats.FORMATS[name].parse(text[: formats.complete_end(text)], 1, layout, unnamed, True, False).table

    def accepts(field: str, key: str) -> bool:
        header = fold_header(layout.columns[unnamed[key]])
        return field not in mapping and (field != "phone" or any(word in header for word in PHONE_HEADER_WORDS))

    found = sniff_fields(sample.select([key for key in unnamed if key in sample.column_names]), accepts)
    return {field: layout.columns[unnamed[key]] for field, key in found.items()}


def _names(layout: formats.Layout) -> set[str]:
    """The header's names that name one column each: an empty or repeated one cannot say which."""
    return {column for column in layout.columns if column and layout.columns.count(column) == 1}


def _known(mapping: dict[str, str]) -> bool:
    return bool(set(mapping) - {"customer_id"})


def _headerless(
    text: bytes, layout: formats.Layout, overrides: dict[str, str], label: str
) -> tuple[formats.Layout, dict[str, str]]:
    """No header name is one we know: the columns are found by their values. When the rows below the first
    show them and the first row's values there do not look like them ("user_mail" above e-mail addresses),
    the first row is a header in words no synonym knows, and stays the header; else, when all rows show
    them, every row is data, in columns named column1... (A header-less dump whose first row is garbage in
    every such column loses that row to the header count, where it is still accounted for.)"""
    columns = tuple(f"column{i + 1}" for i in range(len(layout.columns)))
    bare = formats.Layout(columns, delimiter=layout.delimiter, has_header=False)
    end = formats.complete_end(text)
    parsed = delimited.parse_range(
        text[:end], 1, bare.delimiter, len(columns), {c: i for i, c in enumerate(columns)}, has_header=False
    )
    sample = parsed.table.drop_columns([LINE])
    below = sniff_fields(sample.slice(1)) if sample.num_rows > 1 else {}
    first = sample.slice(0, 1)
    named = {field: layout.columns[columns.index(column)] for field, column in below.items()}
    header = not any(looks_like(field, first.column(column).combine_chunks()) for field, column in below.items())
    if below and header and set(named.values()) <= _names(layout):
        return layout, {**named, **map_columns(list(layout.columns), overrides, label)}
    sniffed = sniff_fields(sample)
    if not sniffed:
        return layout, {}
    return bare, {**sniffed, **map_columns(list(columns), overrides, label)}


def _inspect_parquet(path: str, size: int, handle: Any, overrides: dict[str, str]) -> InputSpec:
    try:
        meta = pq.ParquetFile(handle).metadata
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path}: not a readable Parquet file ({err})") from None
    if meta.num_rows == 0:
        raise InputError(f"{path} has no rows: there is nothing to read")
    columns = tuple(meta.schema.to_arrow_schema().names)
    mapping = map_columns(list(columns), overrides, path)
    if not _known(mapping):
        raise InputError(f"{path}: no column is recognised as a field (columns: {list(columns)[:20]}); use --columns")
    positions = tuple(sorted((f, columns.index(col)) for f, col in mapping.items()))
    return InputSpec(path, size, "parquet", formats.Layout(columns, has_header=False), positions)


@dataclass(frozen=True)
class RangeTask:
    """A piece of one input: a byte range, a Parquet row group, or the whole stream (end == WHOLE)."""

    spec: InputSpec
    start: int
    end: int
    first_line: int  # of prefix + range
    plain_lines: bool = False  # the planner saw no newline inside quotes in this range
    prefix: bytes = b""  # what the parser must read before the range (a SQL COPY header) ...
    suffix: bytes = b""  # ... and after it (the COPY end marker)
    oversized: bool = False  # one record longer than the input's max_record_bytes: dead-lettered unread


def sample_text(spec: InputSpec) -> bytes:
    """The first ~SAMPLE_BYTES of an input as UTF-8, the way the reader will see them."""
    text = b""
    with storage.open_raw(spec.path) as handle:
        for block in _stream_blocks(spec, handle, _Status()):
            text += block
            if len(text) >= SAMPLE_BYTES:
                break
    return text.removeprefix(delimited.UTF8_BOM)


class PlanTasksFn(beam.DoFn):
    """Cuts splittable inputs into record-aligned ranges; one sequential scan finds line numbers.

    For the inputs in ``hashed`` (labels: one input per file) it also emits the file's (path, SHA-256)
    as ``CHECKSUMS``, hashing the bytes the scan reads: a planned file is read once, not once more for
    its checksum (on one machine that is 1.8 s of 20M rows on one core, or a second download of a gs://
    dump)."""

    CHECKSUMS = "checksums"

    def __init__(self, range_bytes: int, hashed: frozenset[str] = frozenset()) -> None:
        self._range_bytes = range_bytes
        self._hashed = hashed

    def process(self, spec: InputSpec) -> Iterator[Any]:
        hashed = spec.label in self._hashed
        if spec.format == "parquet" or not spec.splittable:
            yield from whole_tasks(spec)
            if hashed:
                yield beam.pvalue.TaggedOutput(self.CHECKSUMS, (spec.path, storage.sha256(spec.path)))
            return
        fmt = formats.FORMATS[spec.format]
        with storage.open_raw(spec.path) as raw:
            handle = storage.HashingReader(raw) if hashed else raw
            for planned in fmt.ranges(handle, self._range_bytes, spec.layout, spec.limits.max_record_bytes):
                if isinstance(planned, delimited.Oversized):
                    yield RangeTask(spec, planned.start, planned.end, planned.line, oversized=True)
                else:
                    yield RangeTask(spec, *planned)
            if hashed:
                yield beam.pvalue.TaggedOutput(self.CHECKSUMS, (spec.path, handle.hexdigest()))


@dataclass
class _Status:
    """How a streamed input ended: complete, or why not."""

    reasons: list[str] = field(default_factory=list)


def _guarded(blocks: Iterator[bytes], status: _Status) -> Iterator[bytes]:
    """Ends the stream at a fault instead of raising, so rows before the cut are still parsed."""
    try:
        yield from blocks
    except decode.Incomplete as err:
        status.reasons.append(str(err))
    except (zipfile.BadZipFile, EOFError, zlib.error) as err:
        status.reasons.append(f"zip member is cut off or corrupt: {err}")


def _stream_blocks(spec: InputSpec, handle: BinaryIO, status: _Status) -> Iterator[bytes]:
    """Decoded UTF-8 blocks of a whole input: decompressed, transcoded, line ends fixed."""
    if spec.compression == "zip":
        archive = zipfile.ZipFile(handle)
        member = archive.open(spec.member or "")
        raw = _counted(iter(lambda: member.read(BLOCK_BYTES), b""), spec)
    elif spec.compression != "none":
        raw = decode.decompress(handle, spec.compression, spec.limits)
    else:
        raw = iter(lambda: handle.read(BLOCK_BYTES), b"")
    return decode.ahead(decode.transcode(_guarded(raw, status), spec.encoding, spec.bare_cr))


def _counted(blocks: Iterator[bytes], spec: InputSpec) -> Iterator[bytes]:
    """Bomb limits for zip members, whose inflater zipfile runs for us."""
    produced = 0
    for block in blocks:
        produced += len(block)
        spec.limits.check(spec.size, produced)
        yield block


def whole_tasks(spec: InputSpec) -> Iterator[RangeTask]:
    """Tasks that read an input from its start without a planning scan: its Parquet row groups, or one stream."""
    if spec.format != "parquet":
        yield RangeTask(spec, 0, WHOLE, 1)
        return
    with storage.open_raw(spec.path) as handle:
        meta = pq.ParquetFile(handle).metadata
    first = 1
    for group in range(meta.num_row_groups):
        yield RangeTask(spec, group, group + 1, first)
        first += meta.row_group(group).num_rows


def parse_task(
    task: RangeTask,
    range_bytes: int,
    status: _Status | None = None,
    consumed: Callable[[int], None] = lambda _: None,
    buffer: bytearray | None = None,
) -> Iterator[delimited.ParsedRange]:
    """Parses one task piece by piece. ``status`` learns why a stream ended early; ``consumed`` hears how
    many of the input's bytes each piece used once the caller is done with it (the task's whole share in
    the end), for progress. A byte range is read into ``buffer`` when it fits, which a caller that parses
    many ranges keeps: a fresh 16 MiB string per range costs page faults as long as the parse. (Never
    resized: after a failed parse pyarrow's read-ahead may still hold a view of it for a moment.)"""
    spec = task.spec
    status = _Status() if status is None else status
    wanted = dict(spec.mapping)
    if spec.format == "parquet":
        parsed, groups = _read_row_group(task, wanted)
        yield parsed
        consumed(spec.size * task.end // groups - spec.size * task.start // groups)
        return
    fmt = formats.FORMATS[spec.format]
    cap = spec.limits.max_record_bytes
    with storage.open_raw(spec.path) as handle:
        if task.oversized:
            handle.seek(task.start)
            head = decode.to_utf8(handle.read(delimited.HEAD_BYTES), spec.encoding)
            record = delimited.Oversized(task.first_line, task.start, task.end, head)
            yield delimited.oversized_range(record, cap, wanted)
            consumed(task.end - task.start)
            return
        if task.end != WHOLE:
            yield _parse_range(handle, task, wanted, bytearray() if buffer is None else buffer)
            consumed(task.end - task.start)
            return
        blocks = _stream_blocks(spec, handle, status)
        start = done = handle.tell()  # a zip member's data begins past its header
        if fmt.stream is not None:
            parsed_pieces = fmt.stream(blocks, spec.layout, wanted, BATCH_ROWS)
        else:
            parsed_pieces = _parse_pieces(fmt.pieces(blocks, range_bytes, spec.layout, cap), spec, wanted)
        for parsed in parsed_pieces:
            position = min(handle.tell(), start + spec.size)
            yield parsed
            consumed(position - done)
            done = position
        consumed(start + spec.size - done)


def _parse_range(handle: Any, task: RangeTask, wanted: dict[str, int], buffer: bytearray) -> delimited.ParsedRange:
    """Reads a range into ``buffer`` and parses it there when the format can, else from a copy."""
    spec, size = task.spec, task.end - task.start
    if len(buffer) < size:  # a range longer than planned for (a long record): a buffer of its own
        buffer = bytearray(size)
    handle.seek(task.start)
    with memoryview(buffer)[:size] as view:
        done = 0
        while done < size and (count := handle.readinto(view[done:])):
            done += count
        fmt, at_start = formats.FORMATS[spec.format], task.start == 0
        args = (task.first_line, spec.layout, wanted, at_start, task.plain_lines)
        if fmt.parse_view and not (task.prefix or task.suffix) and decode.is_utf8(spec.encoding):
            return fmt.parse_view(view[:done], *args)
        data = decode.to_utf8(task.prefix + bytes(view[:done]) + task.suffix, spec.encoding)
    return fmt.parse(data, *args)


def _parse_pieces(
    pieces: Iterator[Piece | delimited.Oversized], spec: InputSpec, wanted: dict[str, int]
) -> Iterator[delimited.ParsedRange]:
    fmt = formats.FORMATS[spec.format]
    for piece in pieces:
        if isinstance(piece, delimited.Oversized):
            yield delimited.oversized_range(piece, spec.limits.max_record_bytes, wanted)
            continue
        at = piece.at
        data = piece.data().removeprefix(delimited.UTF8_BOM) if at.start == 0 else piece.data()
        yield fmt.parse(data, at.first_line, spec.layout, wanted, at.start == 0, at.plain)


class ParseTaskFn(beam.DoFn):
    """Parses one task into record batches; bad records go to the ``dead`` output. Counts go to Beam's
    metrics and, given ``progress_folder`` (a folder on this machine), to the launcher's progress line."""

    DEAD = "dead"
    STATS = "stats"

    def __init__(self, batch_rows: int, range_bytes: int, progress_folder: str | None = None) -> None:
        self._batch_rows = batch_rows
        self._range_bytes = range_bytes
        self._progress_folder = progress_folder
        self._read = Metrics.counter("dumpmatch", "rows_read")
        self._parsed = Metrics.counter("dumpmatch", "rows_parsed")
        self._dead = Metrics.counter("dumpmatch", "rows_dead_lettered")
        self._bytes = Metrics.counter("dumpmatch", "bytes_read")
        self._tally = progress.Tally(None)

    def setup(self) -> None:
        self._tally = progress.Tally(self._progress_folder)
        self._buffer = delimited.range_buffer(self._range_bytes)  # ranges are read into it (see ``parse_task``)

    def process(self, task: RangeTask) -> Iterator[Any]:
        status = _Status()
        for parsed in parse_task(task, self._range_bytes, status, self._consumed, self._buffer):
            yield from self._emit(task.spec, parsed)
        if status.reasons:
            yield beam.pvalue.TaggedOutput(self.STATS, {"inputs": {task.spec.label: {"incomplete": status.reasons}}})

    def finish_bundle(self) -> None:
        self._tally.flush()

    def _consumed(self, size: int) -> None:
        self._bytes.inc(size)
        self._tally.add(size_bytes=size)

    def _emit(self, spec: InputSpec, parsed: delimited.ParsedRange) -> Iterator[Any]:
        table = parsed.table
        self._read.inc(parsed.read)
        self._parsed.inc(table.num_rows)
        self._dead.inc(len(parsed.dead))
        self._tally.add(rows=parsed.read)
        counts = {
            "rows_read": parsed.read,
            "rows_parsed": table.num_rows,
            "rows_dead_lettered": len(parsed.dead),
            "headers": parsed.headers,
        }
        yield beam.pvalue.TaggedOutput(self.STATS, {"inputs": {spec.label: counts}, "fields": present_counts(table)})
        if parsed.dead:
            yield beam.pvalue.TaggedOutput(self.DEAD, dead_table(spec.label, parsed.dead))
        source = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, np.int32)), pa.array([spec.label]))
        yield from table.append_column(SOURCE, source).to_batches(max_chunksize=self._batch_rows)


def _read_row_group(task: RangeTask, wanted: dict[str, int]) -> tuple[delimited.ParsedRange, int]:
    """The task's row group, and how many row groups the file has."""
    spec = task.spec
    with storage.open_raw(spec.path) as handle:
        parquet = pq.ParquetFile(handle)
        group = parquet.read_row_group(task.start, columns=[spec.columns[i] for i in wanted.values()])
    columns = {name: group.column(spec.columns[i]).cast(pa.string()) for name, i in wanted.items()}
    lines = pa.array(np.arange(task.first_line, task.first_line + group.num_rows), pa.int64())
    return delimited.ParsedRange(pa.table({**columns, LINE: lines}), read=group.num_rows), parquet.num_row_groups


def present_counts(table: pa.Table) -> dict[str, dict[str, int]]:
    """Non-empty raw values per field: normalization's rejects are the difference (plausibility)."""
    counts = {}
    for name in table.column_names:
        if name not in (LINE, SOURCE, CUSTOMER_ID):
            non_empty = pc.greater(pc.binary_length(table.column(name)), 0)
            counts[name] = {"raw": int(pc.sum(non_empty).as_py() or 0)}
    return counts


def dead_table(label: str, dead: list[tuple[int, str, str]]) -> pa.Table:
    lines, reasons, raws = zip(*dead, strict=True)
    return pa.table(
        {"source_file": [label] * len(dead), "line": list(lines), "reason": list(reasons), "raw": list(raws)},
        schema=DEAD_LETTER_SCHEMA,
    )


class Read(NamedTuple):
    """What ``ReadRecords`` gives."""

    records: beam.PCollection  # record batches
    dead: beam.PCollection  # dead-letter tables
    stats: beam.PCollection  # accounting
    checksums: beam.PCollection  # (path, SHA-256) of every input file, when asked for; else empty


class ReadRecords(beam.PTransform):
    """Inputs → record batches, dead-letter tables, accounting and, with ``checksums``, each file's
    SHA-256 for the manifest (hashed while planning reads it)."""

    def __init__(
        self,
        specs: list[InputSpec],
        range_bytes: int = RANGE_BYTES,
        batch_rows: int = BATCH_ROWS,
        progress_folder: str | None = None,
        checksums: bool = False,
    ) -> None:
        super().__init__()
        self._specs = specs
        self._range_bytes = range_bytes
        self._batch_rows = batch_rows
        self._progress_folder = progress_folder
        self._checksums = checksums

    def expand(self, pbegin: beam.pvalue.PBegin) -> Read:
        first: dict[str, str] = {}  # one input per file hashes it (a zip's members share their file)
        for spec in self._specs if self._checksums else []:
            first.setdefault(spec.path, spec.label)
        planned = (
            pbegin
            | "Inputs" >> beam.Create(self._specs)
            | "PlanTasks"
            >> beam.ParDo(PlanTasksFn(self._range_bytes, frozenset(first.values()))).with_outputs(
                PlanTasksFn.CHECKSUMS, main="tasks"
            )
        )
        parsed = (
            planned.tasks
            | "Spread" >> beam.Reshuffle()
            | "Parse"
            >> beam.ParDo(ParseTaskFn(self._batch_rows, self._range_bytes, self._progress_folder)).with_outputs(
                ParseTaskFn.DEAD, ParseTaskFn.STATS, main="records"
            )
        )
        return Read(parsed.records, parsed[ParseTaskFn.DEAD], parsed[ParseTaskFn.STATS], planned[PlanTasksFn.CHECKSUMS])
