"""End to end: sketch then match on generated data, exact counts, errors, determinism."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines import cli, match, sketch
from tests.conftest import sketched_base, write_csv
from transforms import hashing, library, synthetic
from transforms.errors import InputError
from transforms.prepare import Prepare
from transforms.probe import ProbeFn
from transforms.read import ReadRecords, inspect_inputs

CUSTOMERS = 400
DUMP_ROWS = 300
GENUINE = 0.5
MALFORMED = b"ragged,row\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A base, a bundle and a dump whose genuine rows are known."""
    folder = tmp_path_factory.mktemp("world")
    key, base = sketched_base(folder, CUSTOMERS)
    generated = synthetic.dump(base, DUMP_ROWS, GENUINE)
    dump = write_csv(folder / "dump.csv", generated.table)
    dump.write_bytes(dump.read_bytes() + MALFORMED)
    truth = {line: cid for line, cid in enumerate(generated.source_customer.to_pylist(), start=2) if cid}
    return {"folder": folder, "key": key, "bundle": folder / "bundle", "dump": dump, "truth": truth}


def _match(world: dict, out: Path, *extra: str) -> dict:
    return match.run(
        [
            "--bundle",
            str(world["bundle"]),
            "--dump",
            str(world["dump"]),
            "--out",
            str(out),
            "--key-file",
            str(world["key"]),
            *extra,
        ]
    )


def _candidates(run: Path) -> pa.Table:
    return pq.read_table(run / "candidates" / "candidates-00000-of-00001.parquet")


def test_match_finds_every_genuine_row_and_accounts_for_all(world: dict, tmp_path: Path) -> None:
    report = _match(world, tmp_path / "run")
    genuine = len(world["truth"])
    assert genuine == int(DUMP_ROWS * GENUINE)
    rows = report["rows"]
    assert rows == {"read": DUMP_ROWS + 2, "parsed": DUMP_ROWS, "dead_lettered": 1, "headers": 1}
    assert rows["read"] == rows["parsed"] + rows["dead_lettered"] + rows["headers"]
    assert report["fields"]["email"]["matched"] == genuine
    assert report["fields"]["phone"]["matched"] == genuine
    assert report["fields"]["email"]["values"] == DUMP_ROWS
    assert report["records"]["cooccurring"] == genuine
    assert report["columns"]["email"] == "E-Mail" and report["columns"]["name"] == "Full Name"
    candidates = _candidates(tmp_path / "run").to_pydict()
    assert report["records"]["customers"] == len(set(candidates["customer_id"])) >= genuine
    linked = {(line, cid) for line, cid in zip(candidates["line"], candidates["customer_id"], strict=True)}
    assert {(line, cid) for line, cid in world["truth"].items()} <= linked
    for line, fields in zip(candidates["line"], candidates["matched_fields"], strict=True):
        if line not in world["truth"]:
            assert "email" not in fields and "phone" not in fields
    dead = pq.read_table(tmp_path / "run" / "dead_letter" / "dead_letter-00000-of-00001.parquet").to_pylist()
    assert dead == [
        {
            "source_file": str(world["dump"]),
            "line": DUMP_ROWS + 2,
            "reason": "ragged row: 2 fields, expected 7",
            "raw": "ragged,row",
        }
    ]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["rows"] == rows
    assert (
        manifest["outputs"]["report.json"]
        == hashlib.sha256((tmp_path / "run" / "report.json").read_bytes()).hexdigest()
    )
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256(world["dump"].read_bytes()).hexdigest()
    assert not (tmp_path / "run" / ".staging").exists()
    assert "key_file" not in manifest["options"]


def test_probe_in_a_test_pipeline(world: dict, test_pipeline) -> None:  # type: ignore[no-untyped-def]
    specs = inspect_inputs([str(world["dump"])], {}, "--dump")
    fingerprint = hashing.load_key(str(world["key"])).fingerprint
    with test_pipeline() as p:
        probed = (
            (p | ReadRecords(specs, range_bytes=4096)).records
            | Prepare(str(world["key"]), "GB")
            | beam.ParDo(ProbeFn(str(world["bundle"]), fingerprint, 50)).with_outputs(ProbeFn.STATS, main="candidates")
        )
        strong = probed.candidates | beam.FlatMap(
            lambda t: [
                (line, cid)
                for line, cid, fields in zip(
                    *(t.column(c).to_pylist() for c in ("line", "customer_id", "matched_fields")), strict=True
                )
                if "email" in fields
            ]
        )
        assert_that(strong, equal_to(list(world["truth"].items())))


