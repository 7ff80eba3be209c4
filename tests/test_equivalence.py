"""The optimized match path gives exactly the results of an unoptimized reference (issue #10).

``sketch`` and ``match`` run for real on the in-process runner, once as they come and once with rows cut
into many small batches, over a corpus that exercises every normalizer and evidence rule. The reference
reads the same files with Python's ``csv`` module and does everything one row at a time: each row is a
one-row batch for the normalizers, phones go through ``phonenumbers`` value by value (the slow path of
``tests/test_phones.py``), every value is hashed with the scalar SipHash of ``tests/siphash_reference.py``
under its field's key, the base becomes a dict {(field, digest): customer ids} (no Bloom filter, no
numpy), and the evidence rules are applied in plain Python. Candidates, per-field counts, record evidence
and row accounting must be equal.
"""

from __future__ import annotations

import csv
import functools
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import demo, match, sketch
from tests import siphash_reference, test_normalize, test_normalize_e2e, test_phones
from tests.conftest import write_key
from transforms import fields, hashing, normalize, read, synthetic
from transforms.fields import CUSTOMER_ID, spec

CAP = 3  # --posting-cap: small, so the corpus holds values shared by more customers than it
SMALL_RANGE_BYTES, SMALL_BATCH_ROWS = 2048, 16  # the small-batches run: many ranges, batches of a few rows
SYNTHETIC_CUSTOMERS = 200
SYNTHETIC_DUMP_ROWS = 120
PHONE_NUMBERS = 20  # generated numbers of tests/test_phones.py
WAYS = 11  # the ways test_phones writes each number (``_formats``), one after the other
ORDER = "id:order"
# The base's headers are the canonical names (all but the order number's), so they map by themselves.
CUSTOMER_HEADERS = {CUSTOMER_ID: CUSTOMER_ID, **{name: name for name in fields.CANONICAL_FIELDS}, ORDER: "OrderNo"}
# The cases dump names its columns in German, as a seller might, and separates them with ";".
CASES_HEADERS = {
    "email": "E-Mail",
    "phone": "Telefon",
    "name": "Name",
    "first_name": "Vorname",
    "last_name": "Nachname",
    "street": "Strasse",
    "city": "Ort",
    "postcode": "PLZ",
    "country": "Land",
    "dob": "Geburtsdatum",
    ORDER: "Order",
}
SYNTHETIC_HEADERS = {**synthetic.DUMP_HEADERS, ORDER: "Order"}
RAGGED = "ragged;row"
CANARY = "c-fr"

Row = dict[str, str]  # canonical field (or customer_id) → raw text


# ---------------------------------------------------------------- the corpus


def _cases(test: Callable[..., None]) -> list[tuple[Any, ...]]:
    """The table of a parametrized test, so the corpus grows with the locale tables."""
    return next(mark.args[1] for mark in test.pytestmark if mark.name == "parametrize")  # type: ignore[attr-defined]


def _spellings() -> dict[str, list[str]]:
    """Ways dumps write each country (tests/test_normalize.py::test_country)."""
    spelled: dict[str, list[str]] = defaultdict(list)
    for raw, code in _cases(test_normalize.test_country):
        if raw and code:
            spelled[code].append(raw)
    return spelled


def _country(region: str | None, i: int, spelled: dict[str, list[str]]) -> str:
    options = spelled.get(region or "", [])
    return options[i % len(options)] if options else region or ""


