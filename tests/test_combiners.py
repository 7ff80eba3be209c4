"""CombineFns: splitting the input across accumulators gives the same sketch; real pipeline."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
from apache_beam.testing.util import assert_that, equal_to

from transforms import arrays
from transforms.combiners import BloomCombineFn, CustomersNamedFn, HllCombineFn, MinHashCombineFn, SumStatsFn


def _chunks() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 2**64, 500, dtype=np.uint64) for _ in range(4)]


def _split_combine(fn: beam.CombineFn, chunks: list[np.ndarray]):  # type: ignore[no-untyped-def]
    left = fn.add_input(fn.add_input(fn.create_accumulator(), chunks[0]), chunks[1])
    right = fn.add_input(fn.add_input(fn.create_accumulator(), chunks[2]), chunks[3])
    return fn.extract_output(fn.merge_accumulators([left, right]))


def _one_pass(fn: beam.CombineFn, chunks: list[np.ndarray]):  # type: ignore[no-untyped-def]
    return fn.extract_output(fn.add_input(fn.create_accumulator(), np.concatenate(chunks)))


def test_hll_combine_is_order_free() -> None:
    chunks = _chunks()
    assert np.array_equal(_split_combine(HllCombineFn(), chunks).reg, _one_pass(HllCombineFn(), chunks).reg)


def test_minhash_combine_is_order_free() -> None:
    chunks = _chunks()
    split, whole = _split_combine(MinHashCombineFn(), chunks), _one_pass(MinHashCombineFn(), chunks)
    assert np.array_equal(split.hashvalues, whole.hashvalues)


def test_bloom_combine_is_order_free() -> None:
    chunks = _chunks()
    fn = BloomCombineFn(2000, 0.01)
    assert np.array_equal(_split_combine(fn, chunks).bits, _one_pass(BloomCombineFn(2000, 0.01), chunks).bits)


def test_customers_named_are_counted_exactly_across_batches_and_workers() -> None:
    """A customer named in several batches, or by both workers' accumulators, counts once."""
    rng = np.random.default_rng(5)
    batches = [arrays.unique(rng.integers(0, 150_000, 40_000)) for _ in range(5)]
    fn = CustomersNamedFn(150_000)
    left = fn.create_accumulator()
    for codes in batches[:4]:
        left = fn.add_input(left, codes)
    right = fn.add_input(fn.create_accumulator(), np.concatenate([batches[4], batches[0][:100]]))
    assert fn.extract_output(fn.merge_accumulators([left, right])) == arrays.unique(np.concatenate(batches)).size
    assert fn.extract_output(fn.create_accumulator()) == 0


def test_sum_stats_adds_nested_counters() -> None:
    fn = SumStatsFn()
    acc = fn.add_input(fn.create_accumulator(), {"a": 1, "f": {"x": {"n": 2}}})
    other = fn.add_input(fn.create_accumulator(), {"a": 2, "f": {"x": {"n": 3}, "y": {"n": 1}}})
    assert fn.extract_output(fn.merge_accumulators([acc, other])) == {"a": 3, "f": {"x": {"n": 5}, "y": {"n": 1}}}


def test_combiners_in_a_pipeline(test_pipeline) -> None:  # type: ignore[no-untyped-def]
    chunks = _chunks()
    expected = round(_one_pass(HllCombineFn(), chunks).count())
    with test_pipeline() as p:
        counts = (
            p
            | beam.Create([("email", c) for c in chunks])
            | beam.CombinePerKey(HllCombineFn())
            | beam.MapTuple(lambda field, hll: (field, round(hll.count())))
        )
        assert_that(counts, equal_to([("email", expected)]))
    assert abs(expected - 2000) < 2000 * 0.05
