"""Probing digest batches against a loaded bundle, and the evidence rules for one row.

A row links to a customer through every field whose value maps to that customer
(values shared by more than ``posting_cap`` customers, like a city, link no one).
It becomes a candidate when a strong identifier matches, or when fields of at
least two independent evidence groups point to the same customer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from transforms import arrays
from transforms import bundle as bundle_mod
from transforms.fields import CUSTOMER_ID, FieldSpec, spec
from transforms.read import LINE, SOURCE

POSTING_CAP = 50
CANDIDATE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("line", pa.int64()),
        ("customer_id", pa.string()),
        ("matched_fields", pa.list_(pa.string())),
        ("score", pa.float64()),
        ("canary", pa.bool_()),
        ("match_type", pa.string()),  # "exact" (the evidence rules above) or "fuzzy" (fuzzy_probe.py)
    ]
)
EXACT = "exact"
_FIELD_BITS = 6  # a dump's fields, numbered in the low bits of a pair's key: 64, as many as an int64 mask holds
_FIELD_MASK = (1 << _FIELD_BITS) - 1


DUMP, BLOOM, MATCHED = "dump", "bloom", "matched"  # which digests of a field a sketch input holds


@dataclass
class ProbeResult:
    candidates: pa.Table
    stats: dict[str, Any]
    digests: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (DUMP|BLOOM|MATCHED, field)
    customers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # codes the candidates name


def probe_batch(loaded: bundle_mod.LoadedBundle, batch: pa.RecordBatch, posting_cap: int) -> ProbeResult:
    """Looks every field of a digest batch up in the bundle and links rows to customers."""
    n = batch.num_rows
    names = [name for name in batch.schema.names if name not in (SOURCE, LINE, CUSTOMER_ID)]
    linked = [name for name in names if name in loaded.fields]
    field_stats: dict[str, dict[str, int]] = {}
    present_count = np.zeros(n, dtype=np.int64)
    pairs: list[tuple[np.ndarray, np.ndarray, int]] = []
    contexts: list[_Context] = []
    weak_links: dict[str, np.ndarray] = {}
    result = ProbeResult(candidates=CANDIDATE_SCHEMA.empty_table(), stats={})
    for name in names:
        column = batch.column(name)
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        digests = column.fill_null(0).to_numpy()
        result.digests[DUMP, name] = digests[valid]
        found = passed = np.zeros(n, dtype=bool)
        if name in loaded.fields:
            if not spec(name).derived:  # a derived key is another spelling of a field already counted
                present_count += valid
            index = loaded.fields[name]
            passed, found, pos = index.lookup(digests)
            passed &= valid
            found &= valid
            group = spec(name).group
            if group is None:
                contexts.append(_Context(linked.index(name), index, pos, _within_cap(index, found, pos, posting_cap)))
            else:
                rows, customers, per_row = _postings(index, np.flatnonzero(found), pos, posting_cap, n)
                pairs.append((rows, customers, linked.index(name)))
                if not spec(name).strong:
                    weak_links[group] = np.maximum(weak_links.get(group, per_row), per_row)
        result.digests[BLOOM, name] = digests[passed]
        result.digests[MATCHED, name] = digests[found]
        field_stats[name] = {"values": int(valid.sum()), "matched": int(found.sum())}
    result.stats = {"fields": field_stats, **_link(loaded, batch, linked, pairs, contexts, present_count, result)}
    result.stats["records"]["chance_cooccurring"] = chance_cooccurring(weak_links, len(loaded.customer_ids))
    return result


@dataclass
class _Context:
    """A context field (city, postcode: no evidence group) of a batch. It never links a row to a customer
    on its own, only agrees with a customer another field links, so its postings are not expanded into
    pairs: each linked pair's customer is looked up in the row's posting instead. A postcode shared by
    ~35 customers made two thirds of a batch's pairs."""

    field: int  # the field's number in the batch's ``linked`` fields
    index: bundle_mod.FieldIndex
    positions: np.ndarray  # per row: its value's position in the index
    linked: np.ndarray  # per row: its value is indexed and shared by at most ``posting_cap`` customers

    def agrees(self, rows: np.ndarray, customers: np.ndarray) -> np.ndarray:
        """Whether the customer of each (row, customer) pair holds the row's value."""
        agree = self.linked[rows]
        agree[agree] = self.index.holds(self.positions[rows[agree]], customers[agree])
        return agree


def _within_cap(index: bundle_mod.FieldIndex, found: np.ndarray, pos: np.ndarray, cap: int) -> np.ndarray:
    """Rows whose value is indexed and shared by at most ``cap`` customers (``_postings``' rule)."""
    linked = found.copy()
    rows = np.flatnonzero(found)
    linked[rows] = index.offsets[pos[rows] + 1] - index.offsets[pos[rows]] <= cap
    return linked


