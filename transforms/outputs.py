"""Writing result tables as deterministic Parquet shards: same rows → same bytes."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import apache_beam as beam
import pyarrow as pa

from transforms import storage


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
    """Writes every shard, empty ones included, so readers always find the schema."""

    def __init__(self, folder: str, prefix: str, schema: pa.Schema, shards: int, sort_keys: list[str]) -> None:
        super().__init__()
        if shards < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self._args = (folder, prefix, schema, shards, sort_keys)

    def expand(self, tables: beam.PCollection) -> beam.PCollection:
        shards = self._args[3]
        keyed = tables | "KeyByShard" >> beam.Map(lambda t: (_shard_of(t, shards), t))
        every = tables.pipeline | "EveryShard" >> beam.Create([(i, i) for i in range(shards)])
        return (
            {"shard": every, "tables": keyed}
            | "GroupShards" >> beam.CoGroupByKey()
            | "Unpack" >> beam.MapTuple(lambda shard, groups: (shard, (groups["shard"], groups["tables"])))
            | "WriteShards" >> beam.ParDo(WriteShardFn(*self._args))
        )
