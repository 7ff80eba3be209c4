"""PostgreSQL as the customer source, against a real server started by the fixtures.

Parity with the same rows exported to Parquet, one snapshot while the table changes,
quoted identifiers, one-line errors at launch, and a password that never leaves memory.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import apache_beam as beam
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.internal import pickler
from apache_beam.testing.util import assert_that, equal_to
from psycopg import sql

from pipelines import cli, sketch
from tests.postgres import PostgresServer, free_port, server_fixture
from transforms import bundle, database, synthetic
from transforms.errors import InputError

pg = server_fixture()

USER = "reader"
DB = "shop"
PASSWORD = secrets.token_urlsafe(18)  # random, so a leak anywhere can be searched for
CUSTOMERS = 3000
PARTITIONS = 4
COLUMNS = "id:loyalty=loyalty"
HOSTILE_COLUMN = 'x"; DROP TABLE customers; --'
HOSTILE_TABLE = "cust'omers\"; DROP TABLE customers; --"
SLOW_S = 5  # a bad input must be reported within this


@dataclass
class Shop:
    """The ``shop`` database: ``customers`` rows, their Parquet export and its bundle."""

    pg: PostgresServer
    rows: pa.Table  # as stored, in key order
    key: Path
    bundle: Path  # sketched from the Parquet export

    def uri(self, **params: str) -> str:
        return self.pg.uri(USER, DB, **params)

    def owner(self) -> psycopg.Connection:
        """A trusted socket connection as the tables' owner, for set-up and concurrent changes."""
        return self.pg.admin(DB, user=USER)

    def sketch(self, out: Path, **params: str) -> dict[str, Any]:
        argv = ["--customers", self.uri(**params), "--out", str(out), "--key-file", str(self.key)]
        return sketch.run([*argv, "--customer-columns", COLUMNS, "--partitions", str(PARTITIONS)])


def _customers() -> pa.Table:
    """Generated customers with a date, a number, NULLs and empty strings among the values."""
    base = synthetic.customers(CUSTOMERS)
    rng = np.random.default_rng(11)
    email = base.column("email").to_pylist()
    phone = base.column("phone").to_pylist()
    for i in rng.choice(CUSTOMERS, CUSTOMERS // 20, replace=False):
        email[i] = None
    for i in rng.choice(CUSTOMERS, CUSTOMERS // 20, replace=False):
        phone[i] = ""
    dob = np.datetime64("1950-01-01") + rng.integers(0, 20000, CUSTOMERS).astype("timedelta64[D]")
    loyalty = [None if i % 7 == 0 else int(v) for i, v in enumerate(rng.integers(1, 10**12, CUSTOMERS))]
    return (
        base.set_column(base.schema.get_field_index("email"), "email", pa.array(email, pa.string()))
        .set_column(base.schema.get_field_index("phone"), "phone", pa.array(phone, pa.string()))
        .append_column("dob", pa.array(dob))
        .append_column("loyalty", pa.array(loyalty, pa.int64()))
    )


_DDL = (
    "CREATE TABLE {} (id bigint PRIMARY KEY, customer_id text NOT NULL, email text, phone text, first_name text, "
    "last_name text, street text, city text, postcode text, country text, dob date, loyalty bigint)"
)


def _create(conn: psycopg.Connection, name: str, rows: pa.Table) -> None:
    """Creates a customers table and loads ``rows`` in shuffled order (key order ≠ storage order)."""
    conn.execute(sql.SQL(_DDL).format(sql.Identifier(name)))
    records = rows.to_pylist()
    order = np.random.default_rng(3).permutation(len(records))
    names = list(rows.schema.names)
    columns = sql.SQL(", ").join(map(sql.Identifier, names))
    with conn.cursor().copy(sql.SQL("COPY {} (id, {}) FROM STDIN").format(sql.Identifier(name), columns)) as copy:
        for i in order:
            copy.write_row([int(i) + 1, *(records[i][n] for n in names)])
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def shop(pg: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Shop:
    folder = tmp_path_factory.mktemp("shop")
    with pg.admin() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(USER), sql.Literal(PASSWORD)))
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DB), sql.Identifier(USER)))
    rows = _customers()
    with pg.admin(DB, user=USER) as owner:
        _create(owner, "customers", rows)
        owner.execute("CREATE TABLE nobody_home (id int PRIMARY KEY, email text)")
        cursor = owner.execute("SELECT * FROM customers ORDER BY id")
        names = [c.name for c in cursor.description or []]
        stored = pa.table(dict(zip(names, zip(*cursor.fetchall(), strict=True), strict=True)))
    parquet = folder / "customers.parquet"
    pq.write_table(stored, parquet)  # the same rows, exported, with their SQL types
    key = folder / "k.key"
    key.write_text("cd" * 32)
    key.chmod(0o600)
    from_parquet = folder / "from-parquet"
    sketch.run(
        ["--customers", str(parquet), "--out", str(from_parquet), "--key-file", str(key), "--customer-columns", COLUMNS]
    )
    return Shop(pg, stored, key, from_parquet)


