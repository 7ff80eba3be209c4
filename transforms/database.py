"""Reading customers straight from PostgreSQL into Arrow record batches, from one snapshot.

Launch: ``inspect_database`` connects, opens a REPEATABLE READ READ ONLY transaction,
exports its snapshot (``pg_export_snapshot``) and keeps that connection open for the
whole run (``hold_snapshot``). In that snapshot it finds the table (or runs the query
with ``LIMIT 0``), maps columns, and cuts the partition key into ranges whose row
counts it takes there too. Run: every partition reader imports the snapshot (``SET
TRANSACTION SNAPSHOT``), so all partitions see one state of the database however long
the run takes, and streams ``COPY (SELECT col::text, ...) TO STDOUT`` as CSV into
pyarrow: PostgreSQL's own output functions make the text, no row becomes a Python
object, memory is one batch. For a database a "line" is the row's 1-based position in
key order (ties broken by the mapped columns), the same however the key is partitioned.
The password never enters the spec, the pipeline or the manifest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import apache_beam as beam
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from apache_beam.metrics import Metrics
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from transforms import normalize, secretstore
from transforms.errors import InputError
from transforms.fields import CUSTOMER_ID, map_columns
from transforms.read import BATCH_ROWS, LINE, SOURCE, dead_table
from transforms.report import AccountingError, checked_counts
from transforms.sample import SAMPLE_ROWS

FORMAT = "postgresql"
SCHEMES = ("postgresql://", "postgres://")
DEFAULT_PARTITIONS = 16
CONNECT_TIMEOUT_S = 10
KEEPALIVE_IDLE_S = 60  # TCP keepalives so a NAT or firewall keeps the idle snapshot connection
# Keys sampled to place partition bounds on a large table: BERNOULLI picks rows, not pages, so
# ranges stay even when keys follow the physical order (SYSTEM gave ±50% at 64 partitions).
SAMPLE_KEYS = 100_000
SAMPLE_SEED = 0  # TABLESAMPLE ... REPEATABLE: the same table gives the same partitions
MIN_SERVER_VERSION = 130000  # pg_current_snapshot() for the manifest's snapshot marker
APPLICATION_NAME = "dumpmatch"
PASSWORD_HELP = (
    "give the password with PGPASSWORD or a PGPASSFILE (.pgpass) file where dumpmatch runs, or with "
    "&password_secret=projects/P/secrets/S/versions/V (Secret Manager, read by remote workers too), never in the URI"
)
# Session settings that make PostgreSQL's text output the same on every server.
_SESSION = (
    "SELECT set_config('DateStyle', 'ISO, YMD', false), set_config('IntervalStyle', 'postgres', false), "
    "set_config('TimeZone', 'UTC', false), set_config('extra_float_digits', '1', false)"
)
_OWN_PARAMS = ("table", "schema", "query", "password_secret")
_SAMPLED_RELKINDS = ("r", "m")  # tables and materialized views: reltuples estimates their rows
_CSV_READ = pacsv.ParseOptions(newlines_in_values=True)


@dataclass(frozen=True)
class Partition:
    """One key range of the source: its row count and first line, both taken in the snapshot.

    The ``COPY`` statement is rendered at launch by the connection that chose the bounds, so
    workers build no SQL and send it as bytes whatever their client encoding.
    """

    index: int
    first_line: int
    rows: int
    statement: bytes


@dataclass(frozen=True)
class DatabaseSpec:
    """A database source as inspected at launch; carries references to secrets, never a secret."""

    label: str  # postgresql://host:port/db/schema.table: _source, stats and dead-letter key
    conninfo: str  # libpq connection string pinned to the server holding the snapshot, no password
    host: str
    port: int
    database: str
    schema: str | None
    table: str | None
    query: str | None
    columns: tuple[str, ...]
    mapping: tuple[tuple[str, str], ...]  # (field, column), sorted by field
    key: str | None  # partition column; None = one partition
    partitions: tuple[Partition, ...]
    rows: int
    snapshot: str  # pg_export_snapshot() id: importable while the launcher's transaction is open
    snapshot_marker: str  # pg_current_snapshot(): xmin:xmax:in-progress xids, for the manifest
    snapshot_time: str  # the snapshot's transaction start, UTC
    password_secret: str | None  # Secret Manager version name, read by every connecting process
    region: str | None  # most common country in the first rows (default phone region)

    def field_columns(self) -> dict[str, str]:
        return dict(self.mapping)


_HELD: dict[str, psycopg.Connection] = {}  # snapshot id → the launcher connection exporting it


def is_database_uri(text: str) -> bool:
    return text.lower().startswith(SCHEMES)


def inspect_database(
    uri: str, overrides: dict[str, str], partition_column: str | None, partitions: int
) -> DatabaseSpec:
    """Checks the source at launch and exports the run's snapshot; bad input raises InputError.

    The exporting connection stays open (the snapshot lives as long as its transaction):
    run the pipeline inside ``hold_snapshot(spec)``.
    """
    if not is_database_uri(uri):
        raise InputError(f"--customers: {uri!r} is not a postgresql:// URI")
    if partitions < 1:
        raise InputError(f"--partitions {partitions}: give at least 1")
    libpq_uri, own = _split_uri(uri)
    if ("table" in own) == ("query" in own):
        raise InputError(f"{libpq_uri}: give exactly one of ?table=<name> or ?query=<SELECT ...>")
    try:
        params = conninfo_to_dict(libpq_uri)
    except psycopg.ProgrammingError as err:
        raise InputError(f"--customers: not a valid PostgreSQL URI ({err})") from None
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    params.setdefault("application_name", APPLICATION_NAME)
    params.setdefault("keepalives_idle", str(KEEPALIVE_IDLE_S))
    params["client_encoding"] = "UTF8"  # inspection reads text; readers may switch to raw bytes (see _inspect)
    secret = own.get("password_secret")
    if secret is not None and not secretstore.GCP_SECRET_NAME.fullmatch(secret):
        raise InputError(f"&password_secret={secret}: expected projects/P/secrets/S/versions/V")
    conn = _connect(make_conninfo("", **params), read_secret(secret), libpq_uri, InputError)
    try:
        spec = _inspect(conn, params, own, overrides, partition_column, partitions)
    except BaseException:
        conn.close()
        raise
    _HELD[spec.snapshot] = conn
    return spec


@contextmanager
def hold_snapshot(spec: DatabaseSpec | None) -> Iterator[None]:
    """Keeps the launcher's snapshot importable while the run reads, then ends its transaction."""
    try:
        yield
    finally:
        if spec is not None and (conn := _HELD.pop(spec.snapshot, None)) is not None:
            conn.close()


