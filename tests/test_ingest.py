"""Real dumps: formats, compression, encodings and malformed files, each with exact accounting.

Every case is a file the test writes itself; it is read by the real planner and parser
DoFns (called directly, without a runner, to keep 40 cases fast), and the checks are the
rows parsed, the dead-letter lines and reasons, and the accounting identity.
"""

from __future__ import annotations

import bz2
import gzip
import io
import itertools
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from transforms import decode, jsonlines, sqldump
from transforms.combiners import SumStatsFn
from transforms.decode import Limits
from transforms.errors import InputError
from transforms.read import DEFAULT_LIMITS, ParseTaskFn, PlanTasksFn, inspect_inputs
from transforms.report import input_entries

ROWS = [("ann@example.com", "Ann Lee"), ("bob@example.com", "Bob Ray"), ("cy@example.com", "Cy Wu")]
CSV = "email,name\n" + "".join(f"{e},{n}\n" for e, n in ROWS)


@dataclass
class Read:
    emails: list[str | None]
    lines: list[int]
    dead: list[tuple[int, str]]
    entries: list[dict]


def read(path: Path, range_bytes: int = 1 << 20, limits: Limits = DEFAULT_LIMITS, **kw: object) -> Read:
    specs = inspect_inputs([str(path)], {}, "--dump", limits=limits, **kw)  # type: ignore[arg-type]
    emails: list[str | None] = []
    lines: list[int] = []
    dead: list[tuple[int, str]] = []
    stats = []
    parse = ParseTaskFn(batch_rows=1000, range_bytes=range_bytes)
    parse.setup()
    for spec in specs:
        for task in PlanTasksFn(range_bytes).process(spec):
            for out in parse.process(task):
                tag = getattr(out, "tag", None)
                if tag == ParseTaskFn.STATS:
                    stats.append(out.value)
                elif tag == ParseTaskFn.DEAD:
                    dead += list(
                        zip(out.value.column("line").to_pylist(), out.value.column("reason").to_pylist(), strict=True)
                    )
                else:
                    if "email" in out.schema.names:
                        emails += out.column("email").to_pylist()
                    lines += out.column("_line").to_pylist()
    total = SumStatsFn()
    entries = input_entries(specs, total.extract_output(total.merge_accumulators(stats)))
    for entry in entries:
        assert entry["rows_read"] == entry["rows_parsed"] + entry["rows_dead_lettered"] + entry["headers"]
    return Read(emails, lines, sorted(dead), entries)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


EXPECTED = [e for e, _ in ROWS]


# ---- delimited text ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "delimiter"),
    [
        ("comma.csv", CSV, ","),
        ("semi.csv", CSV.replace(",", ";"), ";"),
        ("tab.tsv", CSV.replace(",", "\t"), "\t"),
        ("pipe.txt", CSV.replace(",", "|"), "|"),
        ("crlf.csv", CSV.replace("\n", "\r\n"), ","),
    ],
)
def test_delimiters_and_line_ends(tmp_path: Path, name: str, data: str, delimiter: str) -> None:
    result = read(write(tmp_path, name, data.encode()))
    assert result.emails == EXPECTED and result.lines == [2, 3, 4]
    assert result.entries[0]["delimiter"] == delimiter and result.entries[0]["format"] == "csv"


def test_quoted_fields_with_delimiters_and_newlines(tmp_path: Path) -> None:
    data = b'email,name\n"ann@example.com","Lee,\nAnn"\nbob@example.com,"Ray ""B"""\n'
    result = read(write(tmp_path, "q.csv", data))
    assert result.emails == ["ann@example.com", "bob@example.com"] and result.lines == [2, 4]


def test_without_header_columns_are_sniffed(tmp_path: Path) -> None:
    data = "".join(f"{e},{n},+44 7911 12345{i}\n" for i, (e, n) in enumerate(ROWS)).encode()
    result = read(write(tmp_path, "nohead.csv", data))
    assert result.emails == EXPECTED and result.lines == [1, 2, 3]
    assert result.entries[0]["header"] is False
    assert result.entries[0]["columns"] == {"email": "column1", "phone": "column3"}


