"""Reading inputs: launch-time checks, and ReadRecords in a real pipeline with exact accounting."""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import zipfile
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines import inputs
from transforms.combiners import SumStatsFn
from transforms.errors import InputError
from transforms.read import ReadRecords, inspect_file, inspect_inputs


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"   \n\n", "is empty"),
        (b"E-Mail,Name\n", "header but no rows"),
        (b"E-Mail,Name\r\n\r\n", "header but no rows"),
        (b"foo,bar\n1,2\n", "no column is recognised"),
    ],
)
def test_bad_inputs_stop_with_one_clear_message(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "dump.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        inspect_file(str(path), {})
    assert str(path) in str(err.value)


def test_missing_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        inspect_inputs([str(tmp_path / "nope.csv")], {}, "--dump")


def test_glob_expands_sorted(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv"):
        (tmp_path / name).write_bytes(b"email\nx@y.com\n")
    specs = inspect_inputs([str(tmp_path / "*.csv")], {}, "--dump")
    assert [Path(s.path).name for s in specs] == ["a.csv", "b.csv"]


def test_mapping_from_synonyms_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"E-Mail;Handy;Vorname;Nachname;Kundennummer\nx@y.com;1;A;B;7\n")
    (spec,) = inspect_file(str(path), {"id:account": "Kundennummer"})
    assert spec.layout.delimiter == ";"
    assert spec.field_columns() == {
        "email": "E-Mail",
        "phone": "Handy",
        "first_name": "Vorname",
        "last_name": "Nachname",
        "id:account": "Kundennummer",
    }


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ФИО,Почта,Телефон,Адрес,Город,Почтовый индекс", ["name", "email", "phone", "street", "city", "postcode"]),
        ("姓名,邮箱,手机号,地址,城市,邮编", ["name", "email", "phone", "street", "city", "postcode"]),
        (
            "氏名,メールアドレス,電話番号,住所,郵便番号,生年月日",
            ["name", "email", "phone", "street", "postcode", "dob"],
        ),
        ("성명,이메일,휴대폰,주소,우편번호,국가", ["name", "email", "phone", "street", "postcode", "country"]),
        (
            "Imię,Nazwisko,E-mail,Nr telefonu,Kod pocztowy,Miasto",
            ["first_name", "last_name", "email", "phone", "postcode", "city"],
        ),
        ("Adı,Soyadı,E-posta,Şehir,Ülke,Doğum tarihi", [None, "last_name", "email", "city", "country", "dob"]),
        (
            "Voornaam,Achternaam,Straße,Woonplaats,Telefoonnummer,E-Mail (邮箱)",
            ["first_name", "last_name", "street", "city", "phone", "email"],
        ),
    ],
)
def test_headers_in_other_languages_and_scripts(tmp_path: Path, header: str, expected: list[str | None]) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"{header}\n" + ",".join(["x@y.com"] * len(expected)) + "\n", encoding="utf-8")
    (spec,) = inspect_file(str(path), {})
    named = dict(zip(header.split(","), expected, strict=True))
    assert spec.field_columns() == {field: column for column, field in named.items() if field}


def test_override_naming_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"email\nx@y.com\n")
    with pytest.raises(InputError, match="'Mail' given for email is not in the header"):
        inspect_file(str(path), {"email": "Mail"})


def test_read_records_accounts_for_every_row(tmp_path: Path, test_pipeline) -> None:  # type: ignore[no-untyped-def]
    lines = [b"email,name"]
    expected = []
    for i in range(1, 101):
        if i % 17 == 0:
            lines.append(b"ragged")
        else:
            lines.append(f"u{i}@x.com,N{i}".encode())
            expected.append((f"u{i}@x.com", i + 1))
    path = tmp_path / "dump.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    specs = inspect_inputs([str(path)], {}, "--dump")
    with test_pipeline() as p:
        read = p | ReadRecords(specs, range_bytes=64, batch_rows=7)
        rows = read.records | "Rows" >> beam.FlatMap(
            lambda b: list(zip(b.column("email").to_pylist(), b.column("_line").to_pylist(), strict=True))
        )
        dead = read.dead | "Dead" >> beam.FlatMap(lambda t: t.column("line").to_pylist())
        stats = read.stats | "Sum" >> beam.CombineGlobally(SumStatsFn())
        assert_that(rows, equal_to(expected), label="rows")
        assert_that(dead, equal_to([17 * k + 1 for k in range(1, 6)]), label="dead")
        assert_that(
            stats,
            equal_to(
                [
                    {
                        "inputs": {
                            str(path): {"rows_read": 101, "rows_parsed": 95, "rows_dead_lettered": 5, "headers": 1}
                        },
                        "fields": {"email": {"raw": 95}, "name": {"raw": 95}},
                    }
                ]
            ),
            label="stats",
        )


