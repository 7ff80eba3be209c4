"""One end-to-end `dumpmatch match` per dump format: the same genuine rows are found in each."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from pipelines import cli, match
from tests.conftest import sketched_base
from transforms import synthetic

GENUINE = 40


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("formats")
    key, base = sketched_base(folder, 200)
    rows = synthetic.dump(base, 60, GENUINE / 60).table.to_pylist()
    return {"folder": folder, "key": key, "rows": rows}


def _csv_bytes(rows: list[dict]) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def _sql_text(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _mysql(rows: list[dict]) -> bytes:
    columns = list(rows[0])
    create = "CREATE TABLE `users` (\n" + ",\n".join(f"  `{c}` varchar(255)" for c in columns) + "\n);\n"
    values = ",".join("(" + ",".join(_sql_text(r[c]) for c in columns) + ")" for r in rows)
    return (create + f"INSERT INTO `users` VALUES {values};\n").encode()


def _pgdump(rows: list[dict]) -> bytes:
    columns = list(rows[0])
    body = "".join("\t".join("\\N" if r[c] is None else r[c] for c in columns) + "\n" for r in rows)
    header = "COPY public.users (" + ", ".join(f'"{c}"' for c in columns) + ") FROM stdin;\n"
    return (header + body + "\\.\n").encode()


def _zip(rows: list[dict]) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("leak/users.csv", _csv_bytes(rows))
    return sink.getvalue()


def _parquet(rows: list[dict]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


WRITERS: dict[str, tuple[str, Callable[[list[dict]], bytes]]] = {
    "csv": ("dump.csv", _csv_bytes),
    "csv.gz": ("dump.csv.gz", lambda rows: gzip.compress(_csv_bytes(rows))),
    "jsonl": ("dump.jsonl", lambda rows: "".join(json.dumps({"contact": r}) + "\n" for r in rows).encode()),
    "json": ("dump.json", lambda rows: json.dumps(rows, indent=1).encode()),
    "combo": ("combo.txt", lambda rows: "".join(f"{r['E-Mail'].strip()}:hunter2\n" for r in rows).encode()),
    "mysql": ("dump.sql", _mysql),
    "pgdump": ("dump.sql", _pgdump),
    "parquet": ("dump.parquet", _parquet),
    "zip": ("dump.zip", _zip),
}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_every_format_finds_the_same_genuine_rows(world: dict, tmp_path: Path, kind: str) -> None:
    name, writer = WRITERS[kind]
    dump = tmp_path / name
    dump.write_bytes(writer(world["rows"]))
    report = match.run(
        [
            "--bundle",
            str(world["folder"] / "bundle"),
            "--dump",
            str(dump),
            "--out",
            str(tmp_path / "run"),
            "--key-file",
            str(world["key"]),
        ]
    )
    assert report["fields"]["email"]["matched"] == GENUINE
    assert report["rows"]["parsed"] == len(world["rows"])
    assert report["rows"]["dead_lettered"] == 0
    expected_format = {"csv.gz": "csv", "zip": "csv"}.get(kind, kind)
    assert report["inputs"][0]["format"] == expected_format


def test_truncated_dump_fails_unless_allowed(world: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = world["rows"] * 400
    blob = gzip.compress(_csv_bytes(rows))
    dump = tmp_path / "cut.csv.gz"
    dump.write_bytes(blob[: len(blob) // 2])
    argv = ["match", "--bundle", str(world["folder"] / "bundle"), "--dump", str(dump), "--key-file", str(world["key"])]
    code = cli.main([*argv, "--out", str(tmp_path / "strict")])
    err = capsys.readouterr().err
    assert code == 2 and "is incomplete (gzip stream is cut off" in err and "--allow-truncated" in err
    assert cli.main([*argv, "--out", str(tmp_path / "lenient"), "--allow-truncated"]) == 0
    report = json.loads((tmp_path / "lenient" / "report.json").read_text())
    assert report["inputs"][0]["complete"] is False
    assert 0 < report["rows"]["parsed"] < len(rows)


def test_mostly_garbage_input_stops_the_run(world: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "garbage.csv"
    dump.write_bytes(b"email,name\na@b.com,A\n" + b"x,y,z\n" * 9)
    argv = ["match", "--bundle", str(world["folder"] / "bundle"), "--dump", str(dump), "--key-file", str(world["key"])]
    assert cli.main([*argv, "--out", str(tmp_path / "r1")]) == 2
    assert "90% of rows could not be parsed" in capsys.readouterr().err
    assert cli.main([*argv, "--out", str(tmp_path / "r2"), "--max-dead-letter-fraction", "0.95"]) == 0


def test_a_stray_quote_costs_one_row_not_the_dump(world: dict, tmp_path: Path) -> None:
    header, *rows = _csv_bytes(world["rows"]).split(b"\n")
    dump = tmp_path / "stray.csv"
    # A stray quote opening the first row's own line, then a three-line quoted field further down.
    stray = b'"oops,' + b",".join(b"" for _ in header.split(b","))
    dump.write_bytes(
        b"\n".join([header, stray, *rows[:10], b'"a\nb\nc"' + rows[10][rows[10].index(b",") :], *rows[11:]])
    )
    argv = ["--bundle", str(world["folder"] / "bundle"), "--dump", str(dump), "--key-file", str(world["key"])]
    report = match.run([*argv, "--out", str(tmp_path / "run"), "--max-quoted-lines", "3"])
    assert report["fields"]["email"]["matched"] >= GENUINE - 1
    assert report["rows"]["parsed"] == len(world["rows"])
    assert report["rows"]["dead_lettered"] == 1
    strict = match.run([*argv, "--out", str(tmp_path / "strict"), "--max-quoted-lines", "2"])
    # Past the bound the field's opening line is stray and "b" is a ragged row; 'c",...' is a row again.
    assert strict["rows"]["dead_lettered"] == 3
    assert strict["rows"]["parsed"] == len(world["rows"])