def test_a_header_in_words_no_synonym_knows_stays_the_header(tmp_path: Path) -> None:
    """The columns are found by their values, and the row above those values is counted as the header,
    not read as a row of data."""
    data = "user_mail,full_nm,tel_no\n" + "".join(f"{e},{n},+44 7911 12345{i}\n" for i, (e, n) in enumerate(ROWS))
    result = read(write(tmp_path, "odd.csv", data.encode()))
    assert result.emails == EXPECTED and result.lines == [2, 3, 4] and result.dead == []
    assert result.entries[0]["header"] is True and result.entries[0]["headers"] == 1
    assert result.entries[0]["columns"] == {"email": "user_mail", "phone": "tel_no"}


@pytest.mark.parametrize("header", [",,", "x,x,x", "x,,x"])
def test_a_header_whose_names_cannot_say_which_column_is_read_as_data(tmp_path: Path, header: str) -> None:
    """Empty or repeated names cannot name the e-mail column: the file is read as header-less, as before
    (it failed on "Field exists 2 times" while these names were kept)."""
    data = f"{header}\n" + "".join(f"{n},{e},+44 7911 12345{i}\n" for i, (e, n) in enumerate(ROWS * 2))
    result = read(write(tmp_path, "blank.csv", data.encode()))
    assert result.entries[0]["header"] is False
    assert result.entries[0]["columns"] == {"email": "column2", "phone": "column3"}
    assert result.emails[1:] == [*EXPECTED, *EXPECTED] and result.lines == list(range(1, 8))


@pytest.mark.parametrize(
    ("name", "data", "email"),
    [
        (
            "partial.csv",
            "Name,order_no,contact_email,mobile_no\n"
            + "".join(f"{n},2024{i}88812,{e},+44 7911 12345{i}\n" for i, (e, n) in enumerate(ROWS)),
            "contact_email",
        ),
        (
            "partial.jsonl",
            "".join(f'{{"name": "{n}", "account": "5550{i}1234", "login": "{e}"}}\n' for i, (e, n) in enumerate(ROWS)),
            "login",
        ),
    ],
)
def test_email_and_phone_columns_the_header_does_not_name_are_found_by_their_values(
    tmp_path: Path, name: str, data: str, email: str
) -> None:
    """Beside columns the header does name: e-mail by its values alone, phone only under a header with a
    phone word ("mobile_no"), never a column of order numbers ("order_no"), which looks the same."""
    result = read(write(tmp_path, name, data.encode()))
    columns = result.entries[0]["columns"]
    assert result.emails == EXPECTED and columns["email"] == email
    assert columns.get("phone") == ("mobile_no" if name.endswith(".csv") else None)


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("utf-8-sig", b"\xef\xbb\xbf" + "E-Mail,Name\nann@example.com,Zoë\n".encode()),
        ("utf-16", "\ufeffE-Mail,Name\nann@example.com,Zoë\n".encode("utf-16-le")),
        ("cp1252", ("E-Mail,Name\n" + "ann@example.com,Zoë Müller\n" * 50).encode("cp1252")),
    ],
)
def test_encodings(tmp_path: Path, encoding: str, data: bytes) -> None:
    result = read(write(tmp_path, "enc.csv", data))
    assert result.entries[0]["encoding"] == encoding
    assert result.entries[0]["columns"]["email"] == "E-Mail"
    assert set(result.emails) == {"ann@example.com"} and result.dead == []


def test_legacy_encoding_is_transcoded(tmp_path: Path) -> None:
    path = write(tmp_path, "cp.csv", ("email,name\n" + "ann@example.com,José Müller\n" * 30).encode("cp1252"))
    specs = inspect_inputs([str(path)], {}, "--dump")
    names = []
    parse = ParseTaskFn(100, 1 << 20)
    parse.setup()
    for task in PlanTasksFn(1 << 20).process(specs[0]):
        for out in parse.process(task):
            if not hasattr(out, "tag"):
                names += out.column("name").to_pylist() if "name" in out.schema.names else []
    assert set(names) == {"José Müller"}


