"""The hot path's array steps equal numpy's own."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms import arrays


def test_unique_equals_numpy() -> None:
    rng = np.random.default_rng(7)
    for values in (rng.integers(0, 50, 1000), rng.integers(0, 2**63, 1000, dtype=np.int64).astype(np.uint64)):
        assert np.array_equal(arrays.unique(values), np.unique(values))
    assert arrays.unique(np.array([], np.int64)).size == 0


def test_first_appearances_are_each_codes_first_row() -> None:
    values = pa.array([None, "b", "a", "b", None, "c", "a"])
    codes = pc.fill_null(pc.dictionary_encode(values).indices, -1).to_numpy()
    _, expected = np.unique(codes, return_index=True)
    assert arrays.first_appearances(codes).tolist() == expected[1:].tolist() == [1, 2, 5]
    assert arrays.first_appearances(np.array([], np.int64)).size == 0


def test_run_starts_are_where_equal_values_begin() -> None:
    assert arrays.run_starts(np.array([1, 1, 2, 5, 5, 5, 7])).tolist() == [0, 2, 3, 6]
    assert arrays.run_starts(np.array([], np.uint64)).tolist() == []


def test_run_bounds_end_with_the_length() -> None:
    assert arrays.run_bounds(np.array([1, 1, 2, 5, 5, 5, 7])).tolist() == [0, 2, 3, 6, 7]
    assert arrays.run_bounds(np.array([4])).tolist() == [0, 1]
    assert arrays.run_bounds(np.array([], np.uint64)).tolist() == [0]