def locale_cases() -> tuple[list[Row], list[Row]]:
    """Base and dump rows from the locale tables of tests/test_normalize.py and tests/test_phones.py:
    the base writes a value one way, the dump another (or the same raw value, where the test knows no
    other spelling). Most rows hold one field, so most link by one field alone."""
    spelled = _spellings()
    base: list[Row] = []
    dump: list[Row] = []
    for i, (raw, expected) in enumerate(_cases(test_normalize.test_email)):
        base.append({CUSTOMER_ID: f"email-{i}", "email": expected or raw or ""})
        dump.append({"email": raw or ""})
    for i, (raw, region, name, latin) in enumerate(_cases(test_normalize.test_name_keys)):
        dob = f"{1940 + i}-06-15"
        base.append({CUSTOMER_ID: f"name-{i}", "name": raw, "country": region or "", "dob": dob})
        # the native key (both name keys match) or the Latin one alone; every third row also gives the dob
        other = (name if i % 2 == 0 else latin) or ""
        dump.append({"name": other, "country": _country(region, i, spelled), "dob": dob if i % 3 == 0 else ""})
    for i, (variants, region) in enumerate(_cases(test_normalize.test_spellings_of_one_person_meet_on_the_latin_key)):
        base.append({CUSTOMER_ID: f"spelling-{i}", "name": variants[0], "country": region})
        dump += [{"name": v, "country": _country(region, j, spelled)} for j, v in enumerate(variants[1:])]
    phones = [*_cases(test_normalize.test_phone), *test_phones.RULES]
    phones += [(raw, "US", test_phones.slow_path([raw], ["US"], None)[0]) for raw in test_phones.LENIENT]
    for i, (raw, region, expected) in enumerate(phones):
        base.append({CUSTOMER_ID: f"phone-{i}", "phone": expected or raw, "country": region or ""})
        dump.append({"phone": raw, "country": _country(region, i, spelled)})
    values, regions = test_phones.generated_cases(0)
    stride = len(values) // PHONE_NUMBERS // WAYS * WAYS  # each number's ways start at a multiple of WAYS
    for start in range(0, stride * PHONE_NUMBERS, stride):
        for j in range(start, start + WAYS):  # one number in its ways: every other one to the base
            row = {"phone": values[j] or "", "country": regions[j] or ""}
            if j % 2:
                base.append({CUSTOMER_ID: f"generated-{j}", **row})
            else:
                dump.append(row)
    for i, (raw, region, expected) in enumerate(_cases(test_normalize.test_dob)):
        street = f"{i + 1} Church Lane"  # with the street on every other row: two independent fields
        base.append({CUSTOMER_ID: f"dob-{i}", "dob": expected or raw, "country": region or "", "street": street})
        dump.append({"dob": raw, "country": _country(region, i, spelled), "street": street if i % 2 else ""})
    for i, (variants, _) in enumerate(_cases(test_normalize.test_street)):
        base.append({CUSTOMER_ID: f"street-{i}", "street": variants[0]})
        dump += [{"street": v} for v in variants[1:]]
    for i, (raw, region, expected) in enumerate(_cases(test_normalize.test_postcode)):
        base.append({CUSTOMER_ID: f"postcode-{i}", "postcode": expected or raw, "country": region or ""})
        dump.append({"postcode": raw, "country": _country(region, i, spelled)})
    return base, dump


def _renamed(table: pa.Table, headers: dict[str, str]) -> list[Row]:
    """Rows of a table whose columns are named by ``headers`` (field → header), keyed by field."""
    names = {header: name for name, header in headers.items()}
    return [{names[k]: v for k, v in row.items() if k in names} for row in table.to_pylist()]