def test_bare_carriage_returns(tmp_path: Path) -> None:
    result = read(write(tmp_path, "mac.csv", CSV.replace("\n", "\r").encode()))
    assert result.emails == EXPECTED and result.lines == [2, 3, 4]


def test_nul_bytes_do_not_crash(tmp_path: Path) -> None:
    result = read(write(tmp_path, "nul.csv", b"email,name\nann@example.com,A\x00nn\nbob@example.com,Bob\n"))
    assert result.emails == ["ann@example.com", "bob@example.com"]


@pytest.mark.parametrize(
    ("body", "dead"),
    [
        (b"ann@example.com,Ann\nragged\nbob@example.com,Bob\n", [(3, "ragged row: 1 fields, expected 2")]),
        (b"ann@example.com,Ann\nx@y.com,a,b\n", [(3, "ragged row: 3 fields, expected 2")]),
        (
            "ann@example.com,Zoë\n".encode() * 20 + b"\xff\xfe@x.com,B\n",
            [(22, "bytes are not valid UTF-8 at offset 0")],
        ),
        (b"ann@example.com,Ann\nemail,name\nbob@example.com,Bob\n", [(3, "repeated header")]),
        (b'ann@example.com,Ann\n"open,B\n', [(3, "unbalanced quote")]),
    ],
)
def test_bad_lines_are_dead_lettered(tmp_path: Path, body: bytes, dead: list[tuple[int, str]]) -> None:
    result = read(write(tmp_path, "bad.csv", b"email,name\n" + body))
    assert result.dead == dead
    assert "ann@example.com" in result.emails


def test_splitting_into_many_ranges_changes_nothing(tmp_path: Path) -> None:
    body = "".join(f'u{i}@x.com,"N\n{i}"\n' if i % 7 == 0 else f"u{i}@x.com,N{i}\n" for i in range(500))
    path = write(tmp_path, "big.csv", ("email,name\n" + body).encode())
    whole, split = read(path), read(path, range_bytes=100)
    assert split.emails == whole.emails and split.lines == whole.lines
    assert len(whole.emails) == 500


def _with_stray_quotes() -> tuple[bytes, list[str], list[int]]:
    """A 2 MB CSV with stray quotes early and late, legit multi-line fields, and what must parse."""
    rows, emails, strays = [b"email,name,note"], [], []
    for i in range(40000):
        if i in (5, 30000):
            rows.append(b'"u%d@x.com,Name %d,note' % (i, i))  # the quote never closes
            strays.append(len(rows) + sum(row.count(b"\n") for row in rows))
            continue
        note = b'"line one\nline two, %d"' % i if i % 97 == 0 else b'O"Brien %d' % i if i % 89 == 0 else b"n"
        rows.append(b"u%d@x.com,Name %d," % (i, i) + note)
        emails.append(f"u{i}@x.com")
    return b"\n".join(rows) + b"\n", emails, strays


@pytest.mark.parametrize("range_bytes", [1 << 22, 1 << 16, 300])
def test_a_stray_quote_early_in_a_large_file_costs_one_line(tmp_path: Path, range_bytes: int) -> None:
    data, emails, strays = _with_stray_quotes()
    path = write(tmp_path, "stray.csv", data)
    ranges = list(PlanTasksFn(range_bytes).process(inspect_inputs([str(path)], {}, "--dump")[0]))
    assert len(ranges) == 1 if range_bytes > len(data) else len(ranges) > 10
    result = read(path, range_bytes=range_bytes)
    assert result.emails == emails
    assert result.dead == [(line, "unbalanced quote") for line in strays]
    assert result.entries[0]["rows_read"] == len(emails) + len(strays) + 1


def test_a_stray_quote_in_a_compressed_stream_costs_one_line(tmp_path: Path) -> None:
    data, emails, strays = _with_stray_quotes()
    result = read(write(tmp_path, "stray.csv.gz", gzip.compress(data)), range_bytes=1 << 16)
    assert result.emails == emails
    assert result.dead == [(line, "unbalanced quote") for line in strays]