def manifest_entry(spec: DatabaseSpec, stats: dict[str, Any]) -> dict[str, Any]:
    """The bundle manifest's input entry: where the rows came from, which snapshot, checked counts."""
    rows = checked_counts(stats.get("inputs", {}).get(spec.label, {}), spec.label)
    if rows["rows_read"] != spec.rows:
        raise AccountingError(f"row accounting broken for {spec.label}: {rows}, snapshot has {spec.rows} rows")
    return {
        "path": spec.label,
        "format": FORMAT,
        "size": None,
        "host": spec.host,
        "port": spec.port,
        "database": spec.database,
        "schema": spec.schema,
        "table": spec.table,
        "query": spec.query,
        "columns": spec.field_columns(),
        "partition_column": spec.key,
        "partitions": len(spec.partitions),
        "rows": spec.rows,
        "snapshot": {"xmin_xmax_xip": spec.snapshot_marker, "taken_at": spec.snapshot_time},
        **rows,
        "complete": True,
        "incomplete_reason": None,
    }


def read_secret(name: str | None) -> str | None:
    """The password from Secret Manager (None when no secret is named); each process reads it itself."""
    if name is None:
        return None
    data = secretstore.read(f"{secretstore.GCP_SCHEME}{secretstore.SEPARATOR}{name}")
    return data.decode("utf-8").rstrip("\r\n")


def _split_uri(uri: str) -> tuple[str, dict[str, str]]:
    """Separates our query parameters from libpq's; a password anywhere in the URI stops the run."""
    base, _, query = uri.partition("?")
    userinfo = base.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
    has_password = ":" in userinfo
    kept: list[str] = []
    own: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        name, _, value = item.partition("=")
        name = unquote(name)
        has_password |= name == "password"
        if name in _OWN_PARAMS:
            own[name] = unquote(value)
        else:
            kept.append(item)
    if has_password:  # the message must not repeat the URI: it holds the password
        raise InputError(
            f"--customers: the database URI contains a password; remove it and {PASSWORD_HELP} "
            "(a command line is visible to other users and kept in shell history)"
        )
    return base + ("?" + "&".join(kept) if kept else ""), own