@pytest.fixture(autouse=True)
def password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    monkeypatch.delenv("PGPASSFILE", raising=False)


def _files(bundle: Path, pattern: str) -> dict[str, Path]:
    return {p.relative_to(bundle).as_posix(): p for p in sorted(bundle.glob(pattern))}


def assert_same_bundle(got: Path, want: Path) -> None:
    """Same field numbers and customers; same sketch bytes; same index tables."""
    got_manifest, want_manifest = (bundle.read_manifest(str(b)) for b in (got, want))
    assert got_manifest["fields"] == want_manifest["fields"]
    assert got_manifest["customers"] == want_manifest["customers"]
    assert got_manifest["default_region"] == want_manifest["default_region"]
    for kind in ("bloom", "hll", "minhash"):
        got_files, want_files = _files(got, f"{kind}/*.bin"), _files(want, f"{kind}/*.bin")
        assert sorted(got_files) == sorted(want_files) != []
        for name, path in got_files.items():
            assert path.read_bytes() == want_files[name].read_bytes(), name
    got_index, want_index = _files(got, "index/*.parquet"), _files(want, "index/*.parquet")
    assert sorted(got_index) == sorted(want_index) != []
    for name, path in got_index.items():
        assert pq.read_table(path).equals(pq.read_table(want_index[name])), name


def _read_all(spec: database.DatabaseSpec, batch_rows: int = 1000) -> tuple[pa.Table, list[Any], list[Any]]:
    """Runs the partition reader on every partition in turn: (records, dead tables, stats)."""
    fn = database.ReadPartitionFn(spec, batch_rows)
    fn.setup()
    batches: list[pa.RecordBatch] = []
    dead: list[pa.Table] = []
    stats: list[dict[str, Any]] = []
    for part in spec.partitions:
        for out in fn.process(part):
            if isinstance(out, beam.pvalue.TaggedOutput):
                (dead if out.tag == fn.DEAD else stats).append(out.value)
            else:
                assert out.num_rows <= batch_rows
                batches.append(out)
    return pa.Table.from_batches(batches), dead, stats