# The evidence rules, one row each (the base rows they need follow).
RULE_DUMP: list[Row] = [
    # a name shared by more customers than the cap links no one; street and dob still do
    {"name": "SCHMIDT, Anna", "street": "Gartenweg 101", "dob": "10.05.1990", "country": "Deutschland"},
    {"name": "Anna Schmidt", "city": "Berlin", "country": "DE"},  # shared name and context: nothing
    {"name": "Okafor, Ben", "dob": "03/03/1988", "country": "GB"},  # shared by exactly the cap: 3 candidates
    {"name": "Ben Okafor"},  # one weak field: linked, never a candidate
    {"name": "Müller, Jürgen", "country": "DE"},  # name and its Latin key are one group: no candidate
    {"name": "Juergen Mueller", "postcode": "D-1067", "country": "Deutschland"},  # Latin key + context only
    {"email": "J.O.H.N.S.M.I.T.H+x@googlemail.com"},  # gmail dots and +tag
    {"phone": "+44 7911 123456 ext. 9"},  # an extension: only phonenumbers reads it
    {"phone": "1-800-FLOWERS", "country": "USA"},  # vanity letters
    {"email": "mary.jones+news@outlook.com", "phone": "06 12 34 56 78", "country": "France"},  # two customers
    {"email": "No.Id@Example.org"},  # a customer without an id, named by file and line
    {"name": "Dora DUPONT", "street": "5, rue du Moulin", "country": "FR"},  # a customer listed twice
    {ORDER: " ord-123 "},  # an id: field
    {"first_name": "Mary", "last_name": "JONES", "dob": "02/01/1985", "country": "US"},  # the name from its parts
    {"email": "not-an-email", "phone": "123", "dob": "junk", "postcode": "ABC", "country": "Atlantis"},
    # one Han name read as Chinese and as Japanese in the same batch: the region is part of the reading
    {"name": "王小明", "dob": "1977-07-07", "country": "CN"},
    {"name": "王小明", "dob": "1977-07-07", "country": "JP"},
]
RULE_BASE: list[Row] = [
    *(
        {CUSTOMER_ID: f"anna-{i}", "name": "Anna Schmidt", "street": f"Gartenweg {101 + i}", "country": "DE"}
        | {"dob": f"1990-05-{10 + i}", "city": "Berlin"}
        for i in range(CAP + 1)
    ),
    *(
        {CUSTOMER_ID: f"ben-{i}", "name": "Ben Okafor", "street": f"{10 + i} Mill Road", "country": "GB"}
        | {"dob": "1988-03-03"}
        for i in range(CAP)
    ),
    {CUSTOMER_ID: "", "email": "no.id@example.org", "name": "Nomen Nescio"},
    *[{CUSTOMER_ID: "dup", "name": "Dora Dupont", "street": "5 rue du Moulin", "country": "FR"}] * 2,
    {CUSTOMER_ID: "ord-1", ORDER: "ORD-123", "name": "Olga Order"},
    {CUSTOMER_ID: "tollfree", "phone": "+1 800 356 9377", "country": "US"},
    {CUSTOMER_ID: "han-jp", "name": "王小明", "dob": "1977-07-07", "country": "JP"},
]


def _write(path: Path, headers: dict[str, str], rows: list[Row], delimiter: str, lines: str = "") -> Path:
    """A CSV of ``rows`` under ``headers``, then ``lines`` as they are (bad rows, blank lines)."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\n")
    writer.writerow(headers.values())
    writer.writerows([row.get(name, "") for name in headers] for row in rows)
    path.write_bytes(text.getvalue().encode("utf-8") + lines.encode("utf-8"))
    return path


@dataclass(frozen=True)
class Corpus:
    folder: Path
    key: Path
    customers: Path
    canaries: Path
    dumps: dict[Path, str]  # dump file → its delimiter


def make_corpus(folder: Path) -> Corpus:
    """The base: generated customers (tests' and demo's generator), the international customers of
    tests/test_normalize_e2e.py, the locale cases and the rule rows. Two dumps: a generated one with the
    demo's malformed lines, and one of everything else with a ragged row and a blank line."""
    generated = synthetic.customers(SYNTHETIC_CUSTOMERS)
    cases_base, cases_dump = locale_cases()
    base = [
        *generated.to_pylist(),
        *test_normalize_e2e.CUSTOMERS.to_pylist(),
        *cases_base,
        *RULE_BASE,
    ]
    e2e_dump = _renamed(
        test_normalize_e2e.DUMP,
        {"email": "E-Mail", "phone": "Phone", "name": "Full Name", "street": "Address"}
        | {"postcode": "Zip", "country": "Country", "dob": "Birthday"},
    )
    generated_dump = _renamed(synthetic.dump(generated, SYNTHETIC_DUMP_ROWS, 0.5).table, synthetic.DUMP_HEADERS)
    customers = _write(folder / "customers.csv", CUSTOMER_HEADERS, base, ",", "ragged,customer\n")
    first = _write(folder / "generated.csv", SYNTHETIC_HEADERS, generated_dump, ",")
    first.write_bytes(first.read_bytes() + demo.MALFORMED)
    cases = [*e2e_dump, *cases_dump, *RULE_DUMP]
    second = _write(folder / "cases.csv", CASES_HEADERS, cases, ";", f"{RAGGED}\n\n")
    canaries = folder / "canaries.txt"
    canaries.write_text(f"{CANARY}\n")
    return Corpus(folder, write_key(folder / "k.key"), customers, canaries, {first: ",", second: ";"})


# ---------------------------------------------------------------- the pipelines


@dataclass(frozen=True)
class Outputs:
    report: dict[str, Any]
    candidates: list[dict[str, Any]]
    dead: list[dict[str, Any]]
    manifest: dict[str, Any]  # the bundle's


