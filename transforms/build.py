"""Building a bundle from digest batches: sketches by CombineFns, the index by field."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms import arrays, bundle, sketches, storage
from transforms.combiners import BloomCombineFn, HllCombineFn, MinHashCombineFn
from transforms.errors import InputError
from transforms.fields import CUSTOMER_ID, file_name
from transforms.read import LINE, SOURCE

_NOT_FIELDS = (SOURCE, LINE, CUSTOMER_ID)
INDEX_PARTS = "index-parts"  # staged per-batch index pieces, merged per field and removed
CUSTOMERS = "customers"  # the staged customer parts' key, beside the fields'
PART_SCHEMA = pa.schema([("digest", pa.uint64()), ("customer", pa.uint64())])  # customer: its hash
CUSTOMER_SCHEMA = pa.schema([("hash", pa.uint64()), ("customer_id", pa.string())])


def field_digests(batch: pa.RecordBatch) -> Iterator[tuple[str, np.ndarray]]:
    """(field, present digests) for every field column of a batch."""
    for name in batch.schema.names:
        if name not in _NOT_FIELDS:
            yield name, pc.drop_null(batch.column(name)).to_numpy()


def index_rows(batch: pa.RecordBatch) -> Iterator[tuple[str, pa.Table]]:
    """(field, table of digest → customer hash) for every field column of a batch."""
    hashes = bundle.customer_hashes(batch.column(CUSTOMER_ID))
    for name, digests in field_digests(batch):
        valid = batch.column(name).is_valid().to_numpy(zero_copy_only=False)
        yield name, pa.table({"digest": digests, "customer": hashes[valid]}, schema=PART_SCHEMA)


def customer_rows(batch: pa.RecordBatch) -> tuple[str, pa.Table]:
    """The batch's customers as (hash, id), staged for the one customer table the codes point into."""
    ids = batch.column(CUSTOMER_ID)
    return CUSTOMERS, pa.table({"hash": bundle.customer_hashes(ids), "customer_id": ids}, schema=CUSTOMER_SCHEMA)


