"""BigQuery and Cloud SQL as customer sources, without Google.

The sketch graph for ``bigquery://`` goes through DataflowRunner's own translation (``--dry_run``)
with sockets and credentials blocked; BigQuery's rows, as Beam's reader returns them, make the
same bundle as the same rows in Parquet; a Cloud SQL Auth Proxy's unix socket is plain PostgreSQL.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.gcp.bigquery import _CustomBigQueryStorageSource
from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner
from psycopg import sql

from pipelines import common, sketch
from tests.conftest import SYSTEM_TEMP, applied_transforms
from tests.postgres import SUPERUSER, PostgresServer, server_fixture
from transforms import bigquery, bundle, synthetic
from transforms.errors import InputError
from transforms.fields import CUSTOMER_ID

pg = server_fixture()

CUSTOMERS = 400
TABLE = "my-project.crm.customers"
COLUMNS = {
    "customer_id": "customer_id",
    "email": "email",
    "phone": "phone",
    "first_name": "first_name",
    "last_name": "last_name",
    "street": "street",
    "city": "city",
    "postcode": "postcode",
    "country": "country",
    "dob": "dob",
    "id:loyalty": "loyalty",
}
MAPPING = ",".join(f"{field}={column}" for field, column in COLUMNS.items())
REGION = ["--default-region", "GB"]  # BigQuery has no launch-time sample to find it from
# Beam validates these for DataflowRunner: a one-letter project or bucket is refused, and an invalid
# --temp_location bucket makes Beam look for a default bucket on Cloud Storage.
IMAGE = "europe-west1-docker.pkg.dev/test-project/dumpmatch/dumpmatch:test"
DATAFLOW = [
    "--runner=DataflowRunner",
    "--project=test-project",
    "--region=europe-west1",
    "--temp_location=gs://test-bucket/tmp",
    f"--sdk_container_image={IMAGE}",  # workers get the package from the image: nothing is staged
    "--dry_run=True",  # DataflowRunner translates the whole job, then submits nothing
]
DATAFLOW_LABELS = {
    "Read/ReadFromBigQuery",
    "Read/ReadFromBigQuery/Read/SDFBoundedSourceReader",
    "Read/Batch",
    "Read/ToRecords/ParDo(RowsToRecordsFn)",
    "Prepare/Hash",
    "CustomerIds",
    "Build/MergeIndex",
    "Accounting",
    "WriteDeadLetters",
    "WriteManifest",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Customers with a DATE, an INT64 and NULLs, as Parquet, with their bundle and a key."""
    folder = tmp_path_factory.mktemp("bigquery")
    base = synthetic.customers(CUSTOMERS)
    rng = np.random.default_rng(5)
    dob = np.datetime64("1950-01-01") + rng.integers(0, 20000, CUSTOMERS).astype("timedelta64[D]")
    loyalty = [None if i % 7 == 0 else int(v) for i, v in enumerate(rng.integers(1, 10**12, CUSTOMERS))]
    rows = base.append_column("dob", pa.array(dob)).append_column("loyalty", pa.array(loyalty, pa.int64()))
    pq.write_table(rows, folder / "customers.parquet")
    key = folder / "k.key"
    key.write_text("ef" * 32)
    key.chmod(0o600)
    parquet = folder / "from-parquet"
    argv = ["--customers", str(folder / "customers.parquet"), "--out", str(parquet), "--key-file", str(key)]
    sketch.run([*argv, "--customer-columns", MAPPING, *REGION])
    return {"folder": folder, "rows": rows, "key": key, "bundle": parquet}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuses and records every connection to, or name lookup of, anything but this machine, and points
    Google's credential lookup at a file that does not exist: a call to Google fails the test."""
    attempts: list[str] = []
    local = ("localhost", "127.0.0.1", "::1")
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX or address[0] in local:
            return real_connect(self, address)
        attempts.append(f"connect {address!r}")
        raise OSError("network refused by tests/test_bigquery.py")

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in local or host is None:
            return real_getaddrinfo(host, *args, **kwargs)
        attempts.append(f"lookup {host!r}")
        raise OSError("name lookup refused by tests/test_bigquery.py")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/dumpmatch-test-credentials.json")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    return attempts


def _argv(world: dict[str, Any], out: Path, uri: str, mapping: str = MAPPING) -> list[str]:
    return ["--customers", uri, "--out", str(out), "--key-file", str(world["key"]), "--customer-columns", mapping]


QUERY = "SELECT * FROM crm.customers WHERE active"