def run_pipelines(corpus: Corpus, name: str) -> Outputs:
    bundle, out = corpus.folder / f"bundle-{name}", corpus.folder / f"run-{name}"
    common = ["--key-file", str(corpus.key), "--quiet"]
    customers = ["--customers", str(corpus.customers), "--customer-columns", f"{ORDER}={CUSTOMER_HEADERS[ORDER]}"]
    manifest = sketch.run([*customers, "--out", str(bundle), "--canaries", str(corpus.canaries), *common])
    dumps = ["--dump", *map(str, corpus.dumps), "--columns", f"{ORDER}={CASES_HEADERS[ORDER]}"]
    report = match.run(["--bundle", str(bundle), *dumps, "--out", str(out), "--posting-cap", str(CAP), *common])
    return Outputs(
        report,
        pq.read_table(out / match.CANDIDATES).to_pylist(),
        pq.read_table(out / match.DEAD_LETTER).to_pylist(),
        manifest,
    )


# ---------------------------------------------------------------- the reference, one row at a time


@dataclass
class Parsed:
    """One file read the plain way: rows as {field: raw text}, what could not be parsed, accounting."""

    rows: list[tuple[int, Row]] = field(default_factory=list)  # (line, row)
    dead: list[int] = field(default_factory=list)
    read: int = 0
    headers: int = 0


def read_csv(path: Path, delimiter: str, overrides: dict[str, str]) -> Parsed:
    """Line by line: blank lines are not records, a line that is not UTF-8 or has another number of
    fields than the header is a dead letter; columns map to fields by the header (``fields.map_columns``)."""
    parsed = Parsed()
    header: list[str] = []
    mapping: dict[str, str] = {}
    for line, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw:
            continue
        parsed.read += 1
        try:
            cells = next(csv.reader([raw.decode("utf-8")], delimiter=delimiter))
        except UnicodeDecodeError:
            parsed.dead.append(line)
            continue
        if not header:
            header, mapping = cells, fields.map_columns(cells, overrides, str(path))
            parsed.headers += 1
        elif len(cells) != len(header):
            parsed.dead.append(line)
        else:
            parsed.rows.append((line, {name: cells[header.index(column)] for name, column in mapping.items()}))
    return parsed


def normalize_row(row: Row, region: str | None) -> dict[str, str | None]:
    """One row as a one-row batch through the normalizers, its phone through phonenumbers alone: every
    field the row gives or derives, None where it has no usable value. An empty cell is no value (the
    pipelines must agree, or their counts differ), so it skips the normalizers' fixed cost per call."""
    plain = {name: value for name, value in row.items() if name not in (CUSTOMER_ID, "phone") and value}
    columns = {name: pa.array([value], pa.string()) for name, value in plain.items()}
    out = {name: values[0].as_py() for name, values in normalize.normalize_columns(columns, region).items()}
    if row.get("phone"):
        out["phone"] = test_phones.slow_path([row["phone"]], [out.get("country")], region)[0]
    return out


def digests(key: hashing.Key, normalized: dict[str, str | None]) -> dict[str, int]:
    """Each value's scalar SipHash under its field's key."""
    return {
        name: siphash_reference.siphash24(hashing.field_key(key, name), value.encode("utf-8"))
        for name, value in normalized.items()
        if value is not None
    }


@dataclass
class Index:
    """The base as a plain dict: (field, digest) → customer ids; the fields and customers it holds."""

    postings: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    fields: set[str] = field(default_factory=set)
    customers: set[str] = field(default_factory=set)  # every customer of the base, with a usable value or not


def build_index(path: Path, key: hashing.Key, region: str | None) -> Index:
    index = Index()
    for line, row in read_csv(path, ",", {ORDER: CUSTOMER_HEADERS[ORDER]}).rows:
        customer = normalize.clean(pa.array([row[CUSTOMER_ID]], pa.string()))[0].as_py() or f"{path.name}:{line}"
        normalized = normalize_row(row, region)
        index.fields.update(normalized)  # a field of the base whether this row has a value or not
        index.customers.add(customer)
        for name, value in digests(key, normalized).items():
            index.postings[name, value].add(customer)
    return index


def is_candidate(matched: set[str]) -> bool:
    """A strong identifier, or fields of two independent evidence groups."""
    return any(spec(f).strong for f in matched) or len(groups(matched)) >= 2