def test_bundle_from_postgres_equals_bundle_from_parquet(
    shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    manifest = shop.sketch(tmp_path / "from-pg", table="customers")
    assert_same_bundle(tmp_path / "from-pg", shop.bundle)
    entry = manifest["inputs"][0]
    assert {k: entry[k] for k in ("host", "port", "database", "schema", "table", "rows", "partitions")} == {
        "host": "127.0.0.1",
        "port": shop.pg.port,
        "database": DB,
        "schema": "public",
        "table": "customers",
        "rows": CUSTOMERS,
        "partitions": PARTITIONS,
    }
    assert entry["path"] == f"postgresql://127.0.0.1:{shop.pg.port}/{DB}/public.customers"
    assert entry["rows_read"] == entry["rows_parsed"] == CUSTOMERS and entry["rows_dead_lettered"] == 0
    assert entry["snapshot"]["xmin_xmax_xip"].count(":") == 2 and entry["snapshot"]["taken_at"].endswith("Z")
    captured = capsys.readouterr()
    everything = [captured.out, captured.err, caplog.text]
    everything += [p.read_bytes().decode("latin-1") for p in (tmp_path / "from-pg").rglob("*") if p.is_file()]
    assert all(PASSWORD not in text for text in everything)


def test_a_run_reads_one_snapshot_while_the_table_changes(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before each partition read another session commits a change; the bundle is still the launch-time one."""
    changes = [
        "UPDATE moving SET email = 'changed.' || id || '@example.org' WHERE id % 2 = 0",
        "DELETE FROM moving WHERE id % 5 = 0",
        "INSERT INTO moving SELECT id + 100000, customer_id || 'N', 'new.' || email, phone, first_name, last_name, "
        "street, city, postcode, country, dob, loyalty FROM moving WHERE id <= 500",
        "UPDATE moving SET phone = NULL, loyalty = loyalty + 1 WHERE id % 3 = 0",
    ]
    with shop.owner() as owner:
        _create(owner, "moving", shop.rows.drop_columns(["id"]))
    committed: list[str] = []
    stream_rows = database.stream_rows

    def change_then_stream(conn: Any, statement: Any, batch_rows: int) -> Iterator[list[bytes]]:
        """Each partition reader has imported the snapshot; another session now commits a change."""
        with shop.owner() as other:
            other.execute(changes[len(committed)])
        committed.append(changes[len(committed)])
        yield from stream_rows(conn, statement, batch_rows)

    monkeypatch.setattr(database, "stream_rows", change_then_stream)
    shop.sketch(tmp_path / "during", table="moving")
    assert committed == changes  # one change before each of the 4 partition reads
    assert_same_bundle(tmp_path / "during", shop.bundle)

    monkeypatch.setattr(database, "stream_rows", stream_rows)
    after = shop.sketch(tmp_path / "after", table="moving")  # a new run sees the changes
    assert after["customers"]["parsed"] == CUSTOMERS - CUSTOMERS // 5 + 400
    with pytest.raises(AssertionError):
        assert_same_bundle(tmp_path / "after", shop.bundle)


def test_partition_reader_needs_the_launchers_snapshot(shop: Shop) -> None:
    spec = database.inspect_database(shop.uri(table="customers"), {}, None, 2)
    with database.hold_snapshot(spec):
        pass
    with pytest.raises(RuntimeError, match="cannot import the run's snapshot"):
        _read_all(spec)


def test_read_database_in_a_pipeline_gives_lines_in_key_order(
    shop: Shop, test_pipeline: Callable[[], beam.Pipeline]
) -> None:
    spec = database.inspect_database(shop.uri(table="customers"), {}, None, 3)
    label = f"postgresql://127.0.0.1:{shop.pg.port}/{DB}/public.customers"
    assert len(spec.partitions) == 3 and spec.partitions[0].first_line == 1
    with database.hold_snapshot(spec), test_pipeline() as p:
        read = p | database.ReadDatabase(spec, batch_rows=700)
        rows = read.records | beam.FlatMap(
            lambda b: zip(*(b.column(c).to_pylist() for c in ("_line", "email", "dob")), strict=True)
        )
        sources = read.records | "Sources" >> beam.FlatMap(lambda b: set(b.column("_source").to_pylist()))
        sizes = read.records | "Sizes" >> beam.Map(lambda b: b.num_rows <= 700)
        stats = read.stats | beam.Map(lambda s: s["inputs"][label]["rows_read"]) | beam.CombineGlobally(sum)
        dobs = [d.isoformat() for d in shop.rows.column("dob").to_pylist()]
        expected = list(zip(range(1, CUSTOMERS + 1), shop.rows.column("email").to_pylist(), dobs, strict=True))
        assert_that(rows, equal_to(expected))
        assert_that(sources | beam.Distinct(), equal_to([label]), label="OneSource")
        assert_that(sizes | "Small" >> beam.Distinct(), equal_to([True]), label="BatchesBounded")
        assert_that(stats, equal_to([CUSTOMERS]), label="Counted")


def test_lines_do_not_depend_on_the_partitioning(shop: Shop) -> None:
    """A nullable, non-unique partition column: NULL keys read last, ties ordered by the values."""
    with shop.owner() as owner:
        owner.execute("CREATE TABLE towns AS SELECT * FROM customers")
        owner.execute("UPDATE towns SET city = NULL WHERE id % 10 = 0")
    uri = shop.uri(table="towns")
    results = []
    for partitions in (1, 5):
        spec = database.inspect_database(uri, {}, "city", partitions)
        with database.hold_snapshot(spec):
            table, dead, _ = _read_all(spec, batch_rows=256)
        assert not dead and spec.key == "city" and b"IS NULL" in spec.partitions[-1].statement
        assert table.column("_line").to_pylist() == list(range(1, CUSTOMERS + 1))
        results.append((len(spec.partitions), table.drop_columns(["_source"]).to_pylist()))
    (one, whole), (five, split) = results
    assert one == 2 and five > 3  # non-NULL keys + NULL keys; ranges + NULL keys
    assert whole == split


def test_query_source_with_percent_signs(shop: Shop) -> None:
    query = "SELECT id, email, phone FROM customers WHERE id % 2 = 0 AND email LIKE '%@%'"
    spec = database.inspect_database(shop.uri(query=query), {}, "id", 3)
    with database.hold_snapshot(spec):
        table, _, stats = _read_all(spec)
    want = [e for i, e in enumerate(shop.rows.column("email").to_pylist(), 1) if i % 2 == 0 and e]
    assert table.column("email").to_pylist() == want
    assert spec.label.endswith("/query") and spec.query == query and len(spec.partitions) == 3
    assert sum(s["inputs"][spec.label]["rows_read"] for s in stats) == len(want)


def test_hostile_identifiers_are_quoted_and_the_table_survives(shop: Shop) -> None:
    with shop.owner() as owner:
        owner.execute(
            sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, {} text)").format(
                sql.Identifier(HOSTILE_TABLE), sql.Identifier(HOSTILE_COLUMN)
            )
        )
        rows = sql.SQL("INSERT INTO {} VALUES (1, 'a@b.example'), (2, 'c@d.example')")
        owner.execute(rows.format(sql.Identifier(HOSTILE_TABLE)))
    spec = database.inspect_database(shop.uri(table=HOSTILE_TABLE), {"email": HOSTILE_COLUMN}, None, 2)
    with database.hold_snapshot(spec):
        table, _, _ = _read_all(spec)
    assert table.column("email").to_pylist() == ["a@b.example", "c@d.example"]
    with pytest.raises(InputError, match="does not exist"):
        database.inspect_database(shop.uri(table="customers"), {"email": HOSTILE_COLUMN}, None, 2)
    with pytest.raises(InputError, match="is not one of its columns"):
        database.inspect_database(shop.uri(table="customers"), {}, HOSTILE_COLUMN, 2)
    with pytest.raises(InputError, match="does not exist"):
        database.inspect_database(shop.uri(table="customers; DROP TABLE customers; --"), {}, None, 2)
    with pytest.raises(InputError, match=r"check \?query="):  # a query is one statement, run read-only
        database.inspect_database(shop.uri(query="SELECT * FROM customers; DROP TABLE customers"), {}, None, 2)
    with shop.owner() as owner:
        assert owner.execute("SELECT count(*) FROM customers").fetchone() == (CUSTOMERS,)


def test_invalid_utf8_becomes_a_dead_letter_and_rows_add_up(shop: Shop) -> None:
    """Only a SQL_ASCII database stores bytes that are not text; those rows are dead-lettered."""
    with shop.pg.admin() as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE bytes TEMPLATE template0 ENCODING 'SQL_ASCII' LOCALE 'C' OWNER {}").format(
                sql.Identifier(USER)
            )
        )
    with shop.pg.admin("bytes", user=USER) as owner:
        owner.execute("CREATE TABLE people (id int PRIMARY KEY, email text)")
        owner.execute("INSERT INTO people VALUES (1, 'a@b.example'), (2, E'b\\xff@c.example'), (3, 'd@e.example')")
    spec = database.inspect_database(shop.pg.uri(USER, "bytes", table="people"), {}, None, 1)
    with database.hold_snapshot(spec):
        table, dead, stats = _read_all(spec)
    assert table.column("_line").to_pylist() == [1, 3]
    assert [(d["line"], d["reason"]) for t in dead for d in t.to_pylist()] == [
        (2, "not valid UTF-8 (byte 1 of the row)")
    ]
    (one_partition,) = stats
    entry = database.manifest_entry(spec, one_partition)
    assert (entry["rows_read"], entry["rows_parsed"], entry["rows_dead_lettered"]) == (3, 2, 1)


class _FakeSecrets:
    """Stands in for Secret Manager's client: returns the password for one secret version."""

    NAME = "projects/p/secrets/pg/versions/1"

    def access_secret_version(self, name: str) -> SimpleNamespace:
        from google.api_core.exceptions import NotFound

        if name != self.NAME:
            raise NotFound(name)
        return SimpleNamespace(payload=SimpleNamespace(data=(PASSWORD + "\n").encode()))


def test_password_from_a_passfile_or_secret_manager_and_never_in_the_pipeline(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import secretmanager

    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{shop.pg.port}:{DB}:{USER}:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    spec = database.inspect_database(shop.uri(table="customers"), {}, None, 1)
    with database.hold_snapshot(spec):
        assert _read_all(spec)[0].num_rows == CUSTOMERS
    monkeypatch.delenv("PGPASSFILE")

    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", _FakeSecrets)
    spec = database.inspect_database(shop.uri(table="customers", password_secret=_FakeSecrets.NAME), {}, None, 2)
    with database.hold_snapshot(spec):
        assert _read_all(spec)[0].num_rows == CUSTOMERS  # each reader fetched the secret itself
        shipped = pickler.dumps(database.ReadPartitionFn(spec, 10))  # what Beam sends to workers
    assert PASSWORD.encode() not in shipped and PASSWORD not in spec.conninfo
    with pytest.raises(InputError, match="cannot read the secret"):
        database.inspect_database(shop.uri(table="customers", password_secret=_FakeSecrets.NAME + "0"), {}, None, 1)


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://reader:hunter2@127.0.0.1:5432/shop?table=customers",
        "postgres://reader@127.0.0.1/shop?table=customers&password=hunter2",
    ],
)
def test_a_password_in_the_uri_is_refused(uri: str, key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["sketch", "--customers", uri, "--out", "unused", "--key-file", str(key_file)])
    err = capsys.readouterr().err
    assert code == 2 and "contains a password" in err and "PGPASSWORD" in err
    assert "hunter2" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_password", 'password authentication failed for user "reader"'),
        ("no_password", "no password supplied"),
        ("unreachable", "cannot connect"),
        ("missing_database", 'database "nowhere" does not exist'),
        ("missing_table", "table 'nobody' does not exist in the search path"),
        ("missing_column", "column 'E-Mail' given for email does not exist"),
        ("empty_table", "public.nobody_home has no rows"),
        ("bad_query", 'column "nope" does not exist: check ?query='),
        ("table_and_query", "give exactly one of ?table="),
        ("bad_partition_column", "--partition-column 'nope' is not one of its columns"),
    ],
)
def test_bad_database_input_is_one_line_at_launch(
    shop: Shop,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    message: str,
) -> None:
    params = {
        "missing_table": {"table": "nobody"},
        "empty_table": {"table": "nobody_home"},
        "bad_query": {"query": "SELECT nope FROM customers"},
        "table_and_query": {"table": "customers", "query": "SELECT 1"},
    }.get(case, {"table": "customers"})
    uri = shop.pg.uri(USER, "nowhere" if case == "missing_database" else DB, **params)
    if case == "unreachable":
        uri = uri.replace(f":{shop.pg.port}/", f":{free_port()}/")
    if case == "wrong_password":
        monkeypatch.setenv("PGPASSWORD", "not-" + PASSWORD)
    if case == "no_password":
        monkeypatch.delenv("PGPASSWORD")
    argv = ["sketch", "--customers", uri, "--out", str(tmp_path / "b"), "--key-file", str(shop.key)]
    argv += {
        "missing_column": ["--customer-columns", "email=E-Mail"],
        "bad_partition_column": ["--partition-column", "nope"],
    }.get(case, [])
    started = time.monotonic()
    code = cli.main(argv)
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and PASSWORD not in err
    assert elapsed < SLOW_S
    assert not (tmp_path / "b").exists()