def _connect(conninfo: str, password: str | None, where: str, error: type[Exception]) -> psycopg.Connection:
    """Opens a connection or raises ``error`` with one line saying what to check."""
    try:
        return psycopg.connect(conninfo, password=password)  # None: libpq looks further
    except psycopg.OperationalError as err:
        detail = " ".join(str(err).split()).rpartition(" failed: ")[2].removeprefix("FATAL: ")
        if "password" in detail:
            raise error(f"{where}: {detail}: {PASSWORD_HELP}") from None
        if "does not exist" in detail:
            raise error(f"{where}: {detail}: check the user and database in the URI") from None
        raise error(
            f"{where}: cannot connect ({detail}): check host and port, and that the server accepts connections"
        ) from None


def _inspect(
    conn: psycopg.Connection,
    params: dict[str, Any],
    own: dict[str, str],
    overrides: dict[str, str],
    partition_column: str | None,
    partitions: int,
) -> DatabaseSpec:
    info = conn.info
    server = f"postgresql://{quote(info.host, safe='')}:{info.port}/{quote(info.dbname, safe='')}"
    if info.server_version < MIN_SERVER_VERSION:
        raise InputError(f"{server}: PostgreSQL {info.server_version // 10000} is too old: 13 or newer is needed")
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    conn.execute(_SESSION)
    conn.execute("SET idle_in_transaction_session_timeout = 0")  # the snapshot must outlive the run
    snapshot, marker, taken = _one(
        conn,
        'SELECT pg_export_snapshot(), pg_current_snapshot()::text, to_char(now(), \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')',
    )
    query = own.get("query")
    if query is not None:
        query = query.strip().rstrip(";")
        label = f"{server}/query"
        schema = table = default_key = relkind = None
        relation = _relation(None, None, query)
        with _explained(label, "check ?query="):
            description = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(relation)).description or []
        columns = [c.name for c in description]
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise InputError(f"{label}: the query returns {twice} more than once: give them distinct aliases")
        reltuples = -1.0
    else:
        oid, schema, table, relkind, reltuples = _find_table(conn, server, own.get("schema"), own["table"])
        label = f"{server}/{quote(schema, safe='')}.{quote(table, safe='')}"
        relation = _relation(schema, table, None)
        columns = [r[0] for r in conn.execute(_COLUMNS, (oid,))]
        default_key = next(iter(conn.execute(_PRIMARY_KEY, (oid,))), (None,))[0]
    mapping = sorted(_map(label, columns, overrides))  # the order of the COPY's and the batch's columns
    key = partition_column or default_key
    if key is not None and key not in columns:
        raise InputError(f"{label}: --partition-column {key!r} is not one of its columns {columns[:20]}")
    order = _order_by(key, [column for _, column in mapping])
    with _explained(label, "choose a --partition-column with an ordered type (integer, text, date, ...)"):
        conn.execute(sql.SQL("SELECT 1 FROM {} ORDER BY {} LIMIT 0").format(relation, order))
    sample = relkind in _SAMPLED_RELKINDS and reltuples > SAMPLE_KEYS
    with _explained(label, f"check that user {info.user} may read it and the --partition-column"):
        bounds = _bounds(conn, relation, key, partitions, 100.0 * SAMPLE_KEYS / reltuples if sample else None)
        counts = _counts(conn, relation, key, bounds)
    rows = sum(counts.values())
    if rows == 0:
        raise InputError(f"{label} has no rows: there is nothing to read")
    with _explained(label, "give --default-region"):
        region = _dominant_region(conn, relation, dict(mapping).get("country"), order)
    pinned = {"host": info.host, "port": str(info.port), "dbname": info.dbname, "user": info.user}
    if info.parameter_status("server_encoding") == "SQL_ASCII":
        # Such a database stores bytes unchecked, and converting them to UTF8 stops the whole COPY
        # at the first invalid one; readers take the bytes as they are and dead-letter bad rows.
        pinned["client_encoding"] = "SQL_ASCII"
    if "hostaddr" in params:
        pinned["hostaddr"] = info.hostaddr
    return DatabaseSpec(
        label=label,
        conninfo=make_conninfo("", **{**params, **pinned}),
        host=info.host,
        port=info.port,
        database=info.dbname,
        schema=schema,
        table=table,
        query=query,
        columns=tuple(columns),
        mapping=tuple(mapping),
        key=key,
        partitions=_partitions(conn, relation, key, [column for _, column in mapping], bounds, counts),
        rows=rows,
        snapshot=snapshot,
        snapshot_marker=marker,
        snapshot_time=taken,
        password_secret=own.get("password_secret"),
        region=region,
    )


