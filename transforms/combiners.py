"""CombineFns that build sketches from batches of digests, mergeable across workers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from datasketch import HyperLogLogPlusPlus, MinHash

from transforms import sketches


class HllCombineFn(beam.CombineFn):
    """Distinct count of digests; the accumulator is the register array."""

    def create_accumulator(self) -> np.ndarray:
        return sketches.new_hll().reg

    def add_input(self, acc: np.ndarray, digests: np.ndarray) -> np.ndarray:
        hll = sketches.hll_from_registers(acc)
        sketches.hll_update(hll, digests)
        return hll.reg

    def merge_accumulators(self, accs: Iterable[np.ndarray]) -> np.ndarray:
        return np.maximum.reduce(list(accs))

    def extract_output(self, acc: np.ndarray) -> HyperLogLogPlusPlus:
        return sketches.hll_from_registers(acc)


class CustomersNamedFn(beam.CombineFn):
    """How many distinct customers the exact candidates name (the probe's customer codes: rows of the
    bundle's customer table), exactly: a flag per customer, so the accumulator is as large as the base (a
    byte a customer), never as the dump or the number named."""

    def __init__(self, customers: int) -> None:
        self._customers = customers  # at least the customer table's rows: the customers the bundle parsed

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(self._customers, bool)

    def add_input(self, acc: np.ndarray, codes: np.ndarray) -> np.ndarray:
        acc[codes] = True
        return acc

    def merge_accumulators(self, accs: Iterable[np.ndarray]) -> np.ndarray:
        """Into the first, in place: a stacked reduce would hold every accumulator (a byte a customer each)
        at once."""
        merged, *rest = accs
        for acc in rest:
            merged |= acc
        return merged

    def extract_output(self, acc: np.ndarray) -> int:
        return int(np.count_nonzero(acc))


class MinHashCombineFn(beam.CombineFn):
    """MinHash of a digest set; the accumulator is the hash-value array."""

    def create_accumulator(self) -> np.ndarray:
        return sketches.new_minhash().hashvalues

    def add_input(self, acc: np.ndarray, digests: np.ndarray) -> np.ndarray:
        mh = sketches.minhash_from_values(acc)
        sketches.minhash_update(mh, digests)
        return mh.hashvalues

    def merge_accumulators(self, accs: Iterable[np.ndarray]) -> np.ndarray:
        return np.minimum.reduce(list(accs))

    def extract_output(self, acc: np.ndarray) -> MinHash:
        return sketches.minhash_from_values(acc)


class BloomCombineFn(beam.CombineFn):
    """Bloom filter sized at construction (capacity known before the pipeline runs)."""

    def __init__(self, capacity: int, fpr: float) -> None:
        sketches.Bloom.for_capacity(capacity, fpr)
        self._capacity = capacity
        self._fpr = fpr

    def create_accumulator(self) -> sketches.Bloom:
        return sketches.Bloom.for_capacity(self._capacity, self._fpr)

    def add_input(self, acc: sketches.Bloom, digests: np.ndarray) -> sketches.Bloom:
        acc.add(digests)
        return acc

    def merge_accumulators(self, accs: Iterable[sketches.Bloom]) -> sketches.Bloom:
        accs = iter(accs)
        first = next(accs)
        for other in accs:
            first.merge(other)
        return first

    def extract_output(self, acc: sketches.Bloom) -> sketches.Bloom:
        return acc


def _add(left: Any, right: Any) -> Any:
    if isinstance(left, dict):
        out = dict(left)
        for key, value in right.items():
            out[key] = _add(out[key], value) if key in out else value
        return out
    return left + right


class SumStatsFn(beam.CombineFn):
    """Sums nested dicts of counters (row accounting, per-field counts)."""

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, stats: dict) -> dict:
        return _add(acc, stats)

    def merge_accumulators(self, accs: Iterable[dict]) -> dict:
        out: dict = {}
        for acc in accs:
            out = _add(out, acc)
        return out

    def extract_output(self, acc: dict) -> dict:
        return acc