def groups(matched: set[str]) -> set[str]:
    return {g for g in (spec(f).group for f in matched) if g is not None}


def agreeing(matched: set[str]) -> int:
    """Fields that agree; a derived key counts only when no other field of its group matched."""
    plain = {f for f in matched if not spec(f).derived}
    return len(plain) + sum(1 for f in matched - plain if spec(f).group not in groups(plain))


@dataclass
class Expected:
    """What the run should report, tallied row by row."""

    base_fields: set[str]
    candidates: set[tuple[Any, ...]] = field(default_factory=set)
    values: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)
    raw: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    fields_matched: Counter[str] = field(default_factory=Counter)
    chance: Fraction = Fraction(0)
    rows: Counter[str] = field(default_factory=Counter)
    dead: set[tuple[str, int]] = field(default_factory=set)
    only_weak: int = 0  # rows linked by one weak field alone: the corpus must hold some
    over_cap: int = 0  # identifying values found but shared by more customers than the cap


def probe_row(index: Index, values: dict[str, int], cap: int) -> tuple[dict[str, set[str]], dict[str, int], int]:
    """{customer: fields pointing to it}, the weak groups' customer counts (for chance co-occurrence),
    and how many identifying values it holds are shared by more customers than the cap."""
    links: dict[str, set[str]] = defaultdict(set)
    weak: dict[str, int] = {}
    over = 0
    for name, value in values.items():
        customers = index.postings.get((name, value), set()) if name in index.fields else set()
        if len(customers) > cap:
            over += spec(name).group is not None  # context values (countries) are shared anyway
            continue
        for customer in customers:
            links[customer].add(name)
        group = spec(name).group
        if group is not None and not spec(name).strong:
            weak[group] = max(weak.get(group, 0), len(customers))
    return links, weak, over


def reference(corpus: Corpus, key: hashing.Key, region: str | None, cap: int) -> Expected:
    index = build_index(corpus.customers, key, region)
    canaries = set(corpus.canaries.read_text().split())
    expected = Expected(base_fields=index.fields)
    for path, delimiter in corpus.dumps.items():
        parsed = read_csv(path, delimiter, {ORDER: CASES_HEADERS[ORDER]})
        expected.rows.update(
            read=parsed.read, parsed=len(parsed.rows), dead_lettered=len(parsed.dead), headers=parsed.headers
        )
        expected.dead |= {(str(path), line) for line in parsed.dead}
        for line, row in parsed.rows:
            expected.raw.update(name for name, value in row.items() if value)
            values = digests(key, normalize_row(row, region))
            expected.values.update(values.keys())
            expected.matched.update(n for n, v in values.items() if n in index.fields and (n, v) in index.postings)
            present = sum(1 for n in values if n in index.fields and not spec(n).derived)
            links, weak, over = probe_row(index, values, cap)
            expected.over_cap += over
            tally_row(expected, str(path), line, links, present, canaries)
            # a customers fit one weak field and b another: a·b/N by coincidence, N the customers of the base
            weak_counts = list(weak.values())
            expected.chance += Fraction(
                sum(a * b for i, a in enumerate(weak_counts) for b in weak_counts[i + 1 :]), len(index.customers)
            )
    expected.records["customers"] = len({candidate[2] for candidate in expected.candidates})
    return expected


def tally_row(
    expected: Expected, source: str, line: int, links: dict[str, set[str]], present: int, canaries: set[str]
) -> None:
    linking = {c: m for c, m in links.items() if groups(m)}  # context fields alone link no one
    chosen = {c: m for c, m in links.items() if is_candidate(m)}
    for customer, matched in chosen.items():
        score = round(agreeing(matched) / max(present, 1), 4)
        expected.candidates.add((source, line, customer, tuple(sorted(matched)), score, customer in canaries))
    flags = {
        "rows": True,
        "matched_any": bool(linking),
        "candidates": bool(chosen),
        "cooccurring": any(len(groups(m)) >= 2 for m in links.values()),
        "strong": any(spec(f).strong for m in links.values() for f in m),
        "conflicting": len(chosen) >= 2,
        "canary": bool(set(chosen) & canaries),
    }
    expected.records.update(name for name, flag in flags.items() if flag)
    expected.records["candidate_pairs"] += len(chosen)
    expected.fields_matched[str(max((agreeing(m) for m in linking.values()), default=0))] += 1
    expected.only_weak += bool(linking) and not chosen


