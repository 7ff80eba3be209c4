"""Evidence rules on a real bundle: strong fields, two independent groups, posting cap."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipelines import sketch
from transforms import build, bundle, hashing, sketches, storage
from transforms.errors import InputError
from transforms.prepare import hash_batch, normalize_batch
from transforms.probe import probe_batch
from transforms.read import LINE, SOURCE

CUSTOMERS = b"""customer_id,email,phone,first_name,last_name,street,city,postcode,country
c1,alice@x.com,+447911123456,Alice,Smith,1 High Street,London,SW1A 1AA,GB
c2,bob@x.com,+447911123457,John,Smith,2 High Street,London,SW1A 1AB,GB
c3,carol@x.com,+447911123458,John,Smith,9 Other Road,Leeds,LS1 1AA,GB
"""
DUMP = {
    "email": ["ALICE@x.com", None, None, None, "alice@x.com", "nobody@x.com"],
    "name": [None, "Smith, John", "John Smith", None, None, "Nobody Here"],
    "street": [None, None, "2 High Street", None, None, None],
    "city": [None, None, None, "London", None, None],
    "phone": [None, None, None, None, "07911 123458", None],
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[bundle.LoadedBundle, hashing.Key]:
    folder = tmp_path_factory.mktemp("probe")
    (folder / "customers.csv").write_bytes(CUSTOMERS)
    key_path = folder / "k.key"
    key_path.write_text("11" * 32)
    sketch.run(
        ["--customers", str(folder / "customers.csv"), "--out", str(folder / "bundle"), "--key-file", str(key_path)]
    )
    key = hashing.load_key(str(key_path))
    return bundle.load(str(folder / "bundle"), key.fingerprint), key


def _probe(loaded, cap: int = 50, dump: dict[str, list[str | None]] = DUMP):  # type: ignore[no-untyped-def]
    index, key = loaded
    n = len(next(iter(dump.values())))
    raw = {k: pa.array(v, pa.string()) for k, v in dump.items()}
    raw[SOURCE] = pa.array(["dump.csv"] * n)
    raw[LINE] = pa.array(range(2, n + 2), pa.int64())
    batch = hash_batch(normalize_batch(pa.RecordBatch.from_pydict(raw), "GB"), key)
    return probe_batch(index, batch, cap)


def _candidates(result) -> list[tuple[int, str, list[str]]]:  # type: ignore[no-untyped-def]
    t = result.candidates.to_pydict()
    return sorted(zip(t["line"], t["customer_id"], t["matched_fields"], strict=True))


def test_strong_field_or_two_groups_make_a_candidate(loaded) -> None:  # type: ignore[no-untyped-def]
    result = _probe(loaded)
    assert _candidates(result) == [
        (2, "c1", ["email"]),
        (4, "c2", ["name", "name_latin", "street"]),
        (6, "c1", ["email"]),
        (6, "c3", ["phone"]),
    ]
    records = result.stats["records"]
    assert records["candidates"] == 3
    assert records["cooccurring"] == 1
    # row 3 (a common name alone) links to customers but is no candidate; row 5 (a city) links no one
    assert records["matched_any"] == 4
    assert result.stats["fields"]["email"] == {"values": 3, "matched": 2}
    assert result.stats["fields"]["city"] == {"values": 1, "matched": 1}


def test_values_shared_by_more_than_the_cap_link_no_one(loaded) -> None:  # type: ignore[no-untyped-def]
    result = _probe(loaded, cap=1)
    assert _candidates(result) == [(2, "c1", ["email"]), (6, "c1", ["email"]), (6, "c3", ["phone"])]
    assert result.stats["records"]["cooccurring"] == 0
    assert result.stats["fields"]["name"] == {"values": 3, "matched": 2}


def test_score_is_the_share_of_the_rows_fields_that_agree(loaded) -> None:  # type: ignore[no-untyped-def]
    candidates = _probe(loaded).candidates.to_pydict()
    scores = dict(zip(candidates["line"], candidates["score"], strict=True))
    assert scores[2] == 1.0
    assert scores[4] == 1.0


def test_a_name_and_its_latin_key_are_one_field_of_evidence(loaded) -> None:  # type: ignore[no-untyped-def]
    """ "Jöhn Smith" meets "John Smith" through name_latin only; "John Smith" through both keys. Either
    way the name group is one field: the street makes the second, never the name's other key."""
    result = _probe(loaded, dump={"name": ["Jöhn Smith", "John Smith"], "street": ["High St. 2", None]})
    assert _candidates(result) == [(2, "c2", ["name_latin", "street"])]
    records = result.stats["records"]
    assert records["cooccurring"] == 1
    assert result.stats["fields_matched"] == {"1": 1, "2": 1}
    assert result.candidates.column("score").to_pylist() == [1.0]


