"""No customer plaintext escapes, and a bundle to share holds no per-customer rows.

Two canary customers with distinctive values are planted in a base: one the dump never holds (its values
may appear nowhere), one the dump holds (its values may appear only where the run shows the dump's own
rows). Every command runs through the CLI in a subprocess at DEBUG, with TMPDIR in the test's folder so
Beam's temporary files land there too; then every byte written (bundles, runs, library, TMPDIR, stdout,
stderr) is searched for both canaries' values — as given, normalized, and as unkeyed MD5/SHA-1/SHA-256 —
and for the key in every form.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.conftest import write_csv, write_key
from tests.leaks import Hit, Needles, scan_bytes, scan_tree, value_forms
from transforms import bundle, hashing, normalize, sketches, storage, synthetic

CUSTOMERS = 300
COMMAND_SECONDS = 120
ORDER = "id:order"
# The customer the dump never holds: none of this may appear in any output, log or temporary file.
HIDDEN = {
    "customer_id": "cust-canary-hidden",
    "email": "Quillon.Vex.Martin+promo@googlemail.com",
    "phone": "+44 7911 123456",
    "first_name": "Quillon",
    "last_name": "Vexmartin",
    "street": "48 Zyphrandel Crescent",
    "city": "Thornwick",
    "postcode": "TW9 4QZ",
    "country": "GB",
    "dob": "17.03.1931",
    "order": "ORD-HXQ-77319046",
}
# The customer the dump holds: its values are the dump's too, allowed only in the run's dump-side columns.
EXPOSED = {
    "customer_id": "cust-canary-exposed",
    "email": "Ysolde.Krantzwick@Brimholt.example",
    "phone": "+44 7911 654321",
    "first_name": "Ysolde",
    "last_name": "Krantzwick",
    "street": "17 Orvelmere Gardens",
    "city": "Thornwick",
    "postcode": "TW9 7XJ",
    "country": "GB",
    "dob": "1929-11-02",
    "order": "ORD-KZW-55102387",
}
# Where a run holds the dump's own rows (DESIGN.md, "Privacy rules"), as (file name part, column, JSON key
# or HTML section): dead letters always, the report's samples because match was asked --show-samples.
DUMP_SIDE_COLUMNS = {("dead_letter", "raw"), ("report.json", "samples"), ("report.html", "samples")}
SAMPLES = "1000"  # every candidate row: the exposed canary's is one of them


@dataclass
class World:
    root: Path
    key: Path
    customers: Path
    dump: Path
    canaries: Path
    out: Path
    tmp: Path
    logs: dict[str, bytes] = field(default_factory=dict)

    @property
    def bundle(self) -> Path:
        return self.out / "bundle"

    @property
    def shared(self) -> Path:
        return self.out / "bundle-shared"

    @property
    def run(self) -> Path:
        return self.out / "run"

    @property
    def library(self) -> Path:
        return self.out / "library"


# Every command whose writes are searched, each with its arguments, in stages: a stage's commands run
# side by side, after the stage before. After merging, reverify joins with a line in a stage of its own,
# e.g. [("reverify", lambda w: ["reverify", "--library", str(w.library), ...])].
# reverify exits 3 on a material change: the first run of a dump holding a canary is one.
EXIT_CODES = {"reverify": (0, 3)}


def _library_args(w: World) -> list[str]:
    return ["--library", str(w.out / "rlib"), "--columns", f"{ORDER}=order"]


def _reverify_args(w: World) -> list[str]:
    return ["reverify", "--bundle", str(w.bundle), "--library", str(w.out / "rlib"), "--key-file", str(w.key)]


COMMANDS: list[list[tuple[str, Callable[[World], list[str]]]]] = [
    [
        ("sketch", lambda w: ["sketch", "--customers", str(w.customers), "--out", str(w.bundle), *_sketch_args(w)]),
        (
            "sketch --sketch-only",
            lambda w: [
                *["sketch", "--customers", str(w.customers), "--out", str(w.shared), "--sketch-only"],
                *_sketch_args(w),
            ],
        ),
    ],
    [
        (
            "match",
            lambda w: [
                *["match", "--bundle", str(w.bundle), "--dump", str(w.dump), "--out", str(w.run), "--csv"],
                *["--library", str(w.library), "--columns", f"{ORDER}=order", "--key-file", str(w.key)],
                *["--show-samples", SAMPLES],
            ],
        ),
        (
            "match against the shared bundle",
            lambda w: [
                *["match", "--bundle", str(w.shared), "--dump", str(w.dump), "--out", str(w.out / "run-shared")],
                *["--columns", f"{ORDER}=order", "--key-file", str(w.key), "--csv"],
            ],
        ),
    ],
    [("library add", lambda w: ["library", "add", "forum", str(w.dump), *_library_args(w)])],
    [("reverify", _reverify_args)],
    [
        ("reverify (cached)", _reverify_args),
        ("report", lambda w: ["report", str(w.run)]),
        ("report --no-samples", lambda w: ["report", str(w.run), "--no-samples", "--out", str(w.out / "shared.html")]),
    ],
]


def _sketch_args(w: World) -> list[str]:
    return ["--key-file", str(w.key), "--customer-columns", f"{ORDER}=order", "--canaries", str(w.canaries)]


def _base() -> pa.Table:
    """A generated base with birth dates and order numbers, and the two canaries at the end."""
    base = synthetic.customers(CUSTOMERS)
    rng = np.random.default_rng(3)
    days = rng.integers(0, 365 * 50, CUSTOMERS)
    dob = pc.strftime(pa.array((np.datetime64("1950-01-01") + days).astype("datetime64[s]")), format="%Y-%m-%d")
    base = base.append_column("dob", dob).append_column(
        "order", pa.array([f"ORD-{n:08d}" for n in rng.integers(0, 10**8, CUSTOMERS)])
    )
    canaries = pa.Table.from_pylist([HIDDEN, EXPOSED], schema=base.schema)
    return pa.concat_tables([base, canaries])


def _dump(base: pa.Table) -> bytes:
    """Base rows, made-up rows, the exposed canary (reformatted), and a broken line holding its values."""
    columns = ["email", "phone", "first_name", "last_name", "street", "dob", "order"]
    genuine = base.slice(0, 80).select(columns)
    made_up = synthetic.customers(40, seed=99, first_id=10**6).select(columns[:5])
    made_up = made_up.append_column("dob", pa.array(["1977-07-07"] * 40)).append_column(
        "order", pa.array([f"X-{i}" for i in range(40)])
    )
    exposed = {**{c: EXPOSED[c] for c in columns}, "email": EXPOSED["email"].upper(), "dob": "02.11.1929"}
    rows = pa.concat_tables([genuine, made_up, pa.Table.from_pylist([exposed], schema=genuine.schema)])
    sink = pa.BufferOutputStream()
    pa.csv.write_csv(rows, sink)
    broken = f"{EXPOSED['email']},{EXPOSED['phone']},{EXPOSED['first_name']} {EXPOSED['last_name']}\n"
    return sink.getvalue().to_pybytes() + broken.encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("privacy")
    inputs = root / "inputs"
    inputs.mkdir()
    base = _base()
    w = World(
        root=root,
        key=write_key(inputs / "k.key"),
        customers=write_csv(inputs / "customers.csv", base),
        dump=inputs / "dump.csv",
        canaries=inputs / "canaries.txt",
        out=root / "out",
        tmp=root / "tmp",
    )
    w.dump.write_bytes(_dump(base))
    w.canaries.write_text(f"{HIDDEN['customer_id']}\n{EXPOSED['customer_id']}\n")
    w.tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(w.tmp)}
    for stage in COMMANDS:
        running = {
            name: subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli", *argv(w), "--log-level", "debug"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            for name, argv in stage
        }
        for name, process in running.items():
            out, err = process.communicate(timeout=COMMAND_SECONDS)
            assert process.returncode in EXIT_CODES.get(name, (0,)), f"{name}: {err.decode(errors='replace')[-3000:]}"
            w.logs[f"stdout of {name}"], w.logs[f"stderr of {name}"] = out, err
    return w


def _normalized(row: dict[str, str]) -> list[str]:
    """The canary's values as normalization gives them (the form that is hashed)."""
    raw = {f: pa.array([row[f]]) for f in ("email", "phone", "first_name", "last_name", "street", "postcode", "dob")}
    raw[ORDER] = pa.array([row["order"]])
    return [str(v[0]) for v in normalize.normalize_columns(raw, "GB").values() if v[0].is_valid]