def test_reruns_are_byte_identical_and_leave_no_stale_shards(world: dict, tmp_path: Path) -> None:
    stale = tmp_path / "b" / "candidates" / "candidates-00001-of-00002.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    _match(world, tmp_path / "a")
    _match(world, tmp_path / "b")
    assert not stale.exists()
    for name in (
        "report.json",
        "candidates/candidates-00000-of-00001.parquet",
        "dead_letter/dead_letter-00000-of-00001.parquet",
    ):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_dump_seen_before_is_found_in_the_library(world: dict, tmp_path: Path) -> None:
    shelf = str(tmp_path / "library")
    first = _match(world, tmp_path / "first", "--library", shelf, "--library-label", "first sighting")
    assert first["library"] == [] and first["library_search"]["compared"] == 0
    again = _match(world, tmp_path / "again", "--library", shelf)
    assert again["library_search"] == {"path": shelf, "compared": 1, "skipped_other_key": 0, "unresolved": []}
    email = next(row for row in again["library"] if row["field"] == "email")
    assert email["label"] == "first sighting" and email["containment"] == 1.0
    assert again["verdict"]["label"] == "recycled"
    entries = library.read_index(shelf)["entries"]
    assert sorted(e["label"] for e in entries) == sorted(["first sighting", str(tmp_path / "again")])
    manifest = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert manifest["library"]["entry"] in {e["id"] for e in entries}


def test_a_run_failing_its_input_checks_stays_out_of_the_library(world: dict, tmp_path: Path) -> None:
    shelf = str(tmp_path / "library")
    with pytest.raises(InputError, match="could not be parsed"):
        _match(world, tmp_path / "run", "--library", shelf, "--max-dead-letter-fraction", "0")
    assert library.read_index(shelf)["entries"] == []
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["library"] == {"path": shelf, "entry": None}


def test_two_dumps_with_different_layouts(world: dict, tmp_path: Path) -> None:
    german = tmp_path / "kunden.csv"
    german.write_bytes(b"E-Mail;Handy;Land\nnobody@nowhere.example;+49 1512 3456789;Deutschland\n\n")
    report = match.run(
        [
            "--bundle",
            str(world["bundle"]),
            "--dump",
            str(world["dump"]),
            str(german),
            "--out",
            str(tmp_path / "r"),
            "--key-file",
            str(world["key"]),
        ]
    )
    by_path = {Path(i["path"]).name: i for i in report["inputs"]}
    assert by_path["kunden.csv"]["delimiter"] == ";"
    assert by_path["kunden.csv"]["columns"] == {"email": "E-Mail", "phone": "Handy", "country": "Land"}
    assert (by_path["kunden.csv"]["rows_read"], by_path["kunden.csv"]["rows_parsed"]) == (2, 1)
    assert report["rows"]["read"] == DUMP_ROWS + 2 + 2


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(args)
    return code, capsys.readouterr().err


