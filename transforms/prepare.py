"""Normalize then keyed-hash record batches: after this step no plaintext remains.

With fuzzy encoding on, the Hash step also adds each row's keyed fuzzy encodings (``fuzzy.py``), made
from the normalized values before they are dropped; ``fuzzy.exact_only`` removes them again.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
import pyarrow as pa

from transforms import fuzzy, hashing, normalize
from transforms.fields import CUSTOMER_ID
from transforms.read import LINE, SOURCE

_PASSTHROUGH = (SOURCE, LINE, CUSTOMER_ID)


def normalize_batch(batch: pa.RecordBatch, default_region: str | None) -> pa.RecordBatch:
    """Raw field strings → normalized strings (null = no usable value)."""
    raw = {name: batch.column(name) for name in batch.schema.names if name not in _PASSTHROUGH}
    columns = {name: batch.column(name) for name in _PASSTHROUGH if name in batch.schema.names}
    if CUSTOMER_ID in columns:
        columns[CUSTOMER_ID] = normalize.clean(columns[CUSTOMER_ID])
    columns.update(normalize.normalize_columns(raw, default_region))
    return pa.RecordBatch.from_pydict(columns)


def hash_batch(batch: pa.RecordBatch, key: hashing.Key, coder: fuzzy.RecordCoder | None = None) -> pa.RecordBatch:
    """Normalized strings → uint64 keyed digests (null where the value is missing), and with a ``coder``
    the rows' fuzzy encodings."""
    columns = {}
    for name in batch.schema.names:
        values = batch.column(name)
        if name in _PASSTHROUGH:
            columns[name] = values
            continue
        digests, valid = hashing.keyed_digests(key, name, values)
        columns[name] = pa.array(digests, pa.uint64(), mask=~valid)
    if coder is not None:
        plain = {name: batch.column(name) for name in fuzzy.FIELDS if name in batch.schema.names}
        columns.update(fuzzy.columns(coder.encode(plain, batch.num_rows)))
    return pa.RecordBatch.from_pydict(columns)


class NormalizeFn(beam.DoFn):
    def __init__(self, default_region: str | None) -> None:
        self._default_region = default_region

    def process(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        yield normalize_batch(batch, self._default_region)


class KeyedHashFn(beam.DoFn):
    """Loads the key once per worker in ``setup``; the key itself is never pickled."""

    def __init__(self, key_path: str, fuzzy_encode: bool = False) -> None:
        self._key_path = key_path
        self._fuzzy = fuzzy_encode
        self._key: hashing.Key | None = None
        self._coder: fuzzy.RecordCoder | None = None

    def setup(self) -> None:
        self._key = hashing.load_key(self._key_path)
        self._coder = fuzzy.RecordCoder(self._key) if self._fuzzy else None

    def process(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        assert self._key is not None
        yield hash_batch(batch, self._key, self._coder)


class Prepare(beam.PTransform):
    """Raw record batches → keyed-digest batches (with ``fuzzy_encode``, also the fuzzy encodings)."""

    def __init__(self, key_path: str, default_region: str | None, fuzzy_encode: bool = False) -> None:
        super().__init__()
        self._key_path = key_path
        self._default_region = default_region
        self._fuzzy = fuzzy_encode

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return (
            batches
            | "Normalize" >> beam.ParDo(NormalizeFn(self._default_region))
            | "Hash" >> beam.ParDo(KeyedHashFn(self._key_path, self._fuzzy))
        )
