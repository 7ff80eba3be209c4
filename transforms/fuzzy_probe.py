"""Fuzzy links: candidates from LSH and exact blocks, scored field by field on keyed encodings.

For each dump row: the customers sharing one of its record's LSH band keys or one of its exact
name/street/dob digests (a key shared by more than ``posting_cap`` customers finds no one) are
scored, and the best one at or above the threshold is its fuzzy candidate.

Score: the mean, over the fuzzy fields both sides have, of the Dice coefficient of their keyed bigram
Bloom filters — a documented fixed weighting (each field counts the same; a missing field neither
helps nor hurts). A link needs the name and the street or date of birth on both sides, the same two
independent groups the exact rules ask for. ``bench/eval_fuzzy.py`` shows the precision/recall of
each threshold on Febrl 3: at ``THRESHOLD`` precision is 1.0 and recall 0.993, still 1.0 with half the
originals missing from the base; one step lower (0.6) linked non-customers under some keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.utils import shared

from transforms import arrays, fuzzy, fuzzy_index
from transforms import bundle as bundle_mod
from transforms.errors import InputError
from transforms.probe import CANDIDATE_SCHEMA
from transforms.read import LINE, SOURCE

THRESHOLD = 0.65
# A block key shared by more customers than this finds no one (nor more than --posting-cap). Near-identical
# records by the thousand (the synthetic base: 320 names) made 130 pairs a row at 50; real matches share
# many keys, so a tight cap costs little recall and bounds the work per row to ~23 x BUCKET_CAP pairs.
BUCKET_CAP = 10
AGREE = 0.8  # a field whose Dice reaches this is listed in the candidate's matched_fields
STATS = "fuzzy"
SCORE_BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)  # report: linked rows by score from each of these up
FUZZY = "fuzzy"
REQUIRED = ("name",)
ONE_OF = ("street", "dob")


def candidate_pairs(index: fuzzy_index.FuzzyIndex, batch: pa.RecordBatch, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (dump row, customer row) pairs sharing an LSH band or a blocking digest."""
    found_rows, found_customers = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    lsh = fuzzy.column_name(fuzzy.LSH)
    if lsh in batch.schema.names:
        bands, has = fuzzy.from_column(batch.column(lsh))
        rows = np.flatnonzero(has)
        for band in range(bands.shape[1]):
            query, customers = index.postings(band, bands[rows, band], cap)
            found_rows.append(rows[query])
            found_customers.append(customers)
    for i, field in enumerate(fuzzy.BLOCKING_DIGESTS):
        if field not in batch.schema.names:
            continue
        column = batch.column(field)
        rows = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False))
        digests = column.fill_null(0).to_numpy()[rows].astype(np.uint64)
        query, customers = index.postings(fuzzy.BANDING.bands + i, digests, cap)
        found_rows.append(rows[query])
        found_customers.append(customers)
    width = max(len(index.customer_ids), 1)
    pairs = arrays.unique(np.concatenate(found_rows) * width + np.concatenate(found_customers))
    return pairs // width, pairs % width