def _customer_parts(folder, tables: list[pa.Table]) -> list[str]:  # type: ignore[no-untyped-def]
    paths = []
    for i, table in enumerate(tables):
        paths.append(str(folder / f"part-{i}.parquet"))
        storage.write_parquet(paths[-1], table)
    return paths


def test_customer_codes_are_rows_of_the_table_sorted_by_hash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = pa.array(["c9", "c1", "c5", "c1"])
    part = pa.table({"hash": bundle.customer_hashes(ids), "customer_id": ids}, schema=build.CUSTOMER_SCHEMA)
    path = build.merge_customers(str(tmp_path), _customer_parts(tmp_path, [part.slice(0, 2), part.slice(2)]))
    table = storage.read_parquet(path)
    assert sorted(table.column("customer_id").to_pylist()) == ["c1", "c5", "c9"]  # each customer once
    assert table.column("hash").to_pylist() == sorted(table.column("hash").to_pylist())


def test_two_customer_ids_with_one_hash_stop_the_sketch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    part = pa.table({"hash": pa.array([7, 7], pa.uint64()), "customer_id": ["c1", "c2"]}, schema=build.CUSTOMER_SCHEMA)
    with pytest.raises(InputError, match="share a 64-bit hash"):
        build.merge_customers(str(tmp_path), _customer_parts(tmp_path, [part]))


def test_lookup_passes_what_the_bloom_filter_passes() -> None:
    """The index is searched before the filter is asked: the passed set must still be the filter's own,
    false positives included (a tiny filter makes many)."""
    rng = np.random.default_rng(3)
    indexed = np.unique(rng.integers(0, 2**63, 500, dtype=np.int64).astype(np.uint64))
    bloom = sketches.Bloom.for_capacity(50, 0.3)  # undersized on purpose
    bloom.add(indexed)
    field = bundle.FieldIndex(indexed, np.arange(indexed.size + 1), np.arange(indexed.size, dtype=np.int32), bloom)
    probes = np.concatenate([indexed[::3], rng.integers(0, 2**63, 2000, dtype=np.int64).astype(np.uint64)])
    passed, found, pos = field.lookup(probes)
    assert np.array_equal(passed, bloom.contains(probes))
    assert found[: indexed[::3].size].all() and passed[~found].any()  # false positives are there
    assert np.array_equal(indexed[pos[found]], probes[found])


@pytest.mark.parametrize("size", [1, 2, 3, 17, 5000])
def test_bucketed_search_is_searchsorted(size: int) -> None:
    """The top-bits table narrows each search to a bucket; positions must be numpy's, for needles in
    and out of the index, at bucket bounds, below the first digest and above the last."""
    rng = np.random.default_rng(size)
    top = np.uint64(2**64 - 1)
    indexed = np.unique(np.concatenate([rng.integers(0, top, size, dtype=np.uint64, endpoint=True), [top]]))
    field = bundle.FieldIndex(
        indexed,
        np.arange(indexed.size + 1),
        np.arange(indexed.size, dtype=np.int32),
        sketches.Bloom.for_capacity(8, 0.1),
    )
    bounds = np.arange(64, dtype=np.uint64) << np.uint64(58)
    needles = np.concatenate([indexed, indexed[:-1] + np.uint64(1), bounds, bounds - np.uint64(1), [np.uint64(0), top]])
    needles = np.concatenate([needles, rng.integers(0, top, 10_000, dtype=np.uint64, endpoint=True)])
    assert np.array_equal(field.search(needles), np.searchsorted(indexed, needles))


def test_holds_finds_a_customer_in_its_digests_posting_only() -> None:
    """Context fields (postcode, city) are checked customer by customer, never expanded into pairs."""
    digests = np.array([10, 20, 30], dtype=np.uint64)
    offsets = np.array([0, 3, 4, 6])
    customers = np.array([2, 5, 9, 5, 1, 7], dtype=np.int32)  # ascending within each digest
    field = bundle.FieldIndex(digests, offsets, customers, sketches.Bloom.for_capacity(8, 0.1))
    positions = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    asked = np.array([2, 9, 5, 3, 5, 2, 1, 7, 9])
    assert field.holds(positions, asked).tolist() == [True, True, True, False, True, False, True, True, False]