def customer_ids(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Fills missing customer ids with ``<file name>:<line>`` so every row can be named."""
    file_names = pc.replace_substring_regex(pc.cast(batch.column(SOURCE), pa.string()), r"^.*/", "")
    fallback = pc.binary_join_element_wise(file_names, pc.cast(batch.column(LINE), pa.string()), ":")
    ids = pc.coalesce(batch.column(CUSTOMER_ID), fallback) if CUSTOMER_ID in batch.schema.names else fallback
    columns = {name: batch.column(name) for name in batch.schema.names if name != CUSTOMER_ID}
    return pa.RecordBatch.from_pydict({**columns, CUSTOMER_ID: ids})


class WritePartFn(beam.DoFn):
    """Writes each batch's pairs of one field (or its customers) as a staged part file as they stream
    by, so no step ever holds a whole field's pairs in a group (memory stays flat with base size)."""

    def __init__(self, bundle_path: str) -> None:
        self._bundle_path = bundle_path

    def process(self, element: tuple[str, pa.Table]) -> Iterator[tuple[str, str]]:
        key, table = element
        # An empty part is written too (one small file, the same for every empty batch), so that a field
        # whose every value was rejected still gets its merge and an empty index file.
        first = f"{table.column(0)[0].as_py()}|{table.column(1)[0].as_py()}" if table.num_rows else "empty"
        first = f"{first}|{table.num_rows}|{key}"
        name = f"part-{zlib.crc32(first.encode('utf-8')):08x}-{table.num_rows}.parquet"
        path = storage.join(self._bundle_path, INDEX_PARTS, file_name(key), name)
        storage.write_parquet(path, table)
        yield key, path


def merge_customers(bundle_path: str, parts: Iterable[str]) -> str:
    """Writes the customer table, sorted by customer hash so that a customer's code is its row; returns
    its path. Two ids with one hash (about 1 in 10^6 at 5M customers) stop the run rather than merge."""
    table = pa.concat_tables([CUSTOMER_SCHEMA.empty_table(), *(storage.read_parquet(p) for p in sorted(parts))])
    order = np.argsort(table.column("hash").to_numpy(), kind="stable")
    table = table.take(pa.array(order))
    hashes, ids = table.column("hash").to_numpy(), table.column("customer_id").combine_chunks()
    repeated = hashes[1:] == hashes[:-1]
    other_id = pc.not_equal(ids.slice(1), ids.slice(0, max(len(ids) - 1, 0))).to_numpy(zero_copy_only=False)
    if (repeated & other_id).any():
        raise InputError(
            "two customer ids share a 64-bit hash in this customer base, so their index codes would merge; "
            "rename one of them (or report it: it is a one-in-a-million event)"
        )
    unique = table.take(pa.array(arrays.run_starts(hashes)))
    path = bundle.customers_path(bundle_path)
    storage.write_parquet(path, unique)
    storage.delete_tree(storage.join(bundle_path, INDEX_PARTS, file_name(CUSTOMERS)))
    return path


class MergeIndexFn(beam.DoFn):
    """One field at a time: reads its parts, codes customers by their row in the customer table, sorts,
    drops duplicate pairs, writes the index file. Integer codes make the sort numeric and spare every
    match worker from coding customer-id strings when it loads the index."""

    def __init__(self, bundle_path: str) -> None:
        self._bundle_path = bundle_path

    def process(self, element: tuple[str, Iterable[str]], customers: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``customers``: the customer table's path, a side input so that it is written first."""
        field, parts = element
        known = storage.read_parquet(customers, ["hash"]).column(0).to_numpy()
        table = pa.concat_tables([PART_SCHEMA.empty_table(), *(storage.read_parquet(p) for p in sorted(parts))])
        digests = table.column("digest").to_numpy()
        codes = _codes(known, table.column("customer").to_numpy())
        order = pc.sort_indices(
            pa.table({"digest": digests, "customer": codes}),
            sort_keys=[("digest", "ascending"), ("customer", "ascending")],
        ).to_numpy()
        del table
        digests, codes = digests[order], codes[order]
        keep = np.concatenate([[True], (digests[1:] != digests[:-1]) | (codes[1:] != codes[:-1])])[: digests.size]
        index = pa.table({"digest": digests[keep], "customer": codes[keep]}, schema=bundle.INDEX_SCHEMA)
        storage.write_parquet(bundle.index_path(self._bundle_path, field), index)
        storage.delete_tree(storage.join(self._bundle_path, INDEX_PARTS, file_name(field)))
        distinct = int(np.count_nonzero(digests[1:] != digests[:-1])) + 1 if digests.size else 0
        yield field, {"values": int(order.size), "distinct": distinct}


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


def _codes(known: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Each customer hash's row in the sorted ``known`` hashes. The needles are sorted first: searching
    in order walks memory in order, 5x faster than random probes of a table larger than the cache."""
    order = np.argsort(hashes)
    codes = np.empty(hashes.size, np.int32)
    codes[order] = np.searchsorted(known, hashes[order])
    return codes


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
            customer_parts = (
                batches
                | "CustomerRows" >> beam.Map(customer_rows)
                | "WriteCustomerParts" >> beam.ParDo(WritePartFn(self._path))
                | "CustomerPartPaths" >> beam.Values()
            )
            customers = (
                batches.pipeline
                | "CustomerSeed" >> beam.Create([self._path])
                | "MergeCustomers" >> beam.Map(merge_customers, beam.pvalue.AsList(customer_parts))
            )
            numbers.append(
                batches
                | "IndexRows" >> beam.FlatMap(index_rows)
                | "WriteIndexParts" >> beam.ParDo(WritePartFn(self._path))
                | "PartsByField" >> beam.GroupByKey()
                | "MergeIndex" >> beam.ParDo(MergeIndexFn(self._path), beam.pvalue.AsSingleton(customers))
            )
        return tuple(numbers) | "AllNumbers" >> beam.Flatten() | "NumbersByField" >> beam.CombinePerKey(_merge_dicts)
