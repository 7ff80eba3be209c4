"""The synthetic data behind the demo and the benchmarks looks like a real export where speed depends on it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transforms import read, synthetic


def _distinct_share(values: pa.ChunkedArray) -> float:
    return len(pc.unique(values)) / len(values)


def test_a_batch_of_dump_rows_holds_mostly_distinct_names_and_streets() -> None:
    """Names and streets are normalized once per distinct value of a batch: a dump that repeated them (as
    an early generator did, 1% distinct names) would flatter the benchmark."""
    table = synthetic.dump(synthetic.customers(100_000), read.BATCH_ROWS, 0.5).table
    assert _distinct_share(table.column(synthetic.DUMP_HEADERS["name"])) > 0.8
    assert _distinct_share(table.column(synthetic.DUMP_HEADERS["street"])) > 0.7
    assert _distinct_share(table.column(synthetic.DUMP_HEADERS["city"])) < 0.2  # towns repeat, as they do


def test_coined_pools_are_distinct_and_stable() -> None:
    for locale in synthetic.LOCALES:
        for pool, size in synthetic.POOL_SIZES.items():
            coined = synthetic._coined(locale, pool)
            assert len(pc.unique(coined)) == size
        assert synthetic._coined(locale, "last_names") != synthetic._coined(locale, "first_names")
    first = synthetic.customers(300)
    assert synthetic.customers(300).equals(first)
