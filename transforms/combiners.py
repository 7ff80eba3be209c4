"""CombineFns that build sketches from batches of digests, mergeable across workers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
from datasketch import HyperLogLogPlusPlus, MinHash

from transforms import arrays, bundle, sketches


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


Hashes = tuple[np.ndarray, list[np.ndarray]]  # distinct customer hashes so far, and batches not merged yet


class DistinctCustomersFn(beam.CombineFn):
    """How many distinct customers the candidate tables name, exactly: each id as the bundle's 64-bit
    customer hash, which the bundle keeps one-to-one with its ids (``build.merge_customers`` stops on a
    collision). Batches wait beside the distinct hashes until they outnumber them, so a batch does not
    sort all seen so far."""

    def create_accumulator(self) -> Hashes:
        return np.zeros(0, np.uint64), []

    def add_input(self, acc: Hashes, table: pa.Table) -> Hashes:
        seen, pending = acc
        pending.append(bundle.customer_hashes(table.column("customer_id").combine_chunks()))
        if sum(batch.size for batch in pending) > max(seen.size, 1 << 16):
            return _distinct([seen, *pending]), []
        return seen, pending

    def merge_accumulators(self, accs: Iterable[Hashes]) -> Hashes:
        return _distinct([batch for seen, pending in accs for batch in (seen, *pending)]), []

    def extract_output(self, acc: Hashes) -> int:
        seen, pending = acc
        return int(_distinct([seen, *pending]).size)


def _distinct(batches: list[np.ndarray]) -> np.ndarray:
    return arrays.unique(np.concatenate([np.zeros(0, np.uint64), *batches]))


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