def _personal(row: dict[str, str]) -> list[str]:
    """Everything personal about a canary (its id is not: ids are in the index by design): its values, their
    words, the phone's digits (a number stored as an integer), the normalized forms. Short numbers are left
    out: digits like "123456" occur by chance in any column of 64-bit digests printed in decimal."""
    given = [v for f, v in row.items() if f not in ("customer_id", "country", "city")]
    words = [t for v in given for t in v.replace(",", " ").split() if len(t) >= 6 and not t.isdigit()]
    digits = [re.sub(r"\D", "", row["phone"])]
    return given + words + digits + _normalized(row)


def _key_material(key: Path) -> dict[bytes, str]:
    text = key.read_bytes().strip()
    derived = hashing.load_key(str(key))
    raw = {text: "key file text", bytes.fromhex(text.decode()): "key bytes", derived.hash_key: "hash key"}
    for name in ("email", "phone", "name", "first_name", "last_name", "street", "dob", ORDER, "postcode", "city"):
        raw[hashing.field_key(derived, name)] = f"{name} SipHash key"
    raw.update({secret.hex().encode(): f"{what}, hex" for secret, what in list(raw.items())})
    return raw


def _everything(w: World, needles: Needles) -> tuple[list[Hit], list[str]]:
    hits, scanned = scan_tree(w.out, needles, "out")
    tmp_hits, tmp_scanned = scan_tree(w.tmp, needles, "TMPDIR")
    for name, data in w.logs.items():
        hits += scan_bytes(name, data, needles)
    return hits + tmp_hits, scanned + tmp_scanned