def test_key_mismatch_stops_with_exit_2(world: dict, tmp_path: Path, other_key_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, err = _cli(
        [
            "match",
            "--bundle",
            str(world["bundle"]),
            "--dump",
            str(world["dump"]),
            "--out",
            str(tmp_path / "r"),
            "--key-file",
            str(other_key_file),
        ],
        capsys,
    )
    assert code == 2
    assert "key does not match bundle" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_dump", "does not exist"),
        ("not_a_bundle", "has no manifest.json"),
        ("empty_dump", "is empty"),
        ("header_only", "header but no rows"),
        ("no_known_column", "no column is recognised"),
        ("unknown_option", "unknown option --dumpp"),
        ("no_key", "no key given"),
        ("bad_mapping", "is not field=Header"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    world: dict, tmp_path: Path, capsys, case: str, message: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(hashing.KEY_ENV, raising=False)
    dump = tmp_path / "d.csv"
    dump.write_bytes(
        {"empty_dump": b"", "header_only": b"email,name\n", "no_known_column": b"foo,bar\n1,2\n"}.get(
            case, b"email\na@b.com\n"
        )
    )
    args = {
        "bundle": str(tmp_path if case == "not_a_bundle" else world["bundle"]),
        "dump": str(tmp_path / "missing.csv" if case == "missing_dump" else dump),
    }
    argv = ["match", "--bundle", args["bundle"], "--dump", args["dump"], "--out", str(tmp_path / "r")]
    if case != "no_key":
        argv += ["--key-file", str(world["key"])]
    if case == "unknown_option":
        argv += ["--dumpp", "x"]
    if case == "bad_mapping":
        argv += ["--columns", "email"]
    code, err = _cli(argv, capsys)
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_missing_customer_file_for_sketch(tmp_path: Path, key_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, err = _cli(
        [
            "sketch",
            "--customers",
            str(tmp_path / "none.csv"),
            "--out",
            str(tmp_path / "b"),
            "--key-file",
            str(key_file),
        ],
        capsys,
    )
    assert code == 2 and "none.csv does not exist" in err


@pytest.mark.parametrize("command", ["sketch", "match", "demo", "report"])
def test_every_subcommand_has_help_with_an_example(command: str) -> None:
    result = subprocess.run([sys.executable, "-m", f"pipelines.{command}", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "example:" in result.stdout and f"dumpmatch {command}" in result.stdout


def test_the_usage_and_an_unknown_command_answer_without_loading_beam() -> None:
    """Importing Beam and pyarrow takes over a second; ``dumpmatch --help`` or a typo need neither."""
    check = (
        "import sys; from pipelines import cli; codes = cli.main(['--help']), cli.main(['mtach']); "
        "print(codes, sorted({m.split('.')[0] for m in sys.modules} & {'apache_beam', 'pyarrow'}))"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "(0, 2) []"
    assert "unknown command 'mtach'; use one of sketch, match, demo, report, library, reverify" in result.stderr


def test_distinct_counts_never_exceed_what_bounds_them(tmp_path: Path) -> None:
    """HyperLogLog estimates are clamped to the exact counts above them. Under this key the unclamped
    estimates were 1,001 distinct e-mails in 1,000 rows and 604 distinct phones matched in 600 rows."""
    key = tmp_path / "fixed.key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o600)
    base = synthetic.customers(2000)
    write_csv(tmp_path / "customers.csv", base)
    write_csv(tmp_path / "dump.csv", synthetic.dump(base, 1000, 0.6).table)
    sketch.run(["--customers", str(tmp_path / "customers.csv"), "--out", str(tmp_path / "b"), "--key-file", str(key)])
    args = ["--bundle", str(tmp_path / "b"), "--dump", str(tmp_path / "dump.csv"), "--key-file", str(key)]
    fields = match.run([*args, "--out", str(tmp_path / "run")])["fields"]
    for name, f in fields.items():
        assert f["distinct"] <= f["values"] and f["matched_distinct"] <= min(f["matched"], f["distinct"]), name
    assert (fields["email"]["distinct"], fields["phone"]["matched_distinct"]) == (1000, 600)


def test_demo_prints_where_the_report_is(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = cli.main(["demo", "--out", str(tmp_path / "demo"), "--customers", "300", "--dump-rows", "200"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"report: {tmp_path / 'demo' / 'run' / 'report.json'}" in out
    assert "verdict: genuine" in out
    assert out.splitlines()[-1].endswith(str(tmp_path / "demo" / "run" / "report.html"))
    report = json.loads((tmp_path / "demo" / "run" / "report.json").read_text())
    assert report["fields"]["email"]["matched"] == 120
    assert report["rows"]["dead_lettered"] == 2


def test_a_field_whose_every_value_is_rejected_still_matches(tmp_path: Path, key_file: Path) -> None:
    """Every email invalid: the field is listed in the bundle with an empty index, and match runs."""
    base = pa.table({"customer_id": ["c1", "c2"], "email": ["not an email", "-"], "phone": ["+14155550100", ""]})
    customers = write_csv(tmp_path / "customers.csv", base)
    bundle = tmp_path / "bundle"
    cli.main(["sketch", "--customers", str(customers), "--out", str(bundle), "--key-file", str(key_file), "--quiet"])
    assert (bundle / "index" / "email.parquet").exists()
    dump = write_csv(tmp_path / "dump.csv", pa.table({"email": ["x@example.com"], "phone": ["+1 415 555 0100"]}))
    report = match.run(
        ["--bundle", str(bundle), "--dump", str(dump), "--out", str(tmp_path / "run"), "--key-file", str(key_file)]
    )
    assert report["fields"]["email"]["matched"] == 0
    assert report["fields"]["phone"]["matched"] == 1
