"""Overlap estimates with 95% intervals from the sketches alone (no index needed).

Two independent estimators of how many distinct dump values are in the base:

* Bloom: x of the dump's n distinct values pass the base's Bloom filter; the n − t
  values not in the base pass with the filter's false-positive rate p, so
  t̂ = (x − n·p)/(1 − p). The interval adds the binomial spread of those false
  positives to the HyperLogLog error of x and n (all distinct counts are HLL++).
* MinHash: Ĵ = share of the k permutations whose minima agree; a Wilson interval on
  that binomial proportion (it stays honest at Ĵ = 0), mapped through
  |A∩B| = J·(|A| + |B|)/(1 + J). MinHash cannot see an overlap much smaller than
  (|A| + |B|)/k: the report says so instead of printing a falsely precise zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959964
HLL_RELATIVE_ERROR = 1.04 / math.sqrt(2**14)
MINHASH_DESIGN_EFFECT = 2.0


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def as_dict(self, digits: int = 1) -> dict[str, object]:
        return {"estimate": round(self.estimate, digits), "ci95": [round(self.low, digits), round(self.high, digits)]}


def bloom_overlap(passed: float, distinct: float, fpr: float) -> Interval:
    """Distinct dump values in the base, from Bloom passes corrected for false positives."""
    if distinct <= 0:
        return Interval(0.0, 0.0, 0.0)
    fpr = min(max(fpr, 0.0), 0.999999)
    ceiling = distinct * (1 + Z95 * HLL_RELATIVE_ERROR)  # the true count may exceed HLL's estimate
    estimate = min(max((passed - distinct * fpr) / (1 - fpr), 0.0), distinct)
    # False positives among at most `distinct` non-members: a Wilson interval, honest at small counts.
    false_positives = wilson(distinct * fpr, max(round(distinct), 1))
    hll_spread = Z95 * HLL_RELATIVE_ERROR * math.hypot(passed, distinct * fpr)
    low = (passed - distinct * false_positives.high - hll_spread) / (1 - fpr)
    high = (passed - distinct * false_positives.low + hll_spread) / (1 - fpr)
    return Interval(estimate, min(max(low, 0.0), estimate), min(max(high, estimate), ceiling))


def wilson(successes: float, trials: int) -> Interval:
    """Wilson score interval for a binomial proportion."""
    share = successes / trials
    denominator = 1 + Z95**2 / trials
    centre = (share + Z95**2 / (2 * trials)) / denominator
    spread = Z95 * math.sqrt(share * (1 - share) / trials + Z95**2 / (4 * trials**2)) / denominator
    return Interval(share, max(centre - spread, 0.0), min(centre + spread, 1.0))


def intersection_from_jaccard(jaccard: float, size_a: float, size_b: float) -> float:
    return jaccard * (size_a + size_b) / (1 + jaccard)


def minhash_overlap(jaccard: float, permutations: int, dump_distinct: float, base_distinct: float) -> dict[str, object]:
    """Jaccard and intersection with intervals, and whether MinHash can resolve this overlap at all."""
    # The affine permutations are not fully independent min-wise hashes: treat k permutations as
    # k / MINHASH_DESIGN_EFFECT independent trials (measured by `make eval`).
    effective = max(round(permutations / MINHASH_DESIGN_EFFECT), 1)
    j = wilson(jaccard * effective, effective)
    cap = min(dump_distinct, base_distinct) * (1 + Z95 * HLL_RELATIVE_ERROR)

    def size(x: float) -> float:
        return min(intersection_from_jaccard(x, dump_distinct, base_distinct), cap)

    resolution = (dump_distinct + base_distinct) / permutations
    return {
        "jaccard": round(j.estimate, 6),
        "jaccard_ci95": [round(j.low, 6), round(j.high, 6)],
        "intersection": round(size(j.estimate), 1),
        "intersection_ci95": [round(size(j.low), 1), round(size(j.high), 1)],
        "resolution": round(resolution, 1),
        "informative": size(j.high) >= resolution,
    }