@pytest.mark.parametrize("uri", [f"bigquery://{TABLE}?expected_rows=2000", f"bigquery://my-project?query={QUERY}"])
def test_sketch_from_bigquery_translates_for_dataflow_offline(
    uri: str, world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    made: list[beam.Pipeline] = []
    make_pipeline = common.make_pipeline

    def recording(options: Any) -> beam.Pipeline:
        made.append(make_pipeline(options))
        return made[-1]

    monkeypatch.setattr(common, "make_pipeline", recording)
    assert sketch.run([*_argv(world, tmp_path / "bundle", uri), *DATAFLOW]) == {}, "a dry run publishes nothing"
    assert no_network == []
    (pipeline,) = made
    assert isinstance(pipeline.runner, DataflowRunner)
    proto = pipeline.runner.proto_pipeline
    labels = {t.unique_name for t in proto.components.transforms.values()}
    assert labels >= DATAFLOW_LABELS, sorted(DATAFLOW_LABELS - labels)

    read = applied_transforms(pipeline)["Read/ReadFromBigQuery"]
    assert isinstance(read, beam.io.ReadFromBigQuery)
    assert read.method == beam.io.ReadFromBigQuery.Method.DIRECT_READ
    assert read._kwargs["selected_fields"] == sorted(COLUMNS.values())

    # What a worker unpickles from the job: the source and our DoFn, after a second round trip.
    restored = beam.Pipeline.from_runner_api(proto, DataflowRunner(), pipeline.options)
    assert {t.unique_name for t in restored.to_runner_api().components.transforms.values()} == labels
    steps = applied_transforms(restored)
    (source,) = steps["Read/ReadFromBigQuery/Read/EmitSource"].fn._fn(None)  # Map's function, wrapped in a list
    assert isinstance(source, _CustomBigQueryStorageSource)
    assert source.selected_fields == sorted(COLUMNS.values()) and source.method == "DIRECT_READ"
    if "?query=" in uri:
        assert source.query.get() == QUERY and not source.use_legacy_sql and source.table_reference is None
    else:
        reference = source.table_reference
        assert (reference.projectId, reference.datasetId, reference.tableId) == ("my-project", "crm", "customers")
    spec = steps["Read/ToRecords/ParDo(RowsToRecordsFn)"].fn._spec
    assert spec == bigquery.inspect_bigquery(uri, dict(COLUMNS))
    assert steps["Prepare/Hash"].fn._key_path == str(world["key"])
    assert not (tmp_path / "bundle" / bundle.MANIFEST).exists(), "a job that did not run has no manifest"
    assert no_network == []


class _FakeReadFromBigQuery(beam.PTransform):
    """Stands in for ``beam.io.ReadFromBigQuery``: records its arguments, yields the table's rows as Beam's
    Avro reader does (dicts of the selected columns; DATE as datetime.date, INT64 as int)."""

    Method = beam.io.ReadFromBigQuery.Method
    calls: ClassVar[list[dict[str, Any]]] = []
    rows: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.calls.append(kwargs)
        self._selected = kwargs["selected_fields"]

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        rows = [{column: row[column] for column in self._selected} for row in self.rows]
        return pbegin | beam.Create(rows, reshuffle=True)


def _files(folder: Path, pattern: str) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.glob(pattern))}


def assert_same_bundle(got: Path, want: Path) -> None:
    """Same field numbers and customers, same sketch bytes, same index tables."""
    got_manifest, want_manifest = bundle.read_manifest(str(got)), bundle.read_manifest(str(want))
    assert got_manifest["fields"] == want_manifest["fields"]
    assert got_manifest["customers"] == want_manifest["customers"]
    for kind in ("bloom", "hll", "minhash"):
        assert _files(got, f"{kind}/*.bin") == _files(want, f"{kind}/*.bin") != {}
    got_index, want_index = sorted(got.glob("index/*.parquet")), sorted(want.glob("index/*.parquet"))
    assert [p.name for p in got_index] == [p.name for p in want_index] != []
    for mine, theirs in zip(got_index, want_index, strict=True):
        assert pq.read_table(mine).equals(pq.read_table(theirs)), mine.name


