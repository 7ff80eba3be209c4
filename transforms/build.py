"""Building a bundle from digest batches: sketches by CombineFns, the index by field."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms import bundle, sketches, storage
from transforms.combiners import BloomCombineFn, HllCombineFn, MinHashCombineFn
from transforms.fields import CUSTOMER_ID, file_name
from transforms.read import LINE, SOURCE

_NOT_FIELDS = (SOURCE, LINE, CUSTOMER_ID)
INDEX_PARTS = "index-parts"  # staged per-batch index pieces, merged per field and removed


def field_digests(batch: pa.RecordBatch) -> Iterator[tuple[str, np.ndarray]]:
    """(field, present digests) for every field column of a batch."""
    for name in batch.schema.names:
        if name not in _NOT_FIELDS:
            yield name, pc.drop_null(batch.column(name)).to_numpy()


def index_rows(batch: pa.RecordBatch) -> Iterator[tuple[str, pa.Table]]:
    """(field, table of digest → customer_id) for every field column of a batch."""
    for name, digests in field_digests(batch):
        valid = batch.column(name).is_valid()
        ids = batch.column(CUSTOMER_ID).filter(valid)
        yield name, pa.table({"digest": pa.array(digests, pa.uint64()), "customer_id": ids}, schema=bundle.INDEX_SCHEMA)


def customer_ids(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Fills missing customer ids with ``<file name>:<line>`` so every row can be named."""
    file_names = pc.replace_substring_regex(pc.cast(batch.column(SOURCE), pa.string()), r"^.*/", "")
    fallback = pc.binary_join_element_wise(file_names, pc.cast(batch.column(LINE), pa.string()), ":")
    ids = pc.coalesce(batch.column(CUSTOMER_ID), fallback) if CUSTOMER_ID in batch.schema.names else fallback
    columns = {name: batch.column(name) for name in batch.schema.names if name != CUSTOMER_ID}
    return pa.RecordBatch.from_pydict({**columns, CUSTOMER_ID: ids})


class WriteIndexPartFn(beam.DoFn):
    """Writes each batch's (digest, customer) pairs of one field as a staged part file as they stream
    by, so no step ever holds a whole field's pairs in a group (memory stays flat with base size)."""

    def __init__(self, bundle_path: str) -> None:
        self._bundle_path = bundle_path

    def process(self, element: tuple[str, pa.Table]) -> Iterator[tuple[str, str]]:
        field, table = element
        if table.num_rows == 0:
            return
        first = f"{table.column('customer_id')[0].as_py()}|{table.num_rows}|{field}"
        name = f"part-{zlib.crc32(first.encode('utf-8')):08x}-{table.num_rows}.parquet"
        path = storage.join(self._bundle_path, INDEX_PARTS, file_name(field), name)
        storage.write_parquet(path, table)
        yield field, path


class MergeIndexFn(beam.DoFn):
    """One field at a time: reads its parts, sorts, drops duplicate pairs, writes the index file."""

    def __init__(self, bundle_path: str) -> None:
        self._bundle_path = bundle_path

    def process(self, element: tuple[str, Iterable[str]]) -> Iterator[tuple[str, dict[str, Any]]]:
        field, parts = element
        paths = sorted(parts)
        table = pa.concat_tables([bundle.INDEX_SCHEMA.empty_table(), *(storage.read_parquet(p) for p in paths)])
        rows = table.num_rows
        table = _sorted_unique_pairs(table)
        storage.write_parquet(bundle.index_path(self._bundle_path, field), table)
        storage.delete_tree(storage.join(self._bundle_path, INDEX_PARTS, file_name(field)))
        digests = table.column("digest").to_numpy()
        distinct = int(np.count_nonzero(digests[1:] != digests[:-1])) + 1 if digests.size else 0
        yield field, {"values": rows, "distinct": distinct}


def _sorted_unique_pairs(table: pa.Table) -> pa.Table:
    """Sorted by (digest, customer_id) with repeated pairs dropped: a sort and one comparison of
    neighbours, where a hash aggregation would cost several times the field's size in memory."""
    table = table.sort_by([("digest", "ascending"), ("customer_id", "ascending")]).combine_chunks()
    if table.num_rows < 2:
        return table
    digests = table.column("digest").to_numpy()
    ids = table.column("customer_id").combine_chunks()
    same_id = pc.fill_null(pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1)), False).to_numpy(zero_copy_only=False)
    repeated = (digests[1:] == digests[:-1]) & same_id
    return table.filter(pa.array(np.concatenate([[True], ~repeated])))


class WriteSketchFn(beam.DoFn):
    """Writes one field's sketch in its versioned envelope and reports its numbers."""

    def __init__(self, bundle_path: str, kind: str, fingerprint: str) -> None:
        self._bundle_path = bundle_path
        self._kind = kind
        self._fingerprint = fingerprint

    def process(self, element: tuple[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        field, sketch = element
        path = bundle.sketch_path(self._bundle_path, self._kind, field)
        storage.write_bytes(path, sketches.encode(self._kind, field, self._fingerprint, sketch))
        if self._kind == "hll":
            yield field, {"distinct_estimate": round(sketch.count())}
        elif self._kind == "bloom":
            yield field, {"bloom": {"m": sketch.m, "k": sketch.k, "fpr": sketch.false_positive_rate()}}


def _merge_dicts(dicts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in dicts:
        out.update(d)
    return out


class BuildBundle(beam.PTransform):
    """Digest batches → bundle files; outputs (field, numbers) for the manifest."""

    def __init__(self, bundle_path: str, fingerprint: str, capacity: int, fpr: float, with_index: bool = True) -> None:
        super().__init__()
        self._with_index = with_index
        self._path = bundle_path
        self._fingerprint = fingerprint
        self._capacity = capacity
        self._fpr = fpr

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        digests = batches | "FieldDigests" >> beam.FlatMap(field_digests)
        numbers = []
        for kind, combine in (
            ("hll", HllCombineFn()),
            ("minhash", MinHashCombineFn()),
            ("bloom", BloomCombineFn(self._capacity, self._fpr)),
        ):
            numbers.append(
                digests
                | f"Combine{kind.title()}" >> beam.CombinePerKey(combine)
                | f"Write{kind.title()}" >> beam.ParDo(WriteSketchFn(self._path, kind, self._fingerprint))
            )
        if self._with_index:
            numbers.append(
                batches
                | "IndexRows" >> beam.FlatMap(index_rows)
                | "WriteIndexParts" >> beam.ParDo(WriteIndexPartFn(self._path))
                | "PartsByField" >> beam.GroupByKey()
                | "MergeIndex" >> beam.ParDo(MergeIndexFn(self._path))
            )
        return tuple(numbers) | "AllNumbers" >> beam.Flatten() | "NumbersByField" >> beam.CombinePerKey(_merge_dicts)