def score_pairs(
    index: fuzzy_index.FuzzyIndex, batch: pa.RecordBatch, rows: np.ndarray, customers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(score, eligible, per-field Dice with NaN where not compared) of each pair."""
    total = np.zeros(rows.size)
    compared = np.zeros(rows.size, dtype=np.int64)
    similarity: dict[str, np.ndarray] = {}
    for field in fuzzy.FIELDS:
        name = fuzzy.column_name(field)
        if name not in batch.schema.names:
            continue
        bloom, valid = fuzzy.from_column(batch.column(name))
        both = valid[rows] & index.valid[field][customers]
        value = fuzzy.dice_pairs(
            bloom, fuzzy.bit_counts(bloom), index.blooms[field], index.bits[field], rows, customers
        )
        similarity[field] = np.where(both, value, np.nan)
        total += np.where(both, value, 0.0)
        compared += both

    def has(field: str) -> np.ndarray:
        return ~np.isnan(similarity[field]) if field in similarity else np.zeros(rows.size, dtype=bool)

    eligible = np.logical_and.reduce([has(f) for f in REQUIRED]) & np.logical_or.reduce([has(f) for f in ONE_OF])
    return total / np.maximum(compared, 1), eligible, similarity


def best_links(
    rows: np.ndarray, customers: np.ndarray, score: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the best kept pair of each row, and their rows and scores. Pairs come sorted by (row,
    customer) and the sort is stable, so ties go to the lowest customer row."""
    kept = np.flatnonzero(keep)
    order = kept[np.lexsort((-score[kept], rows[kept]))]
    first = np.concatenate([[True], rows[order][1:] != rows[order][:-1]]) if order.size else np.zeros(0, bool)
    return order[first], rows[order[first]], score[order[first]]


def agreeing_fields(similarity: dict[str, np.ndarray], pairs: np.ndarray) -> pa.Array:
    """Per pair, the sorted names of the fields whose Dice reaches AGREE: one list per distinct bit mask,
    taken per pair, so no Python list is built per row."""
    names = sorted(similarity)
    masks = np.zeros(pairs.size, dtype=np.int64)
    for bit, field in enumerate(names):
        masks |= (np.nan_to_num(similarity[field][pairs], nan=0.0) >= AGREE).astype(np.int64) << bit
    choices = pa.array(
        [[f for bit, f in enumerate(names) if m >> bit & 1] for m in range(1 << len(names))], pa.list_(pa.string())
    )
    return choices.take(pa.array(masks, pa.int64()))


def probe_fuzzy(
    index: fuzzy_index.FuzzyIndex, canary: np.ndarray, batch: pa.RecordBatch, threshold: float, cap: int
) -> tuple[pa.Table, dict[str, Any]]:
    """A prepared dump batch → (its fuzzy candidates, one per linked row; counters for the report)."""
    rows, customers = candidate_pairs(index, batch, cap)
    score, eligible, similarity = score_pairs(index, batch, rows, customers)
    best, best_rows, best_scores = best_links(rows, customers, score, eligible & (score >= threshold))
    picked = pa.array(best_rows, pa.int64())
    table = pa.table(
        {
            "source_file": batch.column(SOURCE).cast(pa.string()).take(picked),
            "line": batch.column(LINE).take(picked),
            "customer_id": index.customer_ids.take(pa.array(customers[best], pa.int64())),
            "matched_fields": agreeing_fields(similarity, best),
            "score": pa.array(np.round(best_scores, 4), pa.float64()),
            "canary": pa.array(canary[customers[best]], pa.bool_()),
            "match_type": pa.array(np.full(best.size, FUZZY), pa.string()),
        },
        schema=CANDIDATE_SCHEMA,
    )
    lsh = fuzzy.column_name(fuzzy.LSH)
    encoded = int(pc.sum(pc.is_valid(batch.column(lsh))).as_py() or 0) if lsh in batch.schema.names else 0
    stats = {
        "rows": batch.num_rows,
        "encoded": encoded,
        "pairs_scored": int(rows.size),
        "linked": int(best.size),
        "canary": int(canary[customers[best]].sum()),
        "linked_by_score": {f"{b:g}": int((best_scores >= b).sum()) for b in SCORE_BINS},
    }
    return table, {STATS: stats}


def state(
    requested: bool | None, use_index: bool, manifest: dict[str, Any], has_index: bool, bundle: str
) -> dict[str, Any]:
    """Whether this run links fuzzily. ``requested`` None (the default) means "if the bundle was sketched with
    --fuzzy"; True asked for it, so a bundle that cannot give it stops the run with what to do."""
    if requested is False:
        return {"enabled": False, "reason": "turned off (--no-fuzzy)"}
    problem = None
    if not use_index:
        problem = "is used without its index (--sketch-only bundle or --no-index), which holds no fuzzy encodings"
    elif not has_index:
        problem = "has no fuzzy index: it was sketched without --fuzzy"
    elif {k: v for k, v in (manifest.get("fuzzy") or {}).items() if k in fuzzy_index.describe()} != (
        fuzzy_index.describe()
    ):
        problem = "has a fuzzy index encoded with other parameters than this version of dumpmatch uses"
    if problem is None:
        return {"enabled": True, "reason": None}
    if requested:
        raise InputError(f"--fuzzy: bundle {bundle} {problem}: sketch it again with --fuzzy, or drop --fuzzy")
    return {"enabled": False, "reason": f"the bundle {problem}"}


def report_section(settings: dict[str, Any], stats: dict[str, Any] | None) -> dict[str, Any]:
    """report.json's ``fuzzy``: counted apart from every exact number, which fuzzy links never change."""
    counts = stats or {}
    return {
        **settings,
        "rows": counts.get("rows", 0),
        "encoded": counts.get("encoded", 0),
        "pairs_scored": counts.get("pairs_scored", 0),
        "linked": counts.get("linked", 0),
        "canary": counts.get("canary", 0),
        "linked_by_score": counts.get("linked_by_score", {}),
    }


class FuzzyProbeFn(beam.DoFn):
    """Fuzzy candidates of prepared dump batches; the fuzzy index is loaded once per worker process."""

    STATS = "stats"

    def __init__(self, bundle_path: str, threshold: float, posting_cap: int) -> None:
        self._bundle_path = bundle_path
        self._threshold = threshold
        self._cap = min(posting_cap, BUCKET_CAP)
        self._shared = shared.Shared()
        self._loaded: _Loaded | None = None

    def setup(self) -> None:
        def loader() -> _Loaded:
            index = fuzzy_index.load(self._bundle_path)
            planted = pa.array(bundle_mod.read_manifest(self._bundle_path).get("canaries", []), pa.string())
            canary = pc.is_in(index.customer_ids, value_set=planted).to_numpy(zero_copy_only=False)
            return _Loaded(index, canary)

        self._loaded = self._shared.acquire(loader, tag=f"fuzzy|{self._bundle_path}")

    def process(self, batch: pa.RecordBatch) -> Iterator:
        assert self._loaded is not None
        table, stats = probe_fuzzy(self._loaded.index, self._loaded.canary, batch, self._threshold, self._cap)
        yield beam.pvalue.TaggedOutput(self.STATS, stats)
        if table.num_rows:
            yield table


class _Loaded:
    """Shared.acquire needs a weak-referenceable object."""

    def __init__(self, index: fuzzy_index.FuzzyIndex, canary: np.ndarray) -> None:
        self.index = index
        self.canary = canary
