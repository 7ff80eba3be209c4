"""A registered dump's keyed digests per row, so reverification probes them instead of parsing the dump.

A full run of a registered dump also writes, beside its run folder, what ``Prepare`` made of every row:

    <cache folder>/
      digests/<part>.parquet   _source, _line and one uint64 keyed digest per field (null: no value);
                               one part per prepared batch, named by its input and first line
      sketches/<kind>/<field>.bin  the dump's own MinHash and HyperLogLog per field (sketch envelope):
                               functions of its digests alone, so a cached run does not rebuild them
      cache.json               written last (no cache.json: not a cache): key fingerprint, phone region
                               and tool version it is valid for, the inputs' size and SHA-256, how they
                               were read (InputSpec), the read accounting, the parts, and the dead-letter
                               files of the run that wrote it

No plaintext: digests are keyed, and the dump's unparseable lines stay in that run's dead letters, which
a cached run copies. ``ReadDigestCache`` gives the match graph what reading and ``Prepare`` would: the
same digest batches for the same ``ProbeFn``, the same dead letters, the original read accounting and
the dump's own sketches, so report.json's numbers are those of a full run.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
from datasketch import HyperLogLogPlusPlus, MinHash

from transforms import __version__, decode, formats, sketches, storage
from transforms.fields import CUSTOMER_ID, file_name
from transforms.probe import DUMP
from transforms.read import BATCH_ROWS, LINE, SOURCE, InputSpec

FORMAT = "dumpmatch-digest-cache"
FORMAT_VERSION = 1
META = "cache.json"
DIGESTS = "digests"
SKETCHES = "sketches"
SOURCE_NAME_HEX = 16


def spec_to_json(spec: InputSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)


def spec_from_json(data: dict[str, Any]) -> InputSpec:
    """The inverse of spec_to_json (JSON turns tuples into lists)."""
    layout = data["layout"]
    return InputSpec(
        path=data["path"],
        size=data["size"],
        format=data["format"],
        layout=formats.Layout(tuple(layout["columns"]), layout["delimiter"], layout["has_header"], layout["table"]),
        mapping=tuple((name, position) for name, position in data["mapping"]),
        compression=data["compression"],
        member=data["member"],
        encoding=data["encoding"],
        bare_cr=data["bare_cr"],
        limits=decode.Limits(**data["limits"]),
    )


def meta(
    fingerprint: str,
    region: str | None,
    inputs: list[dict[str, Any]],
    specs: list[InputSpec],
    read_stats: dict[str, Any],
    parts: list[str],
    dead_letter: list[str],
    sketch_files: dict[str, dict[str, str]],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "key_fingerprint": fingerprint,
        "default_region": region,
        "tool_version": __version__,
        "inputs": inputs,
        "specs": [spec_to_json(spec) for spec in specs],
        "read_stats": read_stats,
        "parts": sorted(parts),
        "dead_letter": sorted(dead_letter),
        "sketches": sketch_files,
    }


def write_sketches(
    folder: str, fingerprint: str, minhashes: dict[str, MinHash], distinct: dict[str, HyperLogLogPlusPlus]
) -> dict[str, dict[str, str]]:
    """The dump's per-field MinHash and HyperLogLog; returns their paths relative to ``folder``."""
    files: dict[str, dict[str, str]] = {}
    for field in sorted(minhashes):
        files[field] = {}
        for kind, sketch in (("minhash", minhashes[field]), ("hll", distinct[field])):
            relative = f"{SKETCHES}/{kind}/{file_name(field)}.bin"
            storage.write_bytes(storage.join(folder, relative), sketches.encode(kind, field, fingerprint, sketch))
            files[field][kind] = relative
    return files


def read_meta(folder: str) -> dict[str, Any] | None:
    """The cache's description, or None when the folder holds no finished cache of this format."""
    try:
        data = storage.read_json(storage.join(folder, META))
    except (FileNotFoundError, ValueError):
        return None
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        return None
    return data