_COLUMNS = "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
_PRIMARY_KEY = (
    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
    "WHERE i.indrelid = %s AND i.indisprimary"
)


def _one(conn: psycopg.Connection, query: str | sql.Composed) -> tuple[Any, ...]:
    row = conn.execute(query).fetchone()
    assert row is not None, "an aggregate or function query returns one row"
    return tuple(row)


@contextmanager
def _explained(label: str, advice: str) -> Iterator[None]:
    """A database error during inspection becomes one line naming the source and what to do."""
    try:
        yield
    except psycopg.Error as err:
        message = err.diag.message_primary or " ".join(str(err).split())
        raise InputError(f"{label}: {message}: {advice}") from None


def _find_table(
    conn: psycopg.Connection, server: str, schema: str | None, table: str
) -> tuple[int, str, str, str, float]:
    """Finds ``table`` (exact catalog name) in ``schema``, else on the search path, else as schema.table."""
    candidates = [(schema, table)]
    if schema is None and "." in table:
        prefix, _, name = table.partition(".")
        candidates.append((prefix, name))
    for nsp, rel in candidates:
        found = conn.execute(
            "SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = %s "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "  # tables, views, materialized and foreign tables
            "AND (n.nspname = %s OR (%s::text IS NULL AND pg_table_is_visible(c.oid)))",
            (rel, nsp, nsp),
        ).fetchone()
        if found is not None:
            oid, nspname, relname, relkind, reltuples = found
            return int(oid), str(nspname), str(relname), str(relkind), float(reltuples)
    where = f"schema {schema!r}" if schema is not None else "the search path"
    raise InputError(
        f"{server}: table {table!r} does not exist in {where}: check ?table= (the exact, case-sensitive name; "
        "&schema=<name> for another schema) and that the user may see it"
    )


def _map(label: str, columns: list[str], overrides: dict[str, str]) -> list[tuple[str, str]]:
    for field, column in overrides.items():
        if column not in columns:
            raise InputError(
                f"{label}: column {column!r} given for {field} does not exist (columns: {columns[:20]}); "
                "names are exact and case-sensitive"
            )
    mapping = map_columns(columns, overrides, label)
    if set(mapping) <= {CUSTOMER_ID}:
        raise InputError(
            f"{label}: no column is recognised as a field (columns: {columns[:20]}); "
            "name them with --customer-columns email=<column>,phone=<column>,..."
        )
    return list(mapping.items())


def _relation(schema: str | None, table: str | None, query: str | None) -> sql.Composable:
    """The source as ``... AS src``; a query is the user's own SQL, run read-only."""
    if query is not None:
        return sql.SQL("({}) AS src").format(sql.SQL(query))
    return sql.SQL("{} AS src").format(sql.Identifier(str(schema), str(table)))


def _column(name: str) -> sql.Composable:
    return sql.SQL("src.{}").format(sql.Identifier(name))


def _order_by(key: str | None, columns: list[str]) -> sql.Composable:
    """Key order, ties broken by the output text itself: deterministic whatever the partitioning."""
    ties = [sql.SQL('{}::text COLLATE "C"').format(_column(c)) for c in columns]
    return sql.SQL(", ").join([_column(key), *ties] if key is not None else ties)


def _bounds(
    conn: psycopg.Connection, relation: sql.Composable, key: str | None, partitions: int, percent: float | None
) -> list[Any]:
    """Partition bounds: key quantiles, from a repeatable row sample on large tables."""
    if key is None or partitions == 1:
        return []
    sampled = (
        sql.SQL("{} TABLESAMPLE BERNOULLI ({}) REPEATABLE ({})").format(
            relation, sql.Literal(percent), sql.Literal(SAMPLE_SEED)
        )
        if percent is not None
        else relation
    )
    fractions = [i / partitions for i in range(1, partitions)]
    quantiles = sql.SQL(
        "SELECT b FROM unnest((SELECT percentile_disc({}) WITHIN GROUP (ORDER BY k) "
        "FROM (SELECT {} AS k FROM {}) AS s)) WITH ORDINALITY AS u(b, i) WHERE b IS NOT NULL ORDER BY i"
    ).format(sql.Literal(fractions), _column(key), sampled)
    bounds: list[Any] = []
    for (value,) in conn.execute(quantiles):
        if not bounds or value != bounds[-1]:
            bounds.append(value)
    return bounds