# ---------------------------------------------------------------- the comparisons


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return make_corpus(tmp_path_factory.mktemp("equivalence"))


@pytest.fixture(scope="module", params=["as-they-come", "small-batches"])
def outputs(request: pytest.FixtureRequest, corpus: Corpus) -> Iterator[Outputs]:
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "small-batches":
            # Many ranges and batches of a few rows: what a row meets in its batch must not matter.
            assert all(path.stat().st_size > 4 * SMALL_RANGE_BYTES for path in corpus.dumps)
            small = functools.partial(read.ReadRecords, range_bytes=SMALL_RANGE_BYTES, batch_rows=SMALL_BATCH_ROWS)
            patch.setattr(sketch, "ReadRecords", small)
            patch.setattr(match, "ReadRecords", small)
        yield run_pipelines(corpus, request.param)


@pytest.fixture(scope="module")
def references() -> dict[str | None, Expected]:
    """The reference for each default region (one: both runs sketch the same base), computed once."""
    return {}


@pytest.fixture(scope="module")
def expected(corpus: Corpus, outputs: Outputs, references: dict[str | None, Expected]) -> Expected:
    region = outputs.manifest["default_region"]  # the base's dominant country, which both pipelines use
    if region not in references:
        references[region] = reference(corpus, hashing.load_key(str(corpus.key)), region, CAP)
    return references[region]


def test_the_corpus_exercises_every_rule(expected: Expected) -> None:
    """Not vacuous: candidates by a strong field and by two groups, weak single links, values over the
    cap, conflicts, a canary, the Latin key, ids, fallback ids, dead letters."""
    reasons = Counter[str]()
    for _, _, customer, matched, _, canary in expected.candidates:
        reasons["strong" if any(spec(f).strong for f in matched) else "two groups"] += 1
        reasons.update(f for f in matched if f in (fields.NAME_LATIN, ORDER))
        reasons["canary"] += canary
        reasons["fallback id"] += customer.startswith("customers.csv:")
    assert min(reasons[k] for k in ("strong", "two groups", fields.NAME_LATIN, ORDER, "canary", "fallback id")) > 0
    assert expected.only_weak > 10 and expected.over_cap > 10
    assert expected.records["conflicting"] >= 2 and expected.records["cooccurring"] > 50
    assert expected.rows["dead_lettered"] == 3 and expected.rows["parsed"] > 400


def test_candidates_equal_the_reference(outputs: Outputs, expected: Expected) -> None:
    got = {
        (c["source_file"], c["line"], c["customer_id"], tuple(sorted(c["matched_fields"])), c["score"], c["canary"])
        for c in outputs.candidates
    }
    assert len(got) == len(outputs.candidates)  # no candidate twice
    assert {c["match_type"] for c in outputs.candidates} == {"exact"}
    assert sorted(got - expected.candidates) == [] and sorted(expected.candidates - got) == []


def test_field_counts_equal_the_reference(outputs: Outputs, expected: Expected) -> None:
    report = outputs.report["fields"]
    got = {f: (e["values"], e["matched"], e["invalid"]) for f, e in report.items()}
    want = {f: (n, expected.matched[f], expected.raw.get(f, n) - n) for f, n in expected.values.items()}
    assert got == want


def test_record_evidence_equals_the_reference(outputs: Outputs, expected: Expected) -> None:
    records = dict(outputs.report["records"])
    chance = records.pop("chance_cooccurring")
    assert records.pop("fields_matched") == dict(expected.fields_matched)
    assert records == {k: expected.records[k] for k in records}
    assert abs(chance - float(expected.chance)) <= 0.005 + 1e-9  # the report rounds to two places


def test_rows_and_dead_letters_equal_the_reference(outputs: Outputs, expected: Expected) -> None:
    assert outputs.report["rows"] == dict(expected.rows)
    assert {(d["source_file"], d["line"]) for d in outputs.dead} == expected.dead
    records = outputs.report["records"]
    assert records["rows"] - records["matched_any"] == expected.rows["parsed"] - expected.records["matched_any"]


def test_the_base_has_the_reference_fields(outputs: Outputs, expected: Expected) -> None:
    assert set(outputs.manifest["fields"]) == expected.base_fields
