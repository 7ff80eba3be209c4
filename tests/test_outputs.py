"""WriteTables: result rows stream through part files into fixed-size row groups, so the bytes depend on
the rows alone (not on how they were batched) and memory on one table at a time."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms import outputs

SCHEMA = pa.schema([("source_file", pa.string()), ("line", pa.int64()), ("customer_id", pa.string())])
ROWS = 2_500


def _table(lines: range) -> pa.Table:
    return pa.table(
        {"source_file": ["d.csv"] * len(lines), "line": list(lines), "customer_id": [f"c{n % 97}" for n in lines]},
        schema=SCHEMA,
    )


def _write(test_pipeline: Callable[[], beam.Pipeline], folder: Path, tables: list[pa.Table], shards: int) -> None:
    with test_pipeline() as p:
        _ = (
            p
            | beam.Create(tables, reshuffle=False)
            | outputs.WriteTables(str(folder), "rows", SCHEMA, shards, ["source_file", "line", "customer_id"])
        )


def _batched() -> list[pa.Table]:
    """The same rows in five tables, given in reverse: the shard writer orders parts by their first row."""
    cuts = [0, 10, 700, 1_900, ROWS]
    return [_table(range(a, b)) for a, b in itertools.pairwise(cuts)][::-1]


def test_same_rows_give_the_same_bytes_however_batched(
    test_pipeline: Callable[[], beam.Pipeline], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs, "ROW_GROUP_ROWS", 1_000)
    _write(test_pipeline, tmp_path / "one", [_table(range(ROWS))], 1)
    _write(test_pipeline, tmp_path / "many", _batched(), 1)
    name = outputs.shard_name("rows", 0, 1)
    assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes()
    assert not [p for p in (tmp_path / "many").rglob("*") if p.is_file() and outputs.PARTS in p.parts]


def test_shards_hold_every_row_once_and_repeat_byte_for_byte(
    test_pipeline: Callable[[], beam.Pipeline], tmp_path: Path
) -> None:
    for attempt in ("a", "b"):
        _write(test_pipeline, tmp_path / attempt, _batched(), 3)
    names = [outputs.shard_name("rows", i, 3) for i in range(3)]
    assert sorted(p.name for p in (tmp_path / "a").glob("*.parquet")) == names
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    rows = pa.concat_tables(pq.read_table(tmp_path / "a" / name) for name in names)
    assert sorted(rows.column("line").to_pylist()) == list(range(ROWS))


def test_row_groups_have_a_fixed_size(
    test_pipeline: Callable[[], beam.Pipeline], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs, "ROW_GROUP_ROWS", 1_000)
    _write(test_pipeline, tmp_path, [_table(range(0, 1_300)), _table(range(1_300, ROWS))], 1)
    meta = pq.read_metadata(tmp_path / outputs.shard_name("rows", 0, 1))
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1_000, 1_000, 500]
    assert pq.read_table(tmp_path / outputs.shard_name("rows", 0, 1)).column("line").to_pylist() == list(range(ROWS))


def test_no_rows_still_write_every_shard_with_the_schema(
    test_pipeline: Callable[[], beam.Pipeline], tmp_path: Path
) -> None:
    _write(test_pipeline, tmp_path, [SCHEMA.empty_table()], 2)
    for shard in range(2):
        table = pq.read_table(tmp_path / outputs.shard_name("rows", shard, 2))
        assert table.num_rows == 0 and table.schema == SCHEMA
