"""Dump formats: JSON Lines and arrays, combo lists, MySQL and PostgreSQL dumps (pure parsers)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from transforms import combo, delimited, jsonlines, sqldump
from transforms.delimited import ParsedRange

Parse = Callable[..., ParsedRange]


@dataclass(frozen=True)
class Case:
    """One input, the fields asked for (output name → column name), and exactly what must come out."""

    name: str
    parse: Parse
    data: bytes
    columns: list[str]
    fields: dict[str, str]
    rows: dict[str, list]  # table.to_pydict(), _line included
    dead: list[tuple[int, str]] = field(default_factory=list)
    first_line: int = 1
    table: str | None = None


def run(case: Case) -> ParsedRange:
    wanted = {out: case.columns.index(column) for out, column in case.fields.items()}
    kwargs = {"table": case.table} if case.table else {}
    return case.parse(case.data, case.first_line, case.columns, wanted, **kwargs)


def assert_accounted(parsed: ParsedRange) -> None:
    assert parsed.read == parsed.table.num_rows + len(parsed.dead) + parsed.headers


# --- inputs ----------------------------------------------------------------------------------------

MONGO = (
    b'{"_id": {"$oid": "64b0c0ffee"}, "user": {"email": "a@b.com", "name": {"first": "Ann"}}, '
    b'"created": {"$date": {"$numberLong": "1690000000000"}}, "visits": {"$numberLong": "5"}, '
    b'"vip": true, "tags": ["x", "y"]}\r\n'
    b"\n"
    b"   \t\n"
    b'{"_id": {"$oid": "64b0c0ffef"}, "user": {"email": null, "name": {"first": "Bob"}}, '
    b'"visits": {"$numberLong": "7"}, "vip": false, "tags": []}\n'
    b'{"user": {"email": "c@d.org"}}'
)
MONGO_COLUMNS = ["_id", "user.email", "user.name.first", "created", "visits", "vip", "tags"]

MYSQL_HEAD = (
    b"-- MySQL dump 10.13  Distrib 8.0.36\n"  # 1
    b"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
    b"DROP TABLE IF EXISTS `users`;\n"
    b"CREATE TABLE `users` (\n"
    b"  `id` int NOT NULL AUTO_INCREMENT,\n"  # 5
    b"  `email` varchar(255) DEFAULT NULL COMMENT 'login, unique',\n"
    b"  `name` varchar(64) DEFAULT NULL,\n"
    b"  `price` decimal(10,2) DEFAULT NULL,\n"
    b"  PRIMARY KEY (`id`),\n"
    b"  UNIQUE KEY `email` (`email`)\n"  # 10
    b") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
    b"LOCK TABLES `users` WRITE;\n"
)  # the next line is 13
MYSQL_COLUMNS = ["id", "email", "name", "price"]
MYSQL_LOG = b"CREATE TABLE `log` (`id` int, `msg` text, KEY `msg` (`msg`(10)));\n"

PG_HEAD = (
    b"--\n"  # 1
    b"-- PostgreSQL database dump\n"
    b"--\n"
    b"SET statement_timeout = 0;\n"
    b"CREATE TABLE public.users (\n"  # 5
    b"    id integer NOT NULL,\n"
    b"    email character varying(255),\n"
    b"    name text,\n"
    b"    CONSTRAINT users_email_check CHECK ((email <> ''::text))\n"
    b");\n"  # 10
    b"COPY public.users (id, email, name) FROM stdin;\n"
)  # rows start on line 12
PG_COLUMNS = ["id", "email", "name"]

CASES = [
    # --- JSON Lines
    Case(
        "jsonl nested, Mongo wrappers, arrays, booleans, blank lines",
        jsonlines.parse,
        MONGO,
        MONGO_COLUMNS,
        {"id": "_id", "email": "user.email", "first": "user.name.first", "created": "created"}
        | {"visits": "visits", "vip": "vip", "tag": "tags"},
        {
            "id": ["64b0c0ffee", "64b0c0ffef", None],
            "email": ["a@b.com", None, "c@d.org"],
            "first": ["Ann", "Bob", None],
            "created": ["1690000000000", None, None],
            "visits": ["5", "7", None],
            "vip": ["true", "false", None],
            "tag": ["x", None, None],
            "_line": [10, 13, 14],
        },
        first_line=10,
    ),
    Case(
        "jsonl numbers keep their JSON text",
        jsonlines.parse,
        b'{"id": 12345678901234567890123, "price": 1.50, "exp": 1E5, "neg": -7, "flag": null}\n'
        b'{"id": 1, "price": 2, "exp": 0.1, "neg": 0, "flag": "x"}\n',
        ["id", "price", "exp", "neg", "flag"],
        {"id": "id", "price": "price", "exp": "exp", "neg": "neg", "flag": "flag"},
        {
            "id": ["12345678901234567890123", "1"],
            "price": ["1.50", "2"],
            "exp": ["1E5", "0.1"],
            "neg": ["-7", "0"],
            "flag": [None, "x"],
            "_line": [1, 2],
        },
    ),
    Case(
        "jsonl bad lines are dead letters, the rest parses",
        jsonlines.parse,
        b'{"email": "a@b.com"}\n'
        b'{"email": "b@c.com",}\n'
        b'["not", "an", "object"]\n'
        b"42\n"
        b'{"email": "unterminated}\n'
        b'{"email": "d@e.com"} {"email": "f@g.com"}\n'
        b'{"email": "h@i.com"}\n',
        ["email"],
        {"email": "email"},
        {"email": ["a@b.com", "h@i.com"], "_line": [1, 7]},
        [
            (2, "invalid JSON: Expecting property name enclosed in double quotes at column 21"),
            (3, "not a JSON object"),
            (4, "not a JSON object"),
            (5, "invalid JSON: Unterminated string at column 11"),
            (6, "invalid JSON: Extra data at column 22"),
        ],
    ),
    Case(
        "jsonl other fields may change type between lines",
        jsonlines.parse,
        b'{"email": "a@b.com", "age": 30}\n'
        b'{"email": "b@c.com", "age": "thirty"}\n'
        b'{"age": {"years": 3}, "email": "c@d.com", "extra": [1, {"x": 2}]}\n',
        ["email", "age", "age.years", "extra", "extra.x"],
        {"email": "email"},
        {"email": ["a@b.com", "b@c.com", "c@d.com"], "_line": [1, 2, 3]},
    ),
    Case(
        "jsonl a wanted field that changes shape",
        jsonlines.parse,
        b'{"phone": 4915100000}\n'
        b'{"phone": "+49 151"}\n'
        b'{"phone": ["+1 555", "+1 556"]}\n'
        b'{"phone": {"$numberLong": "4915"}}\n'
        b'{"phone": {"home": "1"}}\n',
        ["phone", "phone.home"],
        {"phone": "phone", "home": "phone.home"},
        {
            "phone": ["4915100000", "+49 151", "+1 555", "4915", None],
            "home": [None, None, None, None, "1"],
            "_line": [1, 2, 3, 4, 5],
        },
    ),
    # --- JSON array
    Case(
        "json array pretty-printed: _line is where each { is",
        jsonlines.parse_array,
        b"[\n"
        b"  {\n"
        b'    "email": "a@b.com",\n'
        b'    "profile": {"phone": "+491511234"}\n'
        b"  },\n"
        b'  {"email": "c@d.org", "profile": {"phone": null}},\n'
        b"  {\n"
        b'    "email": "e@f.net"\n'
        b"  }\n"
        b"]\n",
        ["email", "profile.phone"],
        {"email": "email", "phone": "profile.phone"},
        {"email": ["a@b.com", "c@d.org", "e@f.net"], "phone": ["+491511234", None, None], "_line": [2, 6, 7]},
    ),
    Case(
        "json array with an element cut off",
        jsonlines.parse_array,
        b'[\n  {"email": "a@b.com"},\n  {"email": "c@d.org",\n   "name": "Cu',
        ["email", "name"],
        {"email": "email"},
        {"email": ["a@b.com"], "_line": [2]},
        [(3, "JSON array cut off")],
    ),
    Case(
        "json array without its closing bracket",
        jsonlines.parse_array,
        b'[{"email": "a@b.com"},\n {"email": "c@d.org"}\n',
        ["email"],
        {"email": "email"},
        {"email": ["a@b.com", "c@d.org"], "_line": [1, 2]},
        [(3, "JSON array cut off")],
    ),
    Case(
        "json array: non-objects and a broken element, the rest parses",
        jsonlines.parse_array,
        b'[\n{"email": "a@b.com"},\n7,\n{"email": oops, "tags": [{"a": 1}, {"b": 2}]},\n{"email": "c@d.org"},\n"s"\n]',
        ["email"],
        {"email": "email"},
        {"email": ["a@b.com", "c@d.org"], "_line": [2, 5]},
        [(3, "not a JSON object"), (4, "invalid JSON: Expecting value at column 11"), (6, "not a JSON object")],
    ),
    # --- combo lists
    Case(
        "combo: every separator, split at the first one after the email",
        combo.parse,
        b"a@b.com:secret\n"
        b"c@d.org;pa:ss\n"
        b"e@f.net|p;w\n"
        b"g@h.io,p,w\n"
        b"user@x:5f4dcc3b5aa765d61d8327deb882cf99:salt\n"
        b"i@j.com:p@ss@word\n"
        b"  k@l.com : spaced \t\r\n"
        b"\n"
        b"m@n.com;\n",
        ["email", "password"],
        {"email": "email", "password": "password"},
        {
            "email": ["a@b.com", "c@d.org", "e@f.net", "g@h.io", "user@x", "i@j.com", "k@l.com", "m@n.com"],
            "password": [
                "secret",
                "pa:ss",
                "p;w",
                "p,w",
                "5f4dcc3b5aa765d61d8327deb882cf99:salt",
                "p@ss@word",
                " spaced",
                "",
            ],
            "_line": [1, 2, 3, 4, 5, 6, 7, 9],
        },
    ),
    Case(
        "combo: lines without an email first are dead letters",
        combo.parse,
        b"Combo list by x - 10k fresh\r\na@b.com:pw\nno-at-sign:pw\n@b.com:pw\nc@d.com\ne@f.com:pw",
        ["email", "password"],
        {"email": "email"},
        {"email": ["a@b.com", "e@f.com"], "_line": [101, 105]},
        [(100, combo.NO_PAIR), (102, combo.NO_PAIR), (103, combo.NO_PAIR), (104, combo.NO_PAIR)],
        first_line=100,
    ),
    # --- MySQL
    Case(
        "mysql escapes, NULL, and a multi-row INSERT on one line",
        sqldump.parse_mysql,
        MYSQL_HEAD
        + rb"INSERT INTO `users` VALUES (1,'a@b.com','O\'Brien',1.50),(2,'x@y.com','say \"hi\"',NULL),"
        + rb"(3,NULL,'back\\slash\nnew\ttab\rcr\0nul\Zsub',0),(4,'z@z.com','it''s',-2);"
        + b"\nUNLOCK TABLES;\n",
        MYSQL_COLUMNS,
        {"email": "email", "name": "name", "price": "price"},
        {
            "email": ["a@b.com", "x@y.com", None, "z@z.com"],
            "name": ["O'Brien", 'say "hi"', "back\\slash\nnew\ttab\rcr\x00nul\x1asub", "it's"],
            "price": ["1.50", None, "0", "-2"],
            "_line": [13, 13, 13, 13],
        },
    ),
    Case(
        "mysql column list in another order, one tuple per line",
        sqldump.parse_mysql,
        MYSQL_HEAD + b"INSERT INTO `users` (`email`, `id`) VALUES\n('c@d.com', 5),\n  ('e@f.com', 6);\n",
        MYSQL_COLUMNS,
        {"email": "email", "name": "name", "id": "id"},
        {"email": ["c@d.com", "e@f.com"], "name": [None, None], "id": ["5", "6"], "_line": [14, 15]},
    ),
    Case(
        "mysql two tables: the one asked for",
        sqldump.parse_mysql,
        MYSQL_HEAD + MYSQL_LOG + b"INSERT INTO `users` VALUES (1,'a@b.com','A',1);\n"
        b"INSERT INTO `log` VALUES (1,'x'),(2,'y; (z)');\n",
        ["id", "msg"],
        {"msg": "msg"},
        {"msg": ["x", "y; (z)"], "_line": [15, 15]},
        table="log",
    ),
    Case(
        "mysql two tables: by default the one with the most rows",
        sqldump.parse_mysql,
        MYSQL_HEAD + MYSQL_LOG + b"INSERT INTO `log` VALUES (1,'x');\n"
        b"INSERT INTO `users` VALUES (1,'a@b.com','A',1),(2,'b@c.com','B',2);\n",
        MYSQL_COLUMNS,
        {"email": "email"},
        {"email": ["a@b.com", "b@c.com"], "_line": [15, 15]},
    ),
    Case(
        "mysql statement cut off: the partial tuple is one dead letter",
        sqldump.parse_mysql,
        MYSQL_HEAD + b"INSERT INTO `users` VALUES (1,'a@b.com','A',1),\n(2,'b@c.com','B",
        MYSQL_COLUMNS,
        {"email": "email"},
        {"email": ["a@b.com"], "_line": [13]},
        [(14, sqldump.CUT_OFF)],
    ),
    Case(
        "mysql cut off between tuples still leaves a dead letter",
        sqldump.parse_mysql,
        MYSQL_HEAD + b"INSERT INTO `users` VALUES (1,'a@b.com','A',1),",
        MYSQL_COLUMNS,
        {"email": "email"},
        {"email": ["a@b.com"], "_line": [13]},
        [(13, sqldump.CUT_OFF)],
    ),
    Case(
        "mysql tuples of the wrong arity",
        sqldump.parse_mysql,
        MYSQL_HEAD + b"INSERT INTO `users` VALUES (1,'a@b.com','A'),(2,'b@c.com','B',2,'extra'),(3,'c@d.com','C',3);\n",
        MYSQL_COLUMNS,
        {"email": "email"},
        {"email": ["c@d.com"], "_line": [13]},
        [(13, "tuple has 3 values, expected 4"), (13, "tuple has 5 values, expected 4")],
    ),
    Case(
        "mysql unescaped quote: the tuple is lost, the next one is found",
        sqldump.parse_mysql,
        MYSQL_HEAD + b"INSERT INTO `users` VALUES (1,'a@b.com','it's',1),\n(2,'b@c.com','ok',2);\n",
        MYSQL_COLUMNS,
        {"email": "email"},
        {"email": ["b@c.com"], "_line": [14]},
        [(13, sqldump.UNTERMINATED)],
    ),
    Case(
        "mysql other statements are neither rows nor dead letters",
        sqldump.parse_mysql,
        b"SET NAMES utf8mb4;\n"
        b"/*!40000 ALTER TABLE `users` DISABLE KEYS */;\n"
        b"# a comment; with 'quotes\n"
        b"-- INSERT INTO `users` VALUES (9,'no@no.com','N',9);\n"
        b"INSERT INTO `users` SELECT * FROM `old_users`;\n"
        b"INSERT INTO `users` VALUES (1,'a@b.com','A;B',1) ON DUPLICATE KEY UPDATE `name`=VALUES(`name`);\n"
        b"UNLOCK TABLES;\n",
        MYSQL_COLUMNS,
        {"email": "email", "name": "name"},
        {"email": ["a@b.com"], "name": ["A;B"], "_line": [6]},
    ),
    Case(
        "mysql literals other than strings keep their SQL text",
        sqldump.parse_mysql,
        b"INSERT INTO users VALUES (1,_binary 'a@b.com',x'4142',NOW()),(2,N'b@c.com',0x43,UNHEX('44'));\n",
        MYSQL_COLUMNS,
        {"email": "email", "name": "name", "price": "price"},
        {
            "email": ["a@b.com", "b@c.com"],
            "name": ["x'4142'", "0x43"],
            "price": ["NOW()", "UNHEX('44')"],
            "_line": [1, 1],
        },
    ),
    # --- PostgreSQL
    Case(
        "pgdump \\N and backslash escapes",
        sqldump.parse_pgdump,
        PG_HEAD
        + b"1\ta@b.com\tAnn\\tTab\n"
        + b"2\t\\N\tLine\\nBreak\n"
        + b"3\tc@d.org\tBack\\\\slash\\r\n"
        + b"4\te@f.net\t\\N\n"
        + b"5\tg@h.io\tCaf\\303\\251\n"
        + b"\\.\n",
        PG_COLUMNS,
        {"email": "email", "name": "name"},
        {
            "email": ["a@b.com", None, "c@d.org", "e@f.net", "g@h.io"],
            "name": ["Ann\tTab", "Line\nBreak", "Back\\slash\r", None, "Café"],
            "_line": [12, 13, 14, 15, 16],
        },
    ),
    Case(
        "pgdump a short row and an empty line are dead letters",
        sqldump.parse_pgdump,
        PG_HEAD + b"1\ta@b.com\tA\n3\tc@d.org\n\n4\te@f.net\tE\n\\.\n",
        PG_COLUMNS,
        {"email": "email"},
        {"email": ["a@b.com", "e@f.net"], "_line": [12, 15]},
        [(13, "COPY row has 2 fields, expected 3"), (14, "COPY row has 1 fields, expected 3")],
    ),
    Case(
        "pgdump missing \\. with the last row cut",
        sqldump.parse_pgdump,
        PG_HEAD + b"1\ta@b.com\tA\n2\tb@c",
        PG_COLUMNS,
        {"email": "email"},
        {"email": ["a@b.com"], "_line": [12]},
        [(13, sqldump.CUT_OFF)],
    ),
    Case(
        "pgdump missing \\. after a complete row",
        sqldump.parse_pgdump,
        PG_HEAD + b"1\ta@b.com\tA\r\n2\tb@c.com\tB\r\n",
        PG_COLUMNS,
        {"email": "email", "name": "name"},
        {"email": ["a@b.com", "b@c.com"], "name": ["A", "B"], "_line": [12, 13]},
        [(14, sqldump.CUT_OFF)],
    ),
    Case(
        "pgdump two tables, COPY columns in another order than CREATE TABLE",
        sqldump.parse_pgdump,
        PG_HEAD + b"1\ta@b.com\tA\n\\.\n"  # 12, 13
        b"COPY public.orders (id, total) FROM stdin;\n1\t9.99\n\\.\n"  # 14-16
        b'COPY public.users (name, "email", id) FROM stdin;\nB\tb@c.com\t2\n\\.\n',  # 17-19
        PG_COLUMNS,
        {"email": "email", "name": "name", "id": "id"},
        {"email": ["a@b.com", "b@c.com"], "name": ["A", "B"], "id": ["1", "2"], "_line": [12, 18]},
        table="users",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_parse(case: Case) -> None:
    parsed = run(case)
    assert parsed.table.to_pydict() == case.rows
    assert [(line, reason) for line, reason, _ in parsed.dead] == case.dead
    assert_accounted(parsed)


# --- columns and tables ------------------------------------------------------------------------


def test_jsonl_columns_are_the_union_of_complete_lines() -> None:
    sample = b'{"a": 1, "b": {"c": 2}}\n{"d": [{"e": 1}], "a": 2, "id": {"$oid": "x"}}\nnot json\n{"f": 1, "g'
    assert jsonlines.columns(sample) == ["a", "b.c", "d.e", "id"]


def test_json_array_columns_come_from_complete_elements() -> None:
    sample = b'[\n  {"email": "a@b.com", "p": {"q": 1}},\n  {"name": "x"},\n  {"cut": "off'
    assert jsonlines.columns_array(sample) == ["email", "p.q", "name"]


def test_combo_columns() -> None:
    assert combo.columns(b"a@b.com:x\n") == ["email", "password"]


def test_mysql_tables_and_columns() -> None:
    dump = (
        MYSQL_HEAD
        + MYSQL_LOG
        + b"CREATE TABLE `t` (`key` int, KEY `k` (`key`), CONSTRAINT `c` FOREIGN KEY (`key`) REFERENCES `x` (`id`));\n"
        + b"INSERT INTO `log` VALUES (1,'x'),(2,'y');\n"
        + b"INSERT INTO `users` VALUES (1,'a@b.com','A',1),(2,'b@c.com','B',2),(3,'c@d.com','C',3);\n"
        + b"INSERT INTO `listed` (`Email`, `Name`) VALUES ('a','b');\nINSERT INTO `listed` (`Phone`) VALUES ('1');\n"
        + b"INSERT INTO `bare` VALUES (1,'a',NULL);\n"
    )
    assert sqldump.tables_mysql(dump) == {"users": 3, "log": 2, "t": 0, "listed": 2, "bare": 1}
    assert sqldump.columns_mysql(dump) == MYSQL_COLUMNS
    assert sqldump.columns_mysql(dump, "log") == ["id", "msg"]
    assert sqldump.columns_mysql(dump, "t") == ["key"]
    assert sqldump.columns_mysql(dump, "listed") == ["Email", "Name", "Phone"]
    assert sqldump.columns_mysql(dump, "bare") == ["col1", "col2", "col3"]
    assert sqldump.columns_mysql(dump, "missing") == []


def test_pgdump_tables_and_columns() -> None:
    dump = (
        PG_HEAD
        + b"1\ta@b.com\tA\n\\.\n"
        + b"CREATE TABLE public.orders (\n    id integer,\n    total numeric(10,2)\n);\n"
        + b"COPY public.orders (id, total) FROM stdin;\n1\t9.99\n2\t5.00\n\\.\n"
        + b"COPY logs FROM stdin;\nx\ty\tz\n"
    )
    assert sqldump.tables_pgdump(dump) == {"users": 1, "orders": 2, "logs": 1}
    assert sqldump.columns_pgdump(dump) == ["id", "total"]
    assert sqldump.columns_pgdump(dump, "users") == PG_COLUMNS
    assert sqldump.columns_pgdump(dump, "logs") == ["col1", "col2", "col3"]


# --- detection ---------------------------------------------------------------------------------

SAMPLES = {
    "jsonl": MONGO,
    "json": b'[\n  {\n    "email": "a@b.com"\n  },\n  {"email": "c@d.org"}\n]\n',
    "combo": b"a@b.com:secret\nc@d.org;pa:ss\nuser@x:hash:salt\nHEADER LINE\ne@f.net|p\ng@h.io:1\n",
    "mysql": MYSQL_HEAD + b"INSERT INTO `users` VALUES (1,'a@b.com','A',1);\n",
    "pgdump": PG_HEAD + b"1\ta@b.com\tA\n\\.\n",
    "csv": b"email,name,phone\na@b.com,Ann,+49151\nc@d.org,Bob,+49152\n",
    "csv, email first and no header": b"id;email\n1;a@b.com\n2;c@d.org\n",
    "tsv": b"email\tpassword\na@b.com\tx\n",
}
DETECTORS = {
    "jsonl": jsonlines.detect,
    "json": jsonlines.detect_array,
    "combo": combo.detect,
    "mysql": sqldump.detect_mysql,
    "pgdump": sqldump.detect_pgdump,
}


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("sample", SAMPLES)
def test_each_detector_accepts_only_its_own_format(detector: str, sample: str) -> None:
    assert DETECTORS[detector](SAMPLES[sample]) == (detector == sample)


@pytest.mark.parametrize(
    ("detector", "sample"),
    [
        (combo.detect, b"email;password\na@b.com;x\nc@d.org;y\ne@f.net;z\n"),  # a CSV header naming email
        (jsonlines.detect, b'{"a": 1}\n[1, 2]\n[3]\n'),  # most lines are not objects
        (jsonlines.detect_array, b"[1, 2, 3]\n"),
        (sqldump.detect_mysql, b"SET x = 1;\nSELECT 1;\n"),  # SQL, but no table in it
        (sqldump.detect_pgdump, b"-- PostgreSQL database dump\nSET a = 1;\nINSERT INTO t VALUES (1);\n"),
    ],
)
def test_detectors_refuse_near_misses(detector: Callable[[bytes], bool], sample: bytes) -> None:
    assert not detector(sample)


def test_detectors_look_past_a_cut_off_sample() -> None:
    assert jsonlines.detect(b'{"a": 1}\n{"a": 2}\n{"a": 3}\n{"a": 4}\n{"a"')
    assert jsonlines.detect_array(b'[{"a": "' + b"x" * 100)
    assert combo.detect(b"a@b.com:x\nc@d.org:y\ne@f.net:z\nf@g")
    assert sqldump.detect_pgdump(b"--\n-- PostgreSQL database dump\n--\nSET a = 1;\nCREATE TABLE public.t (\n")


# --- paths and properties ----------------------------------------------------------------------


def _refuse(*_: object) -> None:
    raise AssertionError("the slow path ran on input the fast path should take")


def test_jsonl_fast_and_slow_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [
        b'{"u": {"e": "e%d@x.com", "n": "N\\u00e9 \\"%d\\""}, "p": %d, "b": %s, "t": ["t%d"], "id": {"$oid": "o%d"}}'
        % (i, i, i, b"true" if i % 2 else b"false", i, i)
        for i in range(300)
    ]
    columns = jsonlines.columns(b"\n".join(lines))
    wanted = {name: i for i, name in enumerate(columns)}
    with monkeypatch.context() as patch:
        patch.setattr(jsonlines._Rows, "add", _refuse)
        whole = jsonlines.parse(b"\n".join(lines) + b"\n", 1, columns, wanted)
    with_bad_line = jsonlines.parse(b"\n".join(lines) + b"\n{oops}\n", 1, columns, wanted)
    assert with_bad_line.dead == [
        (301, "invalid JSON: Expecting property name enclosed in double quotes at column 2", "{oops}")
    ]
    assert whole.table.equals(with_bad_line.table)
    assert whole.table.column("u.n")[1].as_py() == 'Né "1"'


def test_pgdump_fast_and_slow_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = b"".join(b"%d\tu%d@x.com\tN\\303\\251\\\\%d\\t\\N\n" % (i, i, i) for i in range(300))
    copy = b"COPY t (id, email, name) FROM stdin;\n"
    wanted = {"email": 1, "name": 2}
    with monkeypatch.context() as patch:
        patch.setattr(sqldump, "_copy_slow", _refuse)
        whole = sqldump.parse_pgdump(copy + rows + b"\\.\n", 1, PG_COLUMNS, wanted)
    with_short_row = sqldump.parse_pgdump(copy + rows + b"short\n\\.\n", 1, PG_COLUMNS, wanted)
    assert [(line, reason) for line, reason, _ in with_short_row.dead] == [(302, "COPY row has 1 fields, expected 3")]
    assert whole.table.equals(with_short_row.table)
    assert whole.table.column("name")[7].as_py() == "Né\\7\tN"  # \\N inside a field is just N


@pytest.mark.parametrize("parse", [jsonlines.parse, combo.parse])
def test_ranges_cut_at_any_line_start_equal_the_whole_input(parse: Parse) -> None:
    rng = random.Random(5)
    lines = []
    for i in range(40):
        record = b'{"email": "e%d@x.com"}' % i if parse is jsonlines.parse else b"e%d@x.com:p:w" % i
        lines.append(record if rng.random() > 0.15 else b"garbage %d" % i)
        if rng.random() < 0.1:
            lines.append(b"  ")
    data = b"\r\n".join(lines) + b"\r\n"
    whole = parse(data, 1, ["email", "password"], {"email": 0})
    starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    for cut in starts:
        first, second = data[:cut], data[cut:]
        a = parse(first, 1, ["email", "password"], {"email": 0})
        b = parse(second, 1 + first.count(b"\n"), ["email", "password"], {"email": 0})
        assert a.table.to_pydict()["_line"] + b.table.to_pydict()["_line"] == whole.table.to_pydict()["_line"]
        assert a.dead + b.dead == whole.dead
        assert a.read + b.read == whole.read


def test_raw_text_of_a_dead_letter_is_capped() -> None:
    parsed = combo.parse(b"x" * (delimited.RAW_CAP * 3) + b"\n", 1, ["email", "password"], {"email": 0})
    assert len(parsed.dead[0][2]) == delimited.RAW_CAP
    parsed = sqldump.parse_mysql(b"INSERT INTO t VALUES (1,'" + b"y" * (delimited.RAW_CAP * 3), 1, ["a", "b"], {"b": 1})
    assert len(parsed.dead[0][2]) == delimited.RAW_CAP


GARBAGE_SEEDS: dict[str, tuple[Parse, bytes, list[str]]] = {
    "jsonl": (jsonlines.parse, MONGO, MONGO_COLUMNS),
    "json": (jsonlines.parse_array, SAMPLES["json"], ["email"]),
    "combo": (combo.parse, SAMPLES["combo"], ["email", "password"]),
    "mysql": (sqldump.parse_mysql, SAMPLES["mysql"], MYSQL_COLUMNS),
    "pgdump": (sqldump.parse_pgdump, SAMPLES["pgdump"], PG_COLUMNS),
}


@pytest.mark.parametrize("fmt", GARBAGE_SEEDS)
def test_garbage_never_raises_and_is_accounted_for(fmt: str) -> None:
    parse, seed, columns = GARBAGE_SEEDS[fmt]
    wanted = {f"f{i}": i for i in range(len(columns))}
    noise = b"{}[](),:;|'\"`\\\n\r\t @.N$\xff\xc3"
    rng = random.Random(fmt)
    for _ in range(150):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data) + 1)
            if rng.random() < 0.3:
                del data[pos:]
            else:
                data[pos:pos] = bytes(rng.choice(noise) for _ in range(rng.randint(1, 5)))
        parsed = parse(bytes(data), 1, columns, wanted)
        assert_accounted(parsed)
        assert parsed.table.column_names == [*wanted, "_line"]
        parsed.table.validate(full=True)
        assert all(line >= 1 and reason for line, reason, _ in parsed.dead)
        for detect in DETECTORS.values():
            detect(bytes(data))