def test_quoted_fields_longer_than_the_bound_are_stray(tmp_path: Path) -> None:
    body = b'a@x.com,"one\ntwo\nthree"\nb@x.com,B\n'
    path = write(tmp_path, "long.csv", b"email,name\n" + body)
    assert read(path).emails == ["a@x.com", "b@x.com"]
    short = read(path, limits=Limits(1000.0, 1 << 40, max_quoted_lines=2))
    assert short.dead[0] == (2, "unbalanced quote")
    assert "b@x.com" in short.emails


# ---- compression and containers ------------------------------------------------------


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize(
    ("name", "blob"),
    [
        ("d.csv.gz", gzip.compress(CSV.encode())),
        ("d.csv.gz", gzip.compress(CSV.encode()[:30]) + gzip.compress(CSV.encode()[30:])),
        ("d.csv.bz2", bz2.compress(CSV.encode())),
        ("d.csv.zst", _zstd(CSV.encode())),
        ("no-extension", gzip.compress(CSV.encode())),
    ],
    ids=["gzip", "gzip-multi-member", "bz2", "zstd", "gzip-without-extension"],
)
def test_compressed_inputs(tmp_path: Path, name: str, blob: bytes) -> None:
    result = read(write(tmp_path, name, blob))
    assert result.emails == EXPECTED and result.lines == [2, 3, 4]
    assert result.entries[0]["complete"] is True


BIG = ("email,name\n" + "".join(f"u{i}@example.com,Name {i}\n" for i in range(100000))).encode()