def test_bundle_from_bigquery_rows_equals_bundle_from_parquet(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setattr(_FakeReadFromBigQuery, "calls", [])
    monkeypatch.setattr(_FakeReadFromBigQuery, "rows", world["rows"].to_pylist())
    monkeypatch.setattr(beam.io, "ReadFromBigQuery", _FakeReadFromBigQuery)
    capacity = f"bigquery://{TABLE}?expected_rows={CUSTOMERS}"
    manifest = sketch.run([*_argv(world, tmp_path / "from-bq", capacity), *REGION])
    assert _FakeReadFromBigQuery.calls == [
        {
            "method": "DIRECT_READ",
            "selected_fields": sorted(COLUMNS.values()),
            "table": "customers",
            "dataset": "crm",
            "project": "my-project",
        }
    ]
    assert_same_bundle(tmp_path / "from-bq", world["bundle"])
    (entry,) = manifest["inputs"]
    assert entry["path"] == f"bigquery://{TABLE}" and entry["format"] == "bigquery"
    assert entry["rows_read"] == entry["rows_parsed"] == CUSTOMERS and entry["rows_dead_lettered"] == 0
    assert manifest["parameters"]["bloom_capacity"] == CUSTOMERS
    assert no_network == []


def _spec(**columns: str) -> bigquery.BigQuerySpec:
    return bigquery.inspect_bigquery(f"bigquery://{TABLE}", columns)


def _convert(spec: bigquery.BigQuerySpec, rows: list[dict[str, Any]]) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """Runs the batch converter: (records, dead letters, summed counts)."""
    records, dead = [], [pa.table({"line": pa.array([], pa.int64())})]
    counts: dict[str, int] = {}
    for out in bigquery.RowsToRecordsFn(spec).process(rows):
        if isinstance(out, beam.pvalue.TaggedOutput):
            if out.tag == "stats":
                for name, value in out.value["inputs"][spec.label].items():
                    counts[name] = counts.get(name, 0) + value
            else:
                dead.append(out.value.select(["line", "reason"]))
        else:
            records.append(out)
    table = pa.Table.from_batches(records) if records else pa.table({})
    return table, pa.concat_tables(dead, promote_options="default"), counts


def test_rows_become_text_lines_come_from_ids_and_bad_rows_are_dead_letters() -> None:
    spec = _spec(customer_id="id", email="email", dob="born", **{"id:order": "order"})
    rows: list[dict[str, Any]] = [
        {"ID": "c1", "EMAIL": "a@b.example", "Born": datetime.date(1990, 1, 2), "Order": 42},
        {"ID": 7, "EMAIL": b"x@y.example", "Born": datetime.datetime(1980, 5, 6, 7, 8, 9), "Order": True},
        {"ID": "c3", "EMAIL": None, "Born": None, "Order": decimal.Decimal("12.50")},
        {"ID": None, "EMAIL": "lost@b.example", "Born": None, "Order": 1},
        {"ID": "", "EMAIL": "empty@b.example", "Born": None, "Order": 1},
        {"ID": "c6", "EMAIL": b"\xffbad", "Born": None, "Order": 1},
        {"ID": "c7", "EMAIL": "n@b.example", "Born": None, "Order": {"nested": 1}},
    ]
    table, dead, counts = _convert(spec, rows)
    assert table.schema.names == ["customer_id", "dob", "email", "id:order", "_line", "_source"]
    assert table.drop_columns(["_source"]).to_pylist() == [
        {
            "customer_id": "c1",
            "dob": "1990-01-02",
            "email": "a@b.example",
            "id:order": "42",
            "_line": bigquery.line_of("c1"),
        },
        {
            "customer_id": "7",
            "dob": "1980-05-06T07:08:09",
            "email": "x@y.example",
            "id:order": "true",
            "_line": bigquery.line_of("7"),
        },
        {"customer_id": "c3", "dob": None, "email": None, "id:order": "12.50", "_line": bigquery.line_of("c3")},
    ]
    assert set(table.column("_source").to_pylist()) == {f"bigquery://{TABLE}"}
    # The documented lookup: TO_HEX(LEFT(SHA256(id), 7)) in BigQuery is the line in hex.
    assert f"{bigquery.line_of('c1'):014x}" == hashlib.sha256(b"c1").hexdigest()[:14]
    reasons = dict(zip(dead.column("line").to_pylist(), dead.column("reason").to_pylist(), strict=True))
    assert dead.num_rows == 4 and dead.column("line").null_count == 2
    assert reasons[None] == bigquery.NO_ID
    assert "not UTF-8" in reasons[bigquery.line_of("c6")] and "column email" in reasons[bigquery.line_of("c6")]
    assert "RECORD or REPEATED" in reasons[bigquery.line_of("c7")]
    assert counts == {"rows_read": 7, "rows_parsed": 3, "rows_dead_lettered": 4, "headers": 0}

    halves = [_convert(spec, part)[0] for part in (rows[:2], rows[2:])]  # other streams, other batches
    assert pa.concat_tables(halves).to_pylist() == table.to_pylist()

    with pytest.raises(RuntimeError, match="BigQuery returned no column 'born'"):
        _convert(spec, [{"id": "c1", "email": "a@b.example", "order": 1}])


@pytest.mark.parametrize(
    ("uri", "columns", "problem"),
    [
        (f"bigquery://{TABLE}", {}, "--customer-columns customer_id=<column>"),
        (f"bigquery://{TABLE}", {"email": "email"}, "map the customer id too"),
        (f"bigquery://{TABLE}", {CUSTOMER_ID: "id"}, "only customer_id is mapped"),
        ("bigquery://crm.customers", {CUSTOMER_ID: "id", "email": "e"}, "expected bigquery://PROJECT.DATASET.TABLE"),
        ("bigquery://My_Project.crm.customers", {CUSTOMER_ID: "id", "email": "e"}, "expected bigquery://"),
        (f"bigquery://{TABLE}?rows=5", {CUSTOMER_ID: "id", "email": "e"}, "unknown parameter(s) ['rows']"),
        (f"bigquery://{TABLE}?expected_rows=0", {CUSTOMER_ID: "id", "email": "e"}, "must be a positive"),
        ("bigquery://my-project?query=%20", {CUSTOMER_ID: "id", "email": "e"}, "a non-empty query"),
    ],
)
def test_bigquery_uri_and_columns_are_checked_at_launch(uri: str, columns: dict[str, str], problem: str) -> None:
    with pytest.raises(InputError) as raised:
        bigquery.inspect_bigquery(uri, columns)
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_bigquery_uri_forms(key_file: Path) -> None:
    columns = {CUSTOMER_ID: "id", "email": "mail"}
    domain = bigquery.inspect_bigquery("bigquery://example.com:shop-1.crm.people?expected_rows=1_000", columns)
    assert (domain.project, domain.dataset, domain.table, domain.expected_rows) == (
        "example.com:shop-1",
        "crm",
        "people",
        1000,
    )
    query = bigquery.inspect_bigquery("bigquery://my-project?query=SELECT id, mail FROM crm.people%3B", columns)
    assert query.query == "SELECT id, mail FROM crm.people" and query.table is None
    plus = bigquery.inspect_bigquery("bigquery://my-project?query=SELECT id, a+b AS mail FROM t%26u", columns)
    assert plus.query == "SELECT id, a+b AS mail FROM t&u"
    assert query.label == "bigquery://my-project/query" and query.expected_rows == bigquery.DEFAULT_EXPECTED_ROWS
    assert query.selected_fields == ["id", "mail"]
    with pytest.raises(InputError, match="must be the only customer source"):
        sketch.run(["--customers", f"bigquery://{TABLE}", "more.csv", "--out", "x", "--key-file", str(key_file)])


@pytest.fixture
def proxy_socket(pg: PostgresServer) -> Iterator[Path]:
    """A folder named like the Cloud SQL Auth Proxy's ``--unix-socket`` one (``/cloudsql/PROJECT:REGION:INSTANCE``)
    holding the server's socket; short, as a socket path must stay under ~100 bytes."""
    root = Path(tempfile.mkdtemp(prefix="cloudsql-", dir=SYSTEM_TEMP))
    folder = root / "my-project:europe-west1:shop"
    folder.symlink_to(pg.root, target_is_directory=True)
    try:
        yield folder
    finally:
        shutil.rmtree(root)


def test_cloud_sql_through_the_auth_proxy_socket_is_plain_postgresql(
    world: dict[str, Any], pg: PostgresServer, proxy_socket: Path, tmp_path: Path
) -> None:
    rows: pa.Table = world["rows"]
    with pg.admin() as admin:
        admin.execute("CREATE DATABASE shop")
    with pg.admin("shop") as owner:
        owner.execute(
            "CREATE TABLE customers (customer_id text PRIMARY KEY, email text, phone text, first_name text, "
            "last_name text, street text, city text, postcode text, country text, dob date, loyalty bigint)"
        )
        names = sql.SQL(", ").join(map(sql.Identifier, rows.schema.names))
        with owner.cursor().copy(sql.SQL("COPY customers ({}) FROM STDIN").format(names)) as copy:
            for row in rows.to_pylist():
                copy.write_row(list(row.values()))
    assert len(f"{proxy_socket}/.s.PGSQL.{pg.port}") < 100
    host = quote(str(proxy_socket), safe="/:")
    uri = f"postgresql://{SUPERUSER}@/shop?host={host}&port={pg.port}&table=customers"
    manifest = sketch.run([*_argv(world, tmp_path / "from-proxy", uri), "--partitions", "3", *REGION])
    assert_same_bundle(tmp_path / "from-proxy", world["bundle"])
    (entry,) = manifest["inputs"]
    assert entry["host"] == str(proxy_socket) and entry["port"] == pg.port and entry["partitions"] == 3
    assert entry["rows_parsed"] == CUSTOMERS and os.path.isdir(entry["host"])
