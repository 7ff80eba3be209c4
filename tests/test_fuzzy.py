"""Fuzzy matching: keyed encodings, similarity, LSH banding against datasketch, and the pipelines end to end."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.minhash import _fmix

from pipelines import match, sketch
from tests.conftest import write_csv
from transforms import fuzzy, fuzzy_index, fuzzy_probe, hashing, synthetic
from transforms.errors import InputError

NAMES = ["john smith", "jöhn smith", "john smtih", "smith john", "mary jones", None, "", "ann lee", "łukasz nowak"]


def _key() -> hashing.Key:
    return hashing.derive_key(secrets.token_bytes(32))


def _bloom(coder: fuzzy.FieldCoder, values: list[str | None]) -> np.ndarray:
    return coder.encode(pa.array(values, pa.string()), 4)[0]


def test_codepoints_decode_utf8_like_python() -> None:
    values = ["abc", "", "jöhn", "日本", "a😀b", "Ωmega"]
    cps, offsets = fuzzy.codepoints(pa.array(values))
    for i, value in enumerate(values):
        assert cps[offsets[i] : offsets[i + 1]].tolist() == [ord(c) for c in value]


def test_bigrams_are_space_padded_and_missing_values_have_none() -> None:
    first, second, offsets = fuzzy.bigrams(pa.array(["Ab", None, "", "ö"]))
    pairs = [chr(a) + chr(b) for a, b in zip(first, second, strict=True)]
    assert pairs == [" a", "ab", "b ", " o", "o "]  # folded: lowercase, accents removed
    assert offsets.tolist() == [0, 3, 3, 3, 5]


def test_field_encoding_checks_its_parameters() -> None:
    with pytest.raises(ValueError, match="power of two"):
        fuzzy.FieldEncoding("name", 100, 2)
    with pytest.raises(ValueError, match="exceed"):
        fuzzy.FieldEncoding("name", 1024, 7)
    with pytest.raises(ValueError, match="at least 2 bands"):
        fuzzy.Banding(1, 4)


def test_dice_is_high_for_typos_swaps_and_accents_low_for_other_names() -> None:
    coder = fuzzy.FieldCoder(_key(), fuzzy.FieldEncoding("name", 256, 3))
    bloom = _bloom(coder, NAMES)
    same = fuzzy.dice(np.repeat(bloom[:1], 4, axis=0), bloom[:4])
    assert same[0] == 1.0 and same[1] == 1.0  # "Jöhn" folds to "john"
    assert same[2] > 0.7 and same[3] > 0.7  # a transposition; swapped tokens keep most bigrams
    assert fuzzy.dice(bloom[:1], bloom[4:5])[0] < 0.4
    assert not bloom[5].any() and not bloom[6].any()  # missing values encode to nothing


def test_non_ascii_bigrams_hash_like_the_ascii_table() -> None:
    """The ASCII table is a cache: hashing the same bigram directly gives the same Bloom bits."""
    coder = fuzzy.FieldCoder(_key(), fuzzy.FieldEncoding("name", 256, 3))
    first, second, _ = fuzzy.bigrams(pa.array(["łukasz"]))
    direct = np.bitwise_or.reduce(coder.masks(coder.bigram_hashes(first, second)), axis=0)
    assert (direct == _bloom(coder, ["łukasz"])[0]).all()


def test_another_key_gives_unrelated_encodings() -> None:
    one, two = fuzzy.RecordCoder(_key()), fuzzy.RecordCoder(_key())
    values = {"name": pa.array(NAMES[:5]), "dob": pa.array(["1980-01-02"] * 5)}
    a, b = one.encode(values, 5), two.encode(values, 5)
    assert fuzzy.dice(a.blooms["name"], b.blooms["name"]).max() < 0.5
    assert not np.isin(a.bands, b.bands).any()
    again = one.encode(values, 5)  # and the same key is deterministic
    assert (again.blooms["name"] == a.blooms["name"]).all() and (again.bands == a.bands).all()


def test_columns_round_trip() -> None:
    matrix = np.array([[1, 2], [0, 0], [2**64 - 1, 5]], dtype=np.uint64)
    valid = np.array([True, False, True])
    column = fuzzy.to_column(matrix, valid)
    assert column.type == pa.binary(16) and column.null_count == 1
    back, back_valid = fuzzy.from_column(column.slice(1))
    assert (back == matrix[1:]).all() and (back_valid == valid[1:]).all()


def _records(n: int, seed: int) -> dict[str, pa.Array]:
    base = synthetic.customers(n, seed=seed)
    return {
        "name": pa.array(
            [
                f"{a} {b}".lower()
                for a, b in zip(base["first_name"].to_pylist(), base["last_name"].to_pylist(), strict=True)
            ]
        ),
        "street": base["street"].combine_chunks(),
        "postcode": base["postcode"].combine_chunks(),
    }


def _datasketch_minhash(coder: fuzzy.RecordCoder, columns: dict[str, pa.Array], row: int) -> MinHash:
    mh = MinHash(
        num_perm=coder.banding.permutations, seed=fuzzy.MINHASH_SEED, scheme=fuzzy.MINHASH_SCHEME, hashfunc=int
    )
    for field, values in columns.items():
        field_coder = coder.coders[field]
        if field_coder.encoding.whole:
            mh.update_batch(field_coder.minhash_elements(values.slice(row, 1)).tolist())
        else:
            first, second, _ = fuzzy.bigrams(values.slice(row, 1))
            mh.update_batch(field_coder.bigram_hashes(first, second).tolist())
    return mh


def test_record_minhash_and_lsh_buckets_equal_datasketch() -> None:
    """Our vectorized MinHash equals datasketch's update_batch (bigrams of name and street, the whole
    postcode), and equal band keys give exactly the candidates datasketch's MinHashLSH(params=(bands,
    rows)) returns, on a sample with near-duplicates."""
    coder = fuzzy.RecordCoder(_key(), banding=fuzzy.Banding(8, 2))
    base = _records(120, seed=3)
    dump = {f: pa.concat_arrays([v.slice(0, 40), _records(40, seed=4)[f]]) for f, v in base.items()}
    dump["name"] = pa.array([v.replace("a", "e", 1) for v in dump["name"].to_pylist()])  # typos
    ours_base, ours_dump = coder.encode(base, 120), coder.encode(dump, 80)

    lsh = MinHashLSH(num_perm=coder.banding.permutations, params=(8, 2))
    for row in range(120):
        lsh.insert(row, _datasketch_minhash(coder, base, row))
    first, second, _ = fuzzy.bigrams(dump["name"].slice(0, 1))
    mixed = _fmix(coder.coders["name"].bigram_hashes(first, second), 64)
    single = _datasketch_minhash(coder, {"name": dump["name"]}, 0)
    assert (fuzzy.minhash_signatures(mixed, np.array([0]), 16)[0] == single.hashvalues).all()
    found_any = 0
    for row in range(80):
        expected = set(lsh.query(_datasketch_minhash(coder, dump, row)))
        ours = set(np.flatnonzero((ours_base.bands == ours_dump.bands[row]).any(axis=1)).tolist())
        assert ours == expected, row
        found_any += bool(expected)
    assert found_any >= 40  # the near-duplicates were found: the comparison was not vacuous


def test_postings_skip_keys_shared_by_more_than_the_cap() -> None:
    index = fuzzy_index.FuzzyIndex(
        customer_ids=pa.array(["a", "b", "c"]),
        blooms={},
        bits={},
        valid={},
        keys=[np.array([5, 7], np.uint64)],
        offsets=[np.array([0, 2, 3])],
        rows=[np.array([0, 1, 2])],
    )
    query, customers = index.postings(0, np.array([7, 5, 9], np.uint64), cap=1)
    assert query.tolist() == [0] and customers.tolist() == [2]
    query, customers = index.postings(0, np.array([7, 5], np.uint64), cap=2)
    assert sorted(zip(query.tolist(), customers.tolist(), strict=True)) == [(0, 2), (1, 0), (1, 1)]


# ---- pipelines ---------------------------------------------------------------------------------------

PEOPLE = [
    # customer_id, first, last, street, city, postcode, dob
    ("P1", "John", "Smith", "12 Wallaby Place", "Cleveland", "2119", "1956-04-09"),
    ("P2", "Mary", "Jones", "7 Yuranigh Court", "Brentwood", "4220", "1999-12-07"),
    ("P3", "Harley", "McCarthy", "177 Pridham Street", "Marsden", "3165", "1908-04-19"),
    ("P4", "Isabelle", "Nguyen", "23 Gundulu Place", "Utakarra", "2193", "1992-11-19"),
]
VARIANTS = [
    # dump row → the customer it must link to fuzzily
    (("Jöhn", "Smith", "12 Wallaby Place", "Cleveland", "2119", "1956-04-09"), "P1"),
    (("John", "Smtih", "12 Walaby Place", "Cleveland", "2119", "1956-04-09"), "P1"),
    (("Jones", "Mary", "7 Yuranigh Crt", "Brentwood", "4220", "1999-12-07"), "P2"),
    (("Harley", "McCarty", "177 Pridhamstreet", "Marsdon", "3156", "1908-04-19"), "P3"),
    (("Isabele", "Nguyen", "23 Gundulu Pl", "Utakara", "2193", "1992-11-91"), "P4"),
]
STRANGER = ("Zebedee", "Quartermain", "99 Nowhere Lane", "Elsewhere", "9999", "1970-01-01")


@pytest.fixture(scope="module")
def fuzzy_world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("fuzzy")
    key = folder / "k.key"
    key.write_text(secrets.token_hex(32))
    filler = synthetic.customers(300)
    base = pa.table(
        {
            "customer_id": [p[0] for p in PEOPLE] + filler["customer_id"].to_pylist(),
            "first_name": [p[1] for p in PEOPLE] + filler["first_name"].to_pylist(),
            "last_name": [p[2] for p in PEOPLE] + filler["last_name"].to_pylist(),
            "street": [p[3] for p in PEOPLE] + filler["street"].to_pylist(),
            "city": [p[4] for p in PEOPLE] + filler["city"].to_pylist(),
            "postcode": [p[5] for p in PEOPLE] + filler["postcode"].to_pylist(),
            "dob": [p[6] for p in PEOPLE] + ["1980-01-01"] * filler.num_rows,
        }
    )
    write_csv(folder / "customers.csv", base)
    rows = [v for v, _ in VARIANTS] + [STRANGER]
    # The exact rows: four customers copied as they are (a pipeline must still link them exactly).
    rows += [p[1:] for p in PEOPLE]
    dump = pa.table(
        {h: [r[i] for r in rows] for i, h in enumerate(["Vorname", "Nachname", "Adresse", "Ort", "PLZ", "DOB"])}
    )
    write_csv(folder / "dump.csv", dump)
    args = ["--customers", str(folder / "customers.csv"), "--key-file", str(key)]
    manifest = sketch.run([*args, "--out", str(folder / "bundle"), "--fuzzy"])
    sketch.run([*args, "--out", str(folder / "sketch-only"), "--sketch-only", "--fuzzy"])
    sketch.run([*args, "--out", str(folder / "plain")])
    return {"folder": folder, "key": key, "manifest": manifest}


def _run(world: dict, name: str, *extra: str, bundle: str = "bundle") -> tuple[dict, pa.Table]:
    out = world["folder"] / name
    report = match.run(
        [
            *("--bundle", str(world["folder"] / bundle), "--dump", str(world["folder"] / "dump.csv")),
            *("--out", str(out), "--key-file", str(world["key"]), *extra),
        ]
    )
    return report, pq.read_table(out / "candidates").sort_by([("line", "ascending"), ("match_type", "ascending")])


def test_typos_swaps_and_accents_come_out_as_fuzzy_candidates(fuzzy_world: dict) -> None:
    report, candidates = _run(fuzzy_world, "run", "--fuzzy")
    fuzzy_rows = candidates.filter(pa.compute.equal(candidates["match_type"], "fuzzy")).to_pylist()
    linked = {row["line"]: row for row in fuzzy_rows}
    for line, (_, customer) in enumerate(VARIANTS, start=2):
        assert linked[line]["customer_id"] == customer, line
        assert fuzzy_probe.THRESHOLD <= linked[line]["score"] <= 1.0
        assert "postcode" in linked[line]["matched_fields"] or customer == "P3"
    assert len(VARIANTS) + 2 not in linked  # the stranger links to no one
    assert report["fuzzy"]["enabled"] and report["fuzzy"]["linked"] == len(fuzzy_rows)
    assert report["fuzzy"]["threshold"] == fuzzy_probe.THRESHOLD
    page = (fuzzy_world["folder"] / "run" / "report.html").read_text()
    assert 'id="fuzzy"' in page and f"{report['fuzzy']['linked']} of {report['fuzzy']['rows']} rows" in page
    exact = candidates.filter(pa.compute.equal(candidates["match_type"], "exact"))
    assert {r["line"]: r["customer_id"] for r in exact.to_pylist()}.get(len(VARIANTS) + 3) == "P1"


def test_fuzzy_changes_no_exact_number(fuzzy_world: dict) -> None:
    with_fuzzy, candidates = _run(fuzzy_world, "run-on", "--fuzzy")
    without, exact_only = _run(fuzzy_world, "run-off", "--no-fuzzy")
    for section in ("rows", "fields", "records", "verdict"):
        assert with_fuzzy[section] == without[section], section
    assert 'id="fuzzy"' not in (fuzzy_world["folder"] / "run-off" / "report.html").read_text()
    exact = candidates.filter(pa.compute.equal(candidates["match_type"], "exact"))
    assert exact.to_pylist() == exact_only.to_pylist()
    assert without["fuzzy"] == {
        **without["fuzzy"],
        "enabled": False,
        "reason": "turned off (--no-fuzzy)",
    }
    by_default, _ = _run(fuzzy_world, "run-default")  # the bundle was sketched with --fuzzy: on
    assert by_default["fuzzy"] == with_fuzzy["fuzzy"]
    strict, _ = _run(fuzzy_world, "run-strict", "--fuzzy", "--fuzzy-threshold", "1.0")
    assert strict["fuzzy"]["linked"] < with_fuzzy["fuzzy"]["linked"]


def test_bundle_holds_only_keyed_encodings(fuzzy_world: dict, tmp_path: Path) -> None:
    folder = fuzzy_world["folder"] / "bundle" / fuzzy_index.FOLDER
    records, blocks = pq.read_table(folder / fuzzy_index.RECORDS), pq.read_table(folder / fuzzy_index.BLOCKS)
    assert records.schema.field("customer_id").type == pa.string()
    for field in fuzzy.FIELDS:
        assert records.schema.field(fuzzy.column_name(field)).type == pa.binary(
            next(e.bits for e in fuzzy.ENCODINGS if e.field == field) // 8
        )
    assert blocks.schema == fuzzy_index.BLOCKS_SCHEMA
    data = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    for person in PEOPLE:
        for value in person[1:]:
            assert value.lower().encode() not in data.lower()
    manifest = json.loads((fuzzy_world["folder"] / "bundle" / "manifest.json").read_text())
    assert manifest["fuzzy"]["customers"] == len(PEOPLE) + 300

    # The same base under another key: encodings of the same customers are unrelated.
    other = tmp_path / "other.key"
    other.write_text(secrets.token_hex(32))
    sketch.run(
        [
            "--customers",
            str(fuzzy_world["folder"] / "customers.csv"),
            "--out",
            str(tmp_path / "b"),
            "--key-file",
            str(other),
            "--fuzzy",
        ]
    )
    again = pq.read_table(tmp_path / "b" / fuzzy_index.FOLDER / fuzzy_index.RECORDS)
    assert again["customer_id"].to_pylist() == records["customer_id"].to_pylist()
    ours, _ = fuzzy.from_column(records[fuzzy.column_name("name")])
    theirs, _ = fuzzy.from_column(again[fuzzy.column_name("name")])
    assert np.median(fuzzy.dice(ours, theirs)) < 0.5
    other_blocks = pq.read_table(tmp_path / "b" / fuzzy_index.FOLDER / fuzzy_index.BLOCKS)
    lsh = pa.compute.less(blocks["block"], fuzzy.BANDING.bands)
    assert not np.isin(blocks.filter(lsh)["key"].to_numpy(), other_blocks["key"].to_numpy()).any()


def test_sketch_only_and_plain_bundles_have_no_fuzzy_index(fuzzy_world: dict) -> None:
    """A partner's --sketch-only bundle never holds fuzzy encodings, even when --fuzzy is asked for; asking
    match for fuzzy links such a bundle cannot give stops the run with what to do."""
    for name in ("sketch-only", "plain"):
        assert not (fuzzy_world["folder"] / name / fuzzy_index.FOLDER).exists()
        assert json.loads((fuzzy_world["folder"] / name / "manifest.json").read_text())["fuzzy"] is None
    with pytest.raises(InputError, match="without its index"):
        _run(fuzzy_world, "run-partner", "--fuzzy", bundle="sketch-only")
    with pytest.raises(InputError, match="sketch it again with --fuzzy"):
        _run(fuzzy_world, "run-plain", "--fuzzy", bundle="plain")
    report, candidates = _run(fuzzy_world, "run-plain-exact", bundle="plain")  # by default: off, and why
    assert report["fuzzy"]["reason"] == "the bundle has no fuzzy index: it was sketched without --fuzzy"
    assert set(candidates["match_type"].to_pylist()) == {"exact"}


def test_bad_threshold_and_foreign_parameters_stop_the_run(fuzzy_world: dict) -> None:
    with pytest.raises(InputError, match="fuzzy-threshold"):
        _run(fuzzy_world, "run-bad", "--fuzzy-threshold", "0")
    foreign = {"fuzzy": {**fuzzy_index.describe(), "bands": 3}}
    with pytest.raises(InputError, match="other parameters"):
        fuzzy_probe.state(True, True, foreign, True, "b")
    assert not fuzzy_probe.state(None, True, foreign, True, "b")["enabled"]
