"""make eval: do the overlap intervals cover the truth? Seeded trials across overlap sizes.

For each overlap share of a dump's values that are in the base, build the base's
Bloom filter and MinHash and the dump's HLL/MinHash exactly as the pipelines do,
estimate, and count how often the 95% interval holds the true overlap.
"""

from __future__ import annotations

import argparse
import sys
from typing import cast

import numpy as np

from transforms import estimate, sketches

SHARES = (0.0001, 0.001, 0.01, 0.1, 0.5, 1.0)
TARGET = 0.95


def coverage(base_size: int, dump_size: int, trials: int, seed: int) -> dict[float, tuple[float, float]]:
    """{share: (Bloom coverage, MinHash coverage)} over ``trials`` seeded dumps per share."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**64, base_size, dtype=np.uint64)
    bloom = sketches.Bloom.for_capacity(base_size, 0.001)
    bloom.add(base)
    base_minhash = sketches.new_minhash()
    sketches.minhash_update(base_minhash, base)
    result = {}
    for share in SHARES:
        hits_bloom = hits_minhash = 0
        for _ in range(trials):
            truth = int(dump_size * share)
            dump = np.concatenate(
                [rng.choice(base, truth, replace=False), rng.integers(0, 2**64, dump_size - truth, dtype=np.uint64)]
            )
            distinct, passed, dump_minhash = sketches.new_hll(), sketches.new_hll(), sketches.new_minhash()
            sketches.hll_update(distinct, dump)
            sketches.hll_update(passed, dump[bloom.contains(dump)])
            sketches.minhash_update(dump_minhash, dump)
            interval = estimate.bloom_overlap(passed.count(), distinct.count(), bloom.false_positive_rate())
            hits_bloom += interval.low <= truth <= interval.high
            minhash = estimate.minhash_overlap(
                float(dump_minhash.jaccard(base_minhash)), sketches.MINHASH_PERMUTATIONS, distinct.count(), base_size
            )
            low, high = cast(tuple[float, float], minhash["intersection_ci95"])
            hits_minhash += low <= truth <= high
        result[share] = (hits_bloom / trials, hits_minhash / trials)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=int, default=200000, help="customers in the simulated base")
    parser.add_argument("--dump", type=int, default=20000, help="distinct values in each simulated dump")
    parser.add_argument("--trials", type=int, default=40, help="seeded dumps per overlap share")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    table = coverage(args.base, args.dump, args.trials, args.seed)
    print(f"interval coverage, {args.trials} trials per share (base {args.base}, dump {args.dump}):")
    print("  share      Bloom   MinHash")
    for share, (bloom, minhash) in table.items():
        print(f"  {share:<9g}  {bloom:6.1%}  {minhash:6.1%}")
    overall = [sum(c[i] for c in table.values()) / len(table) for i in (0, 1)]
    print(f"  overall    {overall[0]:6.1%}  {overall[1]:6.1%}   (target {TARGET:.0%})")
    return 0 if min(overall) >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