def _counts(conn: psycopg.Connection, relation: sql.Composable, key: str | None, bounds: list[Any]) -> dict[int, int]:
    """Rows per partition (-1 = NULL keys) in one scan, with the readers' own comparisons."""
    if key is None:
        return {0: int(_one(conn, sql.SQL("SELECT count(*) FROM {}").format(relation))[0])}
    k = _column(key)
    whens = [sql.SQL("WHEN {} < {} THEN {}").format(k, sql.Literal(b), sql.Literal(i)) for i, b in enumerate(bounds)]
    query = sql.SQL("SELECT CASE WHEN {} IS NULL THEN -1 {} ELSE {} END, count(*) FROM {} GROUP BY 1").format(
        k, sql.SQL(" ").join(whens), sql.Literal(len(bounds)), relation
    )
    return {int(part): int(rows) for part, rows in conn.execute(query)}


def _partitions(
    conn: psycopg.Connection,
    relation: sql.Composable,
    key: str | None,
    columns: list[str],
    bounds: list[Any],
    counts: dict[int, int],
) -> tuple[Partition, ...]:
    """Non-empty ranges in key order, NULL keys last, each with its first line and COPY statement."""
    edges = [None, *bounds, None]
    parts: list[Partition] = []
    line = 1
    for i in [*range(len(bounds) + 1), -1]:
        rows = counts.get(i, 0)
        if rows:
            where = _where(key, None, None, True) if i == -1 else _where(key, edges[i], edges[i + 1], False)
            statement = sql.SQL("COPY (SELECT {} FROM {} WHERE {} ORDER BY {}) TO STDOUT (FORMAT csv)").format(
                sql.SQL(", ").join(sql.SQL("{}::text").format(_column(c)) for c in columns),
                relation,
                where,
                _order_by(key, columns),
            )
            parts.append(Partition(len(parts), line, rows, statement.as_bytes(conn)))
            line += rows
    return tuple(parts)


def _dominant_region(
    conn: psycopg.Connection, relation: sql.Composable, column: str | None, order: sql.Composable
) -> str | None:
    """The most common country in the first rows, like ``sample.dominant_region`` for files."""
    if column is None:
        return None
    query = sql.SQL("SELECT {}::text FROM {} ORDER BY {} LIMIT {}").format(
        _column(column), relation, order, sql.Literal(SAMPLE_ROWS)
    )
    countries = normalize.country(pa.array([r[0] for r in conn.execute(query)], pa.string()))
    counts = Counter(c for c in countries.to_pylist() if c)
    return counts.most_common(1)[0][0] if counts else None


def _where(key: str | None, lower: Any, upper: Any, nulls: bool) -> sql.Composable:
    """Rows of one range: ``lower <= key < upper`` (None = unbounded), or the NULL keys."""
    if key is None:
        return sql.SQL("TRUE")
    k = _column(key)
    if nulls:
        return sql.SQL("{} IS NULL").format(k)
    conditions = [sql.SQL("{} IS NOT NULL").format(k)]
    if lower is not None:
        conditions.append(sql.SQL("{} >= {}").format(k, sql.Literal(lower)))
    if upper is not None:
        conditions.append(sql.SQL("{} < {}").format(k, sql.Literal(upper)))
    return sql.SQL(" AND ").join(conditions)


def _parse(data: bytes, fields: list[str]) -> pa.Table:
    """COPY's CSV: an unquoted empty value is NULL, a quoted one ("") the empty string."""
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=fields, use_threads=False),
        parse_options=_CSV_READ,
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(fields, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
    )