def valid_for(data: dict[str, Any], fingerprint: str, region: str | None, inputs: list[dict[str, Any]]) -> bool:
    """A cache answers only for its key, phone region, tool version (normalization) and input bytes."""
    return (
        data["key_fingerprint"] == fingerprint
        and data["default_region"] == region
        and data["tool_version"] == __version__
        and [(i["path"], i["sha256"]) for i in data["inputs"]] == [(i["path"], i["sha256"]) for i in inputs]
        and all(storage.exists(path) for path in data["dead_letter"])
    )


def part_name(batch: pa.RecordBatch) -> str:
    """Stable across reruns: the batch's input (hashed: a path may hold any character) and first line."""
    source = str(batch.column(SOURCE)[0].as_py())
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:SOURCE_NAME_HEX]
    return f"{DIGESTS}/{digest}-{batch.column(LINE)[0].as_py():012d}.parquet"


class WritePartFn(beam.DoFn):
    """Stores one prepared batch (keyed digests, _source, _line; never the dump's customer ids)."""

    def __init__(self, folder: str) -> None:
        self._folder = folder

    def process(self, batch: pa.RecordBatch) -> Iterator[str]:
        if not batch.num_rows:
            return
        table = pa.Table.from_batches([batch])
        if CUSTOMER_ID in table.column_names:
            table = table.drop_columns([CUSTOMER_ID])
        relative = part_name(batch)
        storage.write_parquet(storage.join(self._folder, relative), table)
        yield relative


class WriteDigestCache(beam.PTransform):
    """Prepared batches → their parts under ``folder``; outputs the parts' relative paths."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self._folder = folder

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "WriteParts" >> beam.ParDo(WritePartFn(self._folder))


class ReadPartFn(beam.DoFn):
    def __init__(self, folder: str, batch_rows: int) -> None:
        self._folder = folder
        self._batch_rows = batch_rows

    def process(self, relative: str) -> Iterator[pa.RecordBatch]:
        yield from storage.read_parquet(storage.join(self._folder, relative)).to_batches(self._batch_rows)


def _sketch(field: str, folder: str, data: dict[str, Any], kind: str) -> tuple[str, Any]:
    payload = storage.read_bytes(storage.join(folder, data["sketches"][field][kind]))
    return field, sketches.decode(payload, kind, field, data["key_fingerprint"])


def _non_empty(path: str) -> Iterator[pa.Table]:
    table = storage.read_parquet(path)
    if table.num_rows:
        yield table


class ReadDigestCache(beam.PTransform):
    """The cache → (digest batches, dead-letter tables, read accounting, (field, MinHash),
    ((DUMP, field), HyperLogLog)): what ReadRecords, Prepare and the dump's sketches give a full run."""

    def __init__(self, folder: str, data: dict[str, Any], batch_rows: int = BATCH_ROWS) -> None:
        super().__init__()
        self._folder = folder
        self._data = data
        self._batch_rows = batch_rows

    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[beam.PCollection, ...]:
        digests = (
            pbegin
            | "Parts" >> beam.Create(self._data["parts"])
            | "Spread" >> beam.Reshuffle()
            | "ReadParts" >> beam.ParDo(ReadPartFn(self._folder, self._batch_rows))
        )
        dead = (
            pbegin
            | "DeadLetterFiles" >> beam.Create(self._data["dead_letter"])
            | "ReadDeadLetters" >> beam.FlatMap(_non_empty)
        )
        stats = pbegin | "ReadAccounting" >> beam.Create([self._data["read_stats"]])
        fields = pbegin | "Fields" >> beam.Create(sorted(self._data["sketches"]))
        minhash = fields | "ReadMinHash" >> beam.Map(_sketch, self._folder, self._data, "minhash")
        distinct = (
            fields
            | "ReadHll" >> beam.Map(_sketch, self._folder, self._data, "hll")
            | "AsDumpDistinct" >> beam.MapTuple(lambda field, hll: ((DUMP, field), hll))
        )
        return digests, dead, stats, minhash, distinct