@pytest.mark.parametrize(("compress", "compression"), [(gzip.compress, "gzip"), (bz2.compress, "bz2"), (_zstd, "zstd")])
def test_truncated_archive_is_never_a_silent_short_read(tmp_path: Path, compress, compression: str) -> None:  # type: ignore[no-untyped-def]
    blob = compress(BIG)
    result = read(write(tmp_path, "cut.gz", blob[: len(blob) * 2 // 3]))
    entry = result.entries[0]
    assert entry["compression"] == compression
    assert entry["complete"] is False and "cut off" in entry["incomplete_reason"]
    assert 0 < entry["rows_parsed"] < 100000


def test_corrupt_gzip_is_reported(tmp_path: Path) -> None:
    blob = bytearray(gzip.compress(BIG))
    blob[len(blob) // 2] ^= 0xFF
    entry = read(write(tmp_path, "bad.gz", bytes(blob))).entries[0]
    assert entry["complete"] is False and "corrupt" in entry["incomplete_reason"]


def test_gzip_bomb_stops_at_the_ratio(tmp_path: Path) -> None:
    bomb = gzip.compress(b"email\n" + b"a@b.com\n" * (20 << 20))
    entry = read(write(tmp_path, "bomb.gz", bomb), limits=Limits(max_ratio=50, max_bytes=1 << 40)).entries[0]
    assert entry["complete"] is False and "ratio over 50" in entry["incomplete_reason"]


def test_read_ahead_keeps_order_raises_in_place_and_stops_when_closed() -> None:
    def blocks() -> Iterator[bytes]:
        yield from (b"%d" % i for i in range(50))
        raise decode.Incomplete("cut off")

    got: list[bytes] = []
    with pytest.raises(decode.Incomplete, match="cut off"):
        for block in decode.ahead(blocks(), depth=3):
            got.append(block)
    assert got == [b"%d" % i for i in range(50)]
    produced: list[int] = []

    def endless() -> Iterator[bytes]:
        for i in itertools.count():
            produced.append(i)
            yield b"x"

    reader = decode.ahead(endless(), depth=2)
    assert next(reader) == b"x"
    reader.close()  # joins the thread: it must notice and stop
    assert len(produced) <= 5
    assert not [t for t in threading.enumerate() if t.name == "dumpmatch-read-ahead"]


def _zip(tmp_path: Path, members: dict[str, bytes]) -> Path:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return write(tmp_path, "dump.zip", sink.getvalue())


def test_zip_members_are_inputs(tmp_path: Path) -> None:
    result = read(_zip(tmp_path, {"a/one.csv": CSV.encode(), "two.csv": CSV.replace(",", ";").encode()}))
    assert [e["path"].split("!")[1] for e in result.entries] == ["a/one.csv", "two.csv"]
    assert result.emails == EXPECTED * 2


@pytest.mark.parametrize("member", ["../evil.csv", "/etc/passwd", "a/../../b.csv"])
def test_zip_path_traversal_is_refused(tmp_path: Path, member: str) -> None:
    with pytest.raises(InputError, match="unsafe path"):
        read(_zip(tmp_path, {member: CSV.encode()}))


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ratio over"):
        read(_zip(tmp_path, {"bomb.csv": b"email\n" + b"a@b.com\n" * (20 << 20)}), limits=Limits(50, 1 << 40))


def test_cut_zip_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"one.csv": BIG})
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(InputError, match="cut off or corrupt"):
        read(path)


# ---- other formats -------------------------------------------------------------------


def test_json_lines_nested_and_mongo(tmp_path: Path) -> None:
    lines = [
        {"_id": {"$oid": "5f1"}, "user": {"email": "ann@example.com", "name": "Ann Lee"}},
        {"_id": {"$oid": "5f2"}, "user": {"email": "bob@example.com"}},
    ]
    data = "\n".join(json.dumps(x) for x in lines * 5) + "\nnot json\n"
    result = read(write(tmp_path, "d.json", data.encode()))
    assert result.entries[0]["format"] == "jsonl"
    assert result.entries[0]["columns"]["email"] == "user.email"
    assert result.emails == ["ann@example.com", "bob@example.com"] * 5
    assert result.dead == [(11, "invalid JSON: Expecting value at column 1")]


def test_json_array(tmp_path: Path) -> None:
    data = json.dumps([{"email": e, "name": n} for e, n in ROWS], indent=2).encode()
    result = read(write(tmp_path, "d.json", data))
    assert result.entries[0]["format"] == "json"
    assert result.emails == EXPECTED


def test_combo_list(tmp_path: Path) -> None:
    data = b"ann@example.com:pa:ss\nbob@example.com;p@ss\ncy@example.com|x\n" * 3 + b"not a pair\n"
    result = read(write(tmp_path, "combo.txt", data))
    assert result.entries[0]["format"] == "combo"
    assert result.emails == EXPECTED * 3
    assert result.dead == [(10, "no email:password pair")]


def test_mysql_dump(tmp_path: Path) -> None:
    data = (
        b"CREATE TABLE `users` (\n  `id` int,\n  `email` varchar(255),\n  `name` varchar(255)\n);\n"
        b"INSERT INTO `users` VALUES (1,'ann@example.com','Ann Lee'),(2,'bob@example.com','O\\'Ray');\n"
        b"INSERT INTO `users` VALUES (3,'cy@example.com',NULL);\n"
    )
    result = read(write(tmp_path, "dump.sql", data))
    assert result.entries[0]["format"] == "mysql"
    assert result.emails == EXPECTED and result.lines == [6, 6, 7]


def test_postgres_dump(tmp_path: Path) -> None:
    data = (
        b"COPY public.users (id, email, name) FROM stdin;\n"
        b"1\tann@example.com\tAnn Lee\n2\tbob@example.com\t\\N\n3\tcy@example.com\tCy\\tWu\n\\.\n"
    )
    result = read(write(tmp_path, "dump.sql", data))
    assert result.entries[0]["format"] == "pgdump"
    assert result.emails == EXPECTED and result.lines == [2, 3, 4]


def _pgdump(rows: int) -> tuple[bytes, list[str]]:
    """A pg_dump with another table's COPY before and after, escapes, NULLs and one bad row."""
    other = b"COPY public.logs (id, msg) FROM stdin;\n" + b"".join(b"%d\tm\\tx\n" % i for i in range(50)) + b"\\.\n"
    lines, emails = [], []
    for i in range(rows):
        if i == rows // 3:
            lines.append(b"%d\tbroken\n" % i)
            continue
        name = b"\\N" if i % 11 == 0 else b"N\\t%d" % i
        lines.append(b"%d\tu%d@x.com\t%s\n" % (i, i, name))
        emails.append(f"u{i}@x.com")
    users = b"COPY public.users (id, email, name) FROM stdin;\n" + b"".join(lines) + b"\\.\n"
    create = b"CREATE TABLE public.users (\n    id integer,\n    email text,\n    name text\n);\n\n"
    return b"-- PostgreSQL database dump\n\n" + create + other + b"\n" + users + b"\n" + other, emails


def _mysql(rows: int) -> tuple[bytes, list[str]]:
    """A MySQL dump with other tables' statements, comments, escapes, a raw newline in a string,
    a ';' inside strings and one malformed tuple, in INSERTs of a few rows each."""
    out = [b"-- it's a dump; comments may hold quotes\n/*!40101 SET NAMES utf8 */;\n"]
    out.append(b"CREATE TABLE `users` (\n  `id` int,\n  `email` varchar(255),\n  `name` varchar(255)\n);\n")
    emails = []
    for first in range(0, rows, 7):
        tuples = []
        for i in range(first, min(first + 7, rows)):
            if i == rows // 2:
                tuples.append(b"(%d,'u%d@x.com' 'x' oops)" % (i, i))
                continue
            name = b"'O\\'Ray; \\n%d'" % i if i % 5 else b"'two\nlines;'"
            tuples.append(b"(%d,'u%d@x.com',%s)" % (i, i, name))
            emails.append(f"u{i}@x.com")
        out.append(b"INSERT INTO `users` VALUES " + b",".join(tuples) + b";\n")
        if first % 70 == 0:
            out.append(b"INSERT INTO `logs` VALUES (1,'x;y');\n")
    return b"".join(out), emails


def _whole(fmt: str, data: bytes) -> tuple[list[str], list[int], list[tuple[int, str]]]:
    """The reference: the format's parser on the whole dump at once."""
    parse = {"mysql": sqldump.parse_mysql, "pgdump": sqldump.parse_pgdump}[fmt]
    parsed = parse(data, 1, ["id", "email", "name"], {"email": 1}, "users")
    dead = sorted((line, reason) for line, reason, _ in parsed.dead)
    return parsed.table.column("email").to_pylist(), parsed.table.column("_line").to_pylist(), dead


@pytest.mark.parametrize("fmt", ["mysql", "pgdump"])
@pytest.mark.parametrize("range_bytes", [1 << 20, 4096, 100])
@pytest.mark.parametrize("gzipped", [False, True])
def test_sql_dumps_in_pieces_equal_the_whole_dump(tmp_path: Path, fmt: str, range_bytes: int, gzipped: bool) -> None:
    data, emails = (_mysql if fmt == "mysql" else _pgdump)(600)
    path = write(tmp_path, "dump.sql.gz" if gzipped else "dump.sql", gzip.compress(data) if gzipped else data)
    spec = inspect_inputs([str(path)], {}, "--dump")[0]
    assert spec.format == fmt and spec.splittable is not gzipped
    tasks = list(PlanTasksFn(range_bytes).process(spec))
    assert len(tasks) == 1 if gzipped or range_bytes > len(data) else len(tasks) > 2
    result = read(path, range_bytes=range_bytes)
    whole_emails, whole_lines, whole_dead = _whole(fmt, data)
    assert result.emails == whole_emails == emails
    assert result.lines == whole_lines
    assert result.dead == whole_dead and len(whole_dead) == 1


@pytest.mark.parametrize("fmt", ["mysql", "pgdump"])
@pytest.mark.parametrize("cut", [0.5, 0.75])
def test_a_cut_off_sql_dump_ends_in_one_dead_letter(tmp_path: Path, fmt: str, cut: float) -> None:
    data, _ = (_mysql if fmt == "mysql" else _pgdump)(600)
    data = data[: int(len(data) * cut)]
    result = read(write(tmp_path, "cut.sql", data), range_bytes=2048)
    whole_emails, whole_lines, whole_dead = _whole(fmt, data)
    assert result.emails == whole_emails and result.lines == whole_lines and result.dead == whole_dead
    assert result.dead[-1][1] == "SQL statement cut off"


def test_json_array_read_from_small_blocks_equals_the_whole(tmp_path: Path) -> None:
    items = [{"email": f"ü{i}@x.com", "n": {"name": "Zoë " * (i % 3)}} for i in range(300)]
    text = json.dumps(items, indent=2, ensure_ascii=False).encode()
    text = text.replace(b'"\xc3\xbc7@x.com"', b'"\xc3\xbc7@x.com" oops').replace(b"[", b"[42,", 1)
    columns = ["email", "n.name"]
    whole = jsonlines.parse_array(text, 1, columns, {"email": 0})
    for size in (1, 7, 4096):
        blocks = iter([text[i : i + size] for i in range(0, len(text), size)])
        parts = list(jsonlines.stream_array(blocks, 1, columns, {"email": 0}, batch_rows=64))
        assert [p.read for p in parts[:-1]] == [64] * 4 and sum(p.read for p in parts) == whole.read
        joined = pa.concat_tables(p.table for p in parts)
        assert joined.column("email").to_pylist() == whole.table.column("email").to_pylist()
        assert joined.column("_line").to_pylist() == whole.table.column("_line").to_pylist()
        assert [d for p in parts for d in p.dead] == whole.dead and len(whole.dead) == 2
    cut = jsonlines.parse_array(text[: len(text) // 2], 1, columns, {"email": 0})
    assert cut.dead[-1][1] == "JSON array cut off"


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"email": EXPECTED, "n": [1, 2, 3]}), path)
    result = read(path)
    assert result.entries[0]["format"] == "parquet" and result.emails == EXPECTED and result.lines == [1, 2, 3]


def test_format_override(tmp_path: Path) -> None:
    path = write(tmp_path, "d.txt", b"ann@example.com:secret\nbob@example.com:x\n")
    assert read(path, fmt="combo").entries[0]["format"] == "combo"


def _one_insert(rows: int) -> tuple[bytes, list[str]]:
    """A MySQL dump whose rows are all in one INSERT, as some exporters write them."""
    data, emails = _mysql(rows)
    head, _, rest = data.partition(b"INSERT INTO `users` VALUES ")
    body = rest.replace(b";\nINSERT INTO `logs` VALUES (1,'x;y');\n", b";\n").replace(
        b";\nINSERT INTO `users` VALUES ", b","
    )
    return head + b"INSERT INTO `users` VALUES " + body, emails


@pytest.mark.parametrize("fmt", ["mysql", "mysql-one-insert", "pgdump"])
@pytest.mark.parametrize("block", [1, 7, 4096])
def test_sql_chunkers_agree_whatever_the_block_size(fmt: str, block: int) -> None:
    data, _ = {"mysql": _mysql, "mysql-one-insert": _one_insert, "pgdump": _pgdump}[fmt](120)
    fmt = fmt.removesuffix("-one-insert")
    chunk = sqldump.statement_chunks if fmt == "mysql" else sqldump.copy_chunks
    emails: list[str] = []
    lines: list[int] = []
    dead: list[tuple[int, str]] = []
    parse = sqldump.parse_mysql if fmt == "mysql" else sqldump.parse_pgdump
    for piece in chunk(iter([data[i : i + block] for i in range(0, len(data), block)]), 300, "users"):
        parsed = parse(piece.data(), piece.at.first_line, ["id", "email", "name"], {"email": 1}, "users")
        emails += parsed.table.column("email").to_pylist()
        lines += parsed.table.column("_line").to_pylist()
        dead += [(line, reason) for line, reason, _ in parsed.dead]
    assert (emails, lines, sorted(dead)) == _whole(fmt, data)