def test_parquet_input(tmp_path: Path, test_pipeline) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "customers.parquet"
    pq.write_table(
        pa.table({"email": [f"u{i}@x.com" for i in range(10)], "score": list(range(10))}), path, row_group_size=3
    )
    specs = inspect_inputs([str(path)], {}, "--customers")
    assert specs[0].format == "parquet"
    with test_pipeline() as p:
        read = p | ReadRecords(specs)
        rows = read.records | beam.FlatMap(
            lambda b: list(zip(b.column("email").to_pylist(), b.column("_line").to_pylist(), strict=True))
        )
        assert_that(rows, equal_to([(f"u{i}@x.com", i + 1) for i in range(10)]))


def inputs_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    inputs.add_arguments(parser)
    return parser


def test_max_quoted_lines_must_allow_a_line() -> None:
    args = inputs_parser().parse_args(["--max-quoted-lines", "0"])
    with pytest.raises(InputError, match="--max-quoted-lines 0: give at least 1"):
        inputs.limits(args)
    assert inputs.limits(inputs_parser().parse_args([])).max_quoted_lines == 64


@pytest.mark.parametrize("fmt", ["mysql", "pgdump"])
def test_sql_dump_ranges_through_a_pipeline(tmp_path: Path, test_pipeline, fmt: str) -> None:  # type: ignore[no-untyped-def]
    rows = [(i, f"u{i}@x.com") for i in range(300)]
    if fmt == "mysql":
        create = b"CREATE TABLE `users` (\n  `id` int,\n  `email` varchar(255)\n);\n"
        # One long INSERT, so ranges cut it between tuples and repeat its header.
        data = (
            create
            + b"INSERT INTO `users` VALUES "
            + b",".join(b"(%d,'%s')" % (i, e.encode()) for i, e in rows)
            + b";\n"
        )
    else:
        body = b"".join(b"%d\t%s\n" % (i, e.encode()) for i, e in rows)
        data = b"COPY public.users (id, email) FROM stdin;\n" + body + b"\\.\n"
    path = tmp_path / "dump.sql"
    path.write_bytes(data)
    specs = inspect_inputs([str(path)], {}, "--dump")
    assert specs[0].format == fmt and specs[0].splittable
    with test_pipeline() as p:
        read = p | ReadRecords(specs, range_bytes=512, batch_rows=50)
        emails = read.records | beam.FlatMap(lambda b: b.column("email").to_pylist())
        stats = read.stats | "Sum" >> beam.CombineGlobally(SumStatsFn())
        assert_that(emails, equal_to([e for _, e in rows]), label="emails")
        assert_that(
            stats | beam.Map(lambda s: s["inputs"][str(path)]),
            equal_to([{"rows_read": 300, "rows_parsed": 300, "rows_dead_lettered": 0, "headers": 0}]),
            label="stats",
        )


def test_planning_gives_each_files_sha256_reading_it_once(tmp_path: Path, test_pipeline) -> None:  # type: ignore[no-untyped-def]
    """The manifest's checksums come from the planner's own scan of a plain file (an oversized record it
    skips is hashed too), from the file itself for compressed inputs, and once per file for a zip's members."""
    lines = [f"u{i}@x.com,N{i}\n".encode() for i in range(200)]
    rows = b"".join(lines)
    plain = tmp_path / "dump.csv"
    plain.write_bytes(
        b"email,name\n" + b"".join(lines[:100]) + b"big@x.com," + b"x" * 5000 + b"\n" + b"".join(lines[100:])
    )
    packed = tmp_path / "dump.csv.gz"
    packed.write_bytes(gzip.compress(b"email,name\n" + rows))
    archive = tmp_path / "dumps.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.csv", b"email,name\n" + rows)
        zipped.writestr("b.csv", b"email,name\n" + rows)
    specs = inspect_inputs([str(plain), str(packed), str(archive)], {}, "--dump")
    assert len(specs) == 4  # the zip's two members share one file
    small = dataclasses.replace(specs[0].limits, max_record_bytes=1024)
    specs = [dataclasses.replace(spec, limits=small) for spec in specs]
    expected = [(str(p), hashlib.sha256(p.read_bytes()).hexdigest()) for p in (plain, packed, archive)]
    with test_pipeline() as p:
        read = p | ReadRecords(specs, range_bytes=256, checksums=True)
        dead = read.dead | "Dead" >> beam.FlatMap(lambda t: t.column("line").to_pylist())
        assert_that(read.checksums, equal_to(expected), label="checksums")
        assert_that(dead, equal_to([102]), label="oversized")  # header, 100 rows, then the long one
    with test_pipeline() as p:
        assert_that((p | ReadRecords(specs)).checksums, equal_to([]), label="not asked")