def test_no_value_of_a_customer_the_dump_lacks_and_no_key_anywhere(world: World) -> None:
    text, raw = value_forms("hidden canary", _personal(HIDDEN))
    raw.update(_key_material(world.key))
    hits, scanned = _everything(world, Needles(text, raw))
    assert hits == []
    # The search covered what matters: the index, every sketch kind, the run, the library, the debug logs.
    for expected in ("out/bundle/index/email.parquet", "out/bundle/bloom/email.bin", "out/bundle-shared/hll/dob.bin"):
        assert expected in scanned
    assert any(s.startswith("out/library/") for s in scanned) and "out/run/dead_letter.csv" in scanned
    assert {"out/run/report.html", "out/shared.html"} <= set(scanned)
    assert b" DEBUG apache_beam" in world.logs["stderr of match"]


def test_a_customer_the_dump_holds_appears_only_in_the_dumps_own_rows(world: World) -> None:
    report = storage.read_json(str(world.run / "report.json"))
    assert report["records"]["canary"] == 1, "the dump's canary row must have matched, or this proves nothing"
    text, raw = value_forms("exposed canary", _personal(EXPOSED))
    hits, _ = _everything(world, Needles(text, raw))
    allowed = {(h.file, h.what) for h in hits if _dump_side(h)}
    outside = [h for h in hits if not _dump_side(h) and not (h.column is None and (h.file, h.what) in allowed)]
    assert outside == []
    assert any(h.column == "raw" and "run/dead_letter/" in h.file for h in hits), "the broken dump line is there"
    assert any(h.file == "out/run/dead_letter.csv" for h in hits)
    assert {("out/run/report.json", "samples"), ("out/run/report.html", "samples")} <= {
        (h.file, h.column) for h in hits
    }
    assert not any(h.file == "out/shared.html" for h in hits), "a page rendered --no-samples holds no dump value"


def _dump_side(hit: Hit) -> bool:
    """In a dead_letter folder or file, or in report.json / report.html, in the allowed column or section."""
    names = {*hit.file.split("/"), Path(hit.file).stem}
    return any(part in names and hit.column == column for part, column in DUMP_SIDE_COLUMNS)


def test_the_search_finds_every_form(tmp_path: Path) -> None:
    """The scan must see a value in any of the forms it claims, inside a compressed Parquet page too."""
    value = "quillonvexmartin@gmail.com"
    forms = [
        value.upper().encode(),
        hashlib.md5(value.encode()).hexdigest().upper().encode(),
        hashlib.sha256(value.encode()).digest(),
    ]
    for i, form in enumerate(forms):
        (tmp_path / f"f{i}.bin").write_bytes(b"\x00noise" + form + b"noise")
    storage.write_parquet(str(tmp_path / "t.parquet"), pa.table({"raw": [f"x {value} y"] * 100}))
    text, raw = value_forms("v", [value])
    hits, _ = scan_tree(tmp_path, Needles(text, raw))
    assert {h.where for h in hits} >= {"f0.bin", "f1.bin", "f2.bin", "t.parquet#raw"}


def test_a_bundle_to_share_holds_no_per_customer_rows(world: World) -> None:
    """--sketch-only: no index, no dead letters, no customer ids (canary ids included), nothing but sketches."""
    manifest = bundle.read_manifest(str(world.shared))
    files = sorted(p.relative_to(world.shared).as_posix() for p in world.shared.rglob("*") if p.is_file())
    fields = sorted(manifest["fields"])
    assert files == sorted(
        [bundle.MANIFEST]
        + [f"{kind}/{f.replace(':', '-')}.bin" for kind in ("bloom", "hll", "minhash") for f in fields]
    )
    assert manifest["sketch_only"] and manifest["canaries"] == [] and manifest["dead_letter_files"] == []
    ids = [str(i) for i in synthetic.customers(CUSTOMERS).column("customer_id").to_pylist()]
    ids += [HIDDEN["customer_id"], EXPOSED["customer_id"]]
    needles = Needles({i.encode(): "customer id" for i in ids}, {})
    assert scan_tree(world.shared, needles)[0] == []
    assert scan_tree(world.bundle, needles)[0], "the full bundle's index holds ids: the search works"


def test_a_shared_bundles_file_sizes_follow_from_its_parameters_alone(world: World) -> None:
    """What a partner sees of the sizes is what the manifest says anyway: the Bloom size comes from the
    capacity and FPR, HLL and MinHash have fixed sizes; no size depends on the values sketched."""
    manifest = bundle.read_manifest(str(world.shared))
    parameters, fingerprint = manifest["parameters"], manifest["key_fingerprint"]
    empty = {
        "bloom": sketches.Bloom.for_capacity(parameters["bloom_capacity"], parameters["bloom_fpr"]),
        "hll": sketches.new_hll(),
        "minhash": sketches.new_minhash(),
    }
    for f in manifest["fields"]:
        for kind, sketch in empty.items():
            size = Path(bundle.sketch_path(str(world.shared), kind, f)).stat().st_size
            assert size == len(sketches.encode(kind, f, fingerprint, sketch)), (kind, f)