def _parse_rows(rows: list[bytes], fields: list[str], first_line: int) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Parses one batch of COPY rows; row by row only if pyarrow refuses the batch.

    Returns the parsed rows with their lines (column ``LINE``) and (line, reason, raw) for
    rows that are not valid UTF-8 — possible only from a SQL_ASCII database, which stores
    bytes unchecked.
    """
    try:
        table = _parse(b"".join(rows), fields)
        if table.num_rows == len(rows):
            lines = np.arange(first_line, first_line + len(rows))
            return table.append_column(LINE, pa.array(lines, pa.int64())), []
    except pa.ArrowInvalid:
        pass
    good = [pa.table({field: pa.array([], pa.string()) for field in fields})]
    kept: list[int] = []
    dead: list[tuple[int, str, str]] = []
    for line, row in enumerate(rows, start=first_line):
        try:
            good.append(_parse(row, fields))
            kept.append(line)
        except pa.ArrowInvalid as err:
            dead.append((line, _reason(row, err), row.decode("utf-8", "replace")))
    return pa.concat_tables(good).append_column(LINE, pa.array(kept, pa.int64())), dead


def _reason(row: bytes, err: pa.ArrowInvalid) -> str:
    try:
        row.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not valid UTF-8 (byte {bad.start} of the row)"
    return f"unreadable row ({err})"


class ReadPartitionFn(beam.DoFn):
    """Reads one partition inside the run's snapshot: record batches, dead letters, accounting."""

    DEAD = "dead"
    STATS = "stats"

    def __init__(self, spec: DatabaseSpec, batch_rows: int) -> None:
        self._spec = spec
        self._batch_rows = batch_rows
        self._password: str | None = None
        self._read = Metrics.counter("dumpmatch", "rows_read")
        self._parsed = Metrics.counter("dumpmatch", "rows_parsed")
        self._dead = Metrics.counter("dumpmatch", "rows_dead_lettered")

    def setup(self) -> None:
        self._password = read_secret(self._spec.password_secret)

    def process(self, part: Partition) -> Iterator[Any]:
        spec = self._spec
        fields = [field for field, _ in spec.mapping]
        where = f"{spec.label} (partition {part.index})"
        read = parsed = dead = 0
        with _connect(spec.conninfo, self._password, where, RuntimeError) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            try:  # must be the transaction's first statement
                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(spec.snapshot)))
            except psycopg.Error as err:
                raise RuntimeError(
                    f"{where}: cannot import the run's snapshot ({err.diag.message_primary}): the launching "
                    "process must stay connected until the run ends; rerun"
                ) from None
            conn.execute(_SESSION)
            for rows in stream_rows(conn, part.statement, self._batch_rows):
                table, bad = _parse_rows(rows, fields, part.first_line + read)
                read += len(rows)
                parsed += table.num_rows
                dead += len(bad)
                if bad:
                    yield beam.pvalue.TaggedOutput(self.DEAD, dead_table(spec.label, bad))
                yield from _batches(table, spec.label, self._batch_rows)
        if read != part.rows:
            raise RuntimeError(f"{where}: read {read} rows but the snapshot holds {part.rows}: the snapshot was lost")
        self._read.inc(read)
        self._parsed.inc(parsed)
        self._dead.inc(dead)
        counts = {"rows_read": read, "rows_parsed": parsed, "rows_dead_lettered": dead, "headers": 0}
        yield beam.pvalue.TaggedOutput(self.STATS, {"inputs": {spec.label: counts}})


def stream_rows(conn: psycopg.Connection, statement: bytes, batch_rows: int) -> Iterator[list[bytes]]:
    """COPY output in lists of at most ``batch_rows`` rows (one CopyData message is one row)."""
    rows: list[bytes] = []
    with conn.cursor().copy(statement) as copy:
        for data in copy:
            rows.append(bytes(data))
            if len(rows) == batch_rows:
                yield rows
                rows = []
    if rows:
        yield rows


def _batches(table: pa.Table, label: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The batch as the file readers shape it: fields, ``_line``, then ``_source``."""
    source = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, np.int32)), pa.array([label]))
    yield from table.append_column(SOURCE, source).combine_chunks().to_batches(max_chunksize=batch_rows)


class ReadDatabase(beam.PTransform):
    """Partitions → record batches (``records``), dead-letter tables (``dead``), accounting (``stats``)."""

    def __init__(self, spec: DatabaseSpec, batch_rows: int = BATCH_ROWS) -> None:
        super().__init__()
        self._spec = spec
        self._batch_rows = batch_rows

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        return (
            pbegin
            | "Partitions" >> beam.Create(self._spec.partitions)
            | "Spread" >> beam.Reshuffle()
            | "ReadPartitions"
            >> beam.ParDo(ReadPartitionFn(self._spec, self._batch_rows)).with_outputs(
                ReadPartitionFn.DEAD, ReadPartitionFn.STATS, main="records"
            )
        )
