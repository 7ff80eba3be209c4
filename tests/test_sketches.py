"""Sketches: add, merge, mismatch refused, pickle and envelope round trips, error bounds."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from transforms import sketches

FP = "ab" * 16
OTHER_FP = "cd" * 16


def _digests(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64, n, dtype=np.uint64)


def test_bloom_has_no_false_negatives_and_meets_its_fpr() -> None:
    members, strangers = _digests(20000, 1), _digests(200000, 2)
    bloom = sketches.Bloom.for_capacity(20000, 0.01)
    bloom.add(members)
    assert bloom.contains(members).all()
    observed = bloom.contains(strangers).mean()
    assert observed < 0.015
    assert abs(bloom.false_positive_rate() - observed) < 0.005


def test_bloom_merge_equals_adding_everything() -> None:
    a, b = _digests(1000, 3), _digests(1000, 4)
    left, right, both = (sketches.Bloom.for_capacity(2000, 0.01) for _ in range(3))
    left.add(a)
    right.add(b)
    both.add(np.concatenate([a, b]))
    left.merge(right)
    assert np.array_equal(left.bits, both.bits)


def test_bloom_merge_refuses_other_parameters() -> None:
    with pytest.raises(ValueError, match="cannot merge"):
        sketches.Bloom.for_capacity(1000, 0.01).merge(sketches.Bloom.for_capacity(100000, 0.01))


@pytest.mark.parametrize(("capacity", "fpr"), [(-1, 0.01), (10, 0.0), (10, 1.0)])
def test_bloom_checks_arguments(capacity: int, fpr: float) -> None:
    with pytest.raises(ValueError):
        sketches.Bloom.for_capacity(capacity, fpr)


def test_hll_batch_update_equals_datasketch_per_value() -> None:
    values = _digests(5000, 5)
    ours, theirs = sketches.new_hll(), sketches.new_hll()
    sketches.hll_update(ours, values)
    for v in values:
        theirs.update(int(v))
    assert np.array_equal(ours.reg, theirs.reg)


def test_hll_estimate_within_its_error_bound() -> None:
    hll = sketches.new_hll()
    sketches.hll_update(hll, _digests(200000, 6))
    bound = 3 * 1.04 / math.sqrt(2**sketches.HLL_P)
    assert abs(hll.count() / 200000 - 1) < bound


@pytest.mark.parametrize("size", [3000, 20000])  # one chunk of values, and several with a part chunk
def test_minhash_batch_update_equals_datasketch(size: int) -> None:
    values = np.concatenate([_digests(size, 7), _digests(size // 10, 7)])  # repeats count once
    ours, theirs = sketches.new_minhash(), sketches.new_minhash()
    sketches.minhash_update(ours, values)
    theirs.update_batch([int(v) for v in values])
    assert np.array_equal(ours.hashvalues, theirs.hashvalues)


def test_minhash_jaccard_within_two_over_sqrt_k() -> None:
    shared, a_only, b_only = _digests(6000, 8), _digests(2000, 9), _digests(2000, 10)
    a, b = sketches.new_minhash(), sketches.new_minhash()
    sketches.minhash_update(a, np.concatenate([shared, a_only]))
    sketches.minhash_update(b, np.concatenate([shared, b_only]))
    assert abs(a.jaccard(b) - 0.6) < 2 / math.sqrt(sketches.MINHASH_PERMUTATIONS)


@pytest.mark.parametrize("kind", ["bloom", "hll", "minhash"])
def test_envelope_and_pickle_round_trip(kind: str) -> None:
    sketch = {
        "bloom": sketches.Bloom.for_capacity(100, 0.01),
        "hll": sketches.new_hll(),
        "minhash": sketches.new_minhash(),
    }[kind]
    update = {"bloom": lambda s, d: s.add(d), "hll": sketches.hll_update, "minhash": sketches.minhash_update}[kind]
    update(sketch, _digests(100, 11))
    restored = sketches.decode(sketches.encode(kind, "email", FP, sketch), kind, "email", FP)
    for copy in (restored, pickle.loads(pickle.dumps(sketch))):
        if kind == "bloom":
            assert np.array_equal(copy.bits, sketch.bits) and (copy.m, copy.k) == (sketch.m, sketch.k)
        elif kind == "hll":
            assert np.array_equal(copy.reg, sketch.reg)
        else:
            assert np.array_equal(copy.hashvalues, sketch.hashvalues)


def test_envelope_refuses_other_key_field_kind_and_version() -> None:
    data = sketches.encode("hll", "email", FP, sketches.new_hll())
    with pytest.raises(ValueError, match="another key"):
        sketches.decode(data, "hll", "email", OTHER_FP)
    with pytest.raises(ValueError, match="expected"):
        sketches.decode(data, "hll", "phone", FP)
    with pytest.raises(ValueError, match="expected"):
        sketches.decode(data, "minhash", "email", FP)
    with pytest.raises(ValueError, match="version"):
        sketches.decode(data[:4] + b"\x63\x00" + data[6:], "hll", "email", FP)
    with pytest.raises(ValueError, match="not a dumpmatch sketch"):
        sketches.decode(b"junk" + data, "hll", "email", FP)