def _postings(
    index: bundle_mod.FieldIndex, rows: np.ndarray, pos: np.ndarray, cap: int, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expands each found row into (row, customer) pairs, skipping values shared by > cap customers;
    also returns, per row of the batch, how many customers its value links to."""
    starts = index.offsets[pos[rows]]
    counts = index.offsets[pos[rows] + 1] - starts
    keep = counts <= cap
    rows, starts, counts = rows[keep], starts[keep], counts[keep]
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    per_row = np.zeros(n, dtype=np.float64)
    per_row[rows] = counts
    return np.repeat(rows, counts), index.customers[np.repeat(starts, counts) + within], per_row


def chance_cooccurring(links: dict[str, np.ndarray], customers: int) -> float:
    """Rows expected to link two independent weak fields to one customer by coincidence: for a row
    whose name fits a customers and whose street fits b, about a·b/N (values drawn independently)."""
    groups = list(links.values())
    total = 0.0
    for i, first in enumerate(groups):
        for second in groups[i + 1 :]:
            # multiply-and-sum, not np.dot: BLAS's threads spin after each call, stealing a core from the
            # other worker; counts are integers, so the sum is exact either way
            total += float(np.multiply(first, second).sum()) / max(customers, 1)
    return total


def _link(
    loaded: bundle_mod.LoadedBundle,
    batch: pa.RecordBatch,
    linked: list[str],
    pairs: list[tuple[np.ndarray, np.ndarray, int]],
    contexts: list[_Context],
    present_count: np.ndarray,
    result: ProbeResult,
) -> dict[str, Any]:
    n = batch.num_rows
    width = max(len(loaded.customer_ids), 1)
    specs = [spec(name) for name in linked]
    pairs, lonely_matched = _set_aside_lonely(pairs, [np.flatnonzero(c.linked) for c in contexts], specs, n)
    # One int64 per (row, customer, field): the pair's key with the field's number in the low bits, so one
    # plain sort groups each pair's fields (3x faster than np.unique's inverse and a scattered OR).
    coded = np.sort(
        np.concatenate(
            [(p[0].astype(np.int64) * width + p[1]) << _FIELD_BITS | p[2] for p in pairs] + [np.zeros(0, np.int64)]
        )
    )
    pair_keys = coded >> _FIELD_BITS
    starts = arrays.run_starts(pair_keys)
    masks = np.bitwise_or.reduceat(np.left_shift(1, coded & _FIELD_MASK), starts) if starts.size else starts
    pair_rows, pair_customers = np.divmod(pair_keys[starts], width)
    for field_context in contexts:
        masks |= field_context.agrees(pair_rows, pair_customers).astype(np.int64) << field_context.field
    # Pairs are in row order: a row's pairs are one run, so per-row figures are reductions over runs.
    row_starts = arrays.run_starts(pair_rows)

    def rows_with(flags: np.ndarray) -> int:
        return int(np.logical_or.reduceat(flags, row_starts).sum()) if row_starts.size else 0

    strong = sum(1 << i for i, s in enumerate(specs) if s.strong)
    context = sum(1 << i for i, s in enumerate(specs) if s.group is None)
    group_masks: dict[str, int] = {}
    for i, s in enumerate(specs):
        if s.group is not None:
            group_masks[s.group] = group_masks.get(s.group, 0) | (1 << i)
    groups = (
        sum(((masks & g) != 0).astype(np.int64) for g in group_masks.values()) if group_masks else np.zeros_like(masks)
    )
    is_candidate = ((masks & strong) != 0) | (groups >= 2)
    n_fields = _fields_agreeing(masks, specs, group_masks)

    canary = np.isin(pair_customers, loaded.canaries) if loaded.canaries.size else np.zeros(masks.size, bool)
    best = np.zeros(n, dtype=np.int64)
    if row_starts.size:
        best[pair_rows[row_starts]] = np.maximum.reduceat(np.where((masks & ~context) != 0, n_fields, 0), row_starts)
    best[lonely_matched] = 1
    histogram = np.bincount(best, minlength=1)
    result.candidates = _candidate_table(
        loaded,
        batch,
        linked,
        pair_rows[is_candidate],
        pair_customers[is_candidate],
        masks[is_candidate],
        n_fields[is_candidate] / np.maximum(present_count[pair_rows[is_candidate]], 1),
        canary[is_candidate],
    )
    result.customers = arrays.unique(pair_customers[is_candidate])
    customers_per_row = np.bincount(pair_rows[is_candidate], minlength=n)
    return {
        "records": {
            "rows": n,
            "matched_any": rows_with((masks & ~context) != 0) + int(lonely_matched.sum()),
            "candidates": rows_with(is_candidate),
            "candidate_pairs": int(is_candidate.sum()),
            "cooccurring": rows_with(groups >= 2),
            "strong": rows_with((masks & strong) != 0),
            "conflicting": int((customers_per_row >= 2).sum()),
            "canary": rows_with(is_candidate & canary),
        },
        "fields_matched": {str(k): int(v) for k, v in enumerate(histogram) if v},
    }


def _set_aside_lonely(
    pairs: list[tuple[np.ndarray, np.ndarray, int]], context_rows: list[np.ndarray], specs: list[FieldSpec], n: int
) -> tuple[list[tuple[np.ndarray, np.ndarray, int]], np.ndarray]:
    """Drops the pairs of rows that link to customers through one weak field only (context fields, whose
    linked rows are ``context_rows``, count as fields): one weak field makes no candidate, so all such a
    row adds is being matched with one field agreeing, returned as a mask of rows. In a dump of strangers
    that is most rows, and a street or name shared by dozens of customers makes dozens of pairs each
    (each field's pairs are in row order)."""
    distinct = [rows[arrays.run_starts(rows)] for rows, _, _ in pairs]
    every = np.concatenate([*distinct, *context_rows, np.zeros(0, np.int64)]).astype(np.int64)
    lonely = np.bincount(every, minlength=n) == 1
    matched = np.zeros(n, dtype=bool)
    kept = []
    for (rows, customers, index), field_rows in zip(pairs, distinct, strict=True):
        if specs[index].strong:
            kept.append((rows, customers, index))
            continue
        alone = lonely[rows]
        kept.append((rows[~alone], customers[~alone], index))
        matched[field_rows[lonely[field_rows]]] = True
    return kept, matched


def _fields_agreeing(masks: np.ndarray, specs: list[FieldSpec], group_masks: dict[str, int]) -> np.ndarray:
    """Fields matched per (row, customer) pair; a derived key (name_latin) counts only when the
    field it is derived from did not match, so one name is never two agreeing fields."""
    derived = sum(1 << i for i, s in enumerate(specs) if s.derived)
    counted = np.bitwise_count(masks & ~derived).astype(np.int64)
    for i, s in enumerate(specs):
        if s.derived and s.group is not None:
            siblings = group_masks[s.group] & ~(1 << i)
            counted += ((masks & (1 << i)) != 0) & ((masks & siblings) == 0)
    return counted


def _candidate_table(
    loaded: bundle_mod.LoadedBundle,
    batch: pa.RecordBatch,
    linked: list[str],
    rows: np.ndarray,
    customers: np.ndarray,
    masks: np.ndarray,
    scores: np.ndarray,
    canary: np.ndarray,
) -> pa.Table:
    distinct = arrays.unique(masks)
    names = pa.array(
        [sorted(name for i, name in enumerate(linked) if int(m) & (1 << i)) for m in distinct], pa.list_(pa.string())
    )
    source = batch.column(SOURCE).cast(pa.string()).take(pa.array(rows, pa.int64()))
    return pa.table(
        {
            "source_file": source,
            "line": batch.column(LINE).take(pa.array(rows, pa.int64())),
            "customer_id": loaded.customer_ids.take(pa.array(customers, pa.int64())),
            "matched_fields": names.take(pa.array(np.searchsorted(distinct, masks), pa.int64())),
            "score": pa.array(np.round(scores, 4), pa.float64()),
            "canary": pa.array(canary, pa.bool_()),
            "match_type": pa.repeat(pa.scalar(EXACT), rows.size),
        },
        schema=CANDIDATE_SCHEMA,
    )


class ProbeFn(beam.DoFn):
    """Probes batches; the bundle is loaded once per worker process in ``setup``."""

    STATS = "stats"
    DIGESTS = "digests"
    CUSTOMERS = "customers"  # each batch's distinct customer codes among its candidates

    def __init__(
        self, bundle_path: str, fingerprint: str, posting_cap: int, use_index: bool = True, dump_digests: bool = True
    ) -> None:
        self._bundle_path = bundle_path
        self._use_index = use_index
        self._dump_digests = dump_digests  # False: the dump's own sketches are known (reverify's digest cache)
        self._fingerprint = fingerprint
        self._posting_cap = posting_cap
        self._shared = shared.Shared()
        self._loaded: bundle_mod.LoadedBundle | None = None
        self._matched = Metrics.counter("dumpmatch", "rows_matched")

    def setup(self) -> None:
        def loader() -> _Holder:
            return _Holder(bundle_mod.load(self._bundle_path, self._fingerprint, self._use_index))

        tag = f"{self._bundle_path}|{self._fingerprint}|{self._use_index}"
        self._loaded = self._shared.acquire(loader, tag=tag).value

    def process(self, batch: pa.RecordBatch) -> Iterator:
        assert self._loaded is not None
        result = probe_batch(self._loaded, batch, self._posting_cap)
        self._matched.inc(result.stats["records"]["matched_any"])
        yield beam.pvalue.TaggedOutput(self.STATS, result.stats)
        for key, digests in result.digests.items():
            if self._dump_digests or key[0] != DUMP:
                yield beam.pvalue.TaggedOutput(self.DIGESTS, (key, digests))
        if result.candidates.num_rows:
            yield beam.pvalue.TaggedOutput(self.CUSTOMERS, result.customers)
            yield result.candidates


class _Holder:
    """Shared.acquire needs a weak-referenceable object."""

    def __init__(self, value: bundle_mod.LoadedBundle) -> None:
        self.value = value
