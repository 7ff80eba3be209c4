"""Reading customers from a BigQuery table (or query) into Arrow record batches, for Dataflow users.

Launch makes no network call: Dataflow users launch from a laptop or CI, and a launcher that
waits for Google credentials or a slow API is what the rest of dumpmatch avoids (see gcs.py).
So nothing is checked against BigQuery at launch, and the schema is unknown: the columns come
from ``--customer-columns`` and must include ``customer_id``. BigQuery itself then reads
(``ReadFromBigQuery``, ``DIRECT_READ``): one Storage Read API session, so every stream reads the
table as it was when the session was created, and only the selected columns are read and billed.

What a "line" is here: a table has no line numbers, and the order of rows across read streams
is not defined (BigQuery picks the streams and may rebalance them), so a row's position
changes from run to run. ``_line`` is instead a number derived from the row's customer id: the
first 7 bytes of SHA-256 of the id's text, big-endian (``line_of``). It is the same on every run
however the rows are split, reveals nothing the bundle does not already hold (the index stores
customer ids), and can be looked up in BigQuery (``docs/ARCHITECTURE.md`` gives the SQL). So
rows without a customer id cannot be named and become dead letters.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from transforms.errors import InputError
from transforms.fields import CUSTOMER_ID
from transforms.read import DEAD_LETTER_SCHEMA, LINE, SOURCE
from transforms.report import checked_counts

FORMAT = "bigquery"
SCHEME = "bigquery://"
# Rows arrive from Beam as Python dicts (~1 KB each with ten columns): 8,192 of them are ~10 MB,
# a batch big enough for the vectorized steps after it and small enough to keep memory flat.
BATCH_ROWS = 8192
LINE_BYTES = 7  # 56 bits: a positive int64, and TO_HEX(LEFT(SHA256(id), 7)) in BigQuery
# Bloom sizing needs a row count before the run, and counting would mean calling BigQuery.
DEFAULT_EXPECTED_ROWS = 10_000_000
_OWN_PARAMS = ("query", "expected_rows")
# Names as BigQuery accepts them; checked so a typo stops the launch instead of the Dataflow job.
_PROJECT = re.compile(r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{0,62}")
_DATASET = re.compile(r"\w{1,1024}")
_TABLE = re.compile(r"[^\s.`/?&]{1,1024}")
NO_ID = "no customer id: a BigQuery row is named by its id (it has no line number)"
HELP = (
    "give the columns with --customer-columns customer_id=<column>,email=<column>,...: dumpmatch does not "
    "call BigQuery at launch, so it cannot read the table's schema"
)


@dataclass(frozen=True)
class BigQuerySpec:
    """A BigQuery source as understood at launch, from the URI and the column mapping alone."""

    label: str  # bigquery://project.dataset.table or bigquery://project/query: _source and dead-letter key
    project: str  # the table's project; for a query, the fallback when the job has no --project
    dataset: str | None
    table: str | None
    query: str | None  # GoogleSQL (standard SQL)
    mapping: tuple[tuple[str, str], ...]  # (field, column), sorted by field; customer_id among them
    expected_rows: int  # Bloom filter capacity

    def field_columns(self) -> dict[str, str]:
        return dict(self.mapping)

    @property
    def selected_fields(self) -> list[str]:
        """The columns to read: only these are read and billed by the Storage Read API."""
        return sorted(set(self.field_columns().values()))


def is_bigquery_uri(text: str) -> bool:
    return text.lower().startswith(SCHEME)


def inspect_bigquery(uri: str, overrides: dict[str, str]) -> BigQuerySpec:
    """Parses ``bigquery://PROJECT.DATASET.TABLE`` or ``bigquery://PROJECT?query=SELECT ...``.

    Optional ``&expected_rows=N`` sizes the Bloom filters. No network call; bad input raises
    InputError with one line.
    """
    if not is_bigquery_uri(uri):
        raise InputError(f"--customers: {uri!r} is not a bigquery:// URI")
    where, _, params_text = uri[len(SCHEME) :].partition("?")
    params = {}  # like database.py: percent-decoded, and "+" stays "+" (it is SQL, not a form)
    for item in filter(None, params_text.split("&")):
        name, _, value = item.partition("=")
        params[unquote(name)] = unquote(value)
    unknown = sorted(set(params) - set(_OWN_PARAMS))
    if unknown:
        raise InputError(f"{SCHEME}{where}: unknown parameter(s) {unknown}: only ?query= and &expected_rows=")
    expected = _expected_rows(params.get("expected_rows"), where)
    query = params.get("query")
    if query is not None:
        query = query.strip().rstrip(";").strip()
        if not query or not _PROJECT.fullmatch(where):
            raise InputError(
                f"{SCHEME}{where}?query=...: give bigquery://PROJECT?query=SELECT ... (the project that runs the "
                "query when the job has no --project) and a non-empty query"
            )
        project, dataset, table, label = where, None, None, f"{SCHEME}{where}/query"
    else:
        parts = where.rsplit(".", 2)
        if len(parts) != 3 or not (
            _PROJECT.fullmatch(parts[0]) and _DATASET.fullmatch(parts[1]) and _TABLE.fullmatch(parts[2])
        ):
            raise InputError(
                f"{SCHEME}{where}: expected bigquery://PROJECT.DATASET.TABLE (or bigquery://PROJECT?query=SELECT ...)"
            )
        project, dataset, table = parts
        label = f"{SCHEME}{project}.{dataset}.{table}"
    return BigQuerySpec(label, project, dataset, table, query, _mapping(label, overrides), expected)


def _expected_rows(text: str | None, where: str) -> int:
    if text is None:
        return DEFAULT_EXPECTED_ROWS
    try:
        rows = int(text.replace("_", ""))
    except ValueError:
        rows = 0
    if rows < 1:
        raise InputError(f"{SCHEME}{where}: &expected_rows={text} must be a positive whole number")
    return rows


def _mapping(label: str, overrides: dict[str, str]) -> tuple[tuple[str, str], ...]:
    if not overrides:
        raise InputError(f"{label}: {HELP}")
    if CUSTOMER_ID not in overrides:
        raise InputError(
            f"{label}: map the customer id too (--customer-columns customer_id=<column>,...): a BigQuery row has "
            "no line number, so its id is what names it in the bundle"
        )
    if set(overrides) == {CUSTOMER_ID}:
        raise InputError(f"{label}: only customer_id is mapped: {HELP}")
    return tuple(sorted(overrides.items()))


def line_of(customer_id: str) -> int:
    """A row's ``_line``: the first 7 bytes of SHA-256 of its customer id, as a number."""
    return int.from_bytes(hashlib.sha256(customer_id.encode("utf-8")).digest()[:LINE_BYTES], "big")


def text_of(value: Any) -> str | None:
    """A BigQuery value (as Beam's Avro reader returns it) as text; ValueError when it has none.

    The text is what the file and PostgreSQL readers give for the same value: ISO dates,
    plain decimals, ``true``/``false``.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.date | datetime.time):  # datetime.datetime is a date
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"BYTES value that is not UTF-8 text (byte {err.start})") from None
    if isinstance(value, dict | list | tuple):
        raise ValueError("a RECORD or REPEATED value: map a scalar column, or flatten it with ?query=")
    return str(value)


def _resolve(columns: list[str], row: dict[str, Any], label: str) -> dict[str, str]:
    """Each wanted column's key in the rows; BigQuery names are case-insensitive, dict keys are not.

    A missing column would otherwise read as all NULL, silently: it stops the run instead.
    """
    keys = {key.lower(): key for key in row}
    resolved = {}
    for column in columns:
        key = column if column in row else keys.get(column.lower())
        if key is None:
            raise RuntimeError(
                f"{label}: BigQuery returned no column {column!r} (columns: {sorted(row)[:20]}): "
                "check --customer-columns"
            )
        resolved[column] = key
    return resolved


class RowsToRecordsFn(beam.DoFn):
    """A list of row dicts → one record batch shaped like the other readers', dead letters, accounting."""

    DEAD = "dead"
    STATS = "stats"

    def __init__(self, spec: BigQuerySpec) -> None:
        self._spec = spec
        self._read = Metrics.counter("dumpmatch", "rows_read")
        self._parsed = Metrics.counter("dumpmatch", "rows_parsed")
        self._dead = Metrics.counter("dumpmatch", "rows_dead_lettered")

    def process(self, rows: list[dict[str, Any]]) -> Iterator[Any]:
        if not rows:
            return
        spec = self._spec
        keys = _resolve(spec.selected_fields, rows[0], spec.label)
        reasons: dict[int, str] = {}  # row index → why it is dead
        columns: dict[str, pa.Array] = {}
        for field, column in spec.mapping:
            values = [row.get(keys[column]) for row in rows]
            try:
                columns[field] = pa.array(values, pa.string())  # the common case: STRING columns, in C
                continue
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                pass
            texts: list[str | None] = []
            for i, value in enumerate(values):
                try:
                    texts.append(text_of(value))
                except ValueError as err:
                    texts.append(None)
                    reasons.setdefault(i, f"column {column}: {err}")
            columns[field] = pa.array(texts, pa.string())
        ids = columns[CUSTOMER_ID].to_pylist()
        lines: list[int | None] = [line_of(i) if i else None for i in ids]
        for i, line in enumerate(lines):
            if line is None:
                reasons[i] = NO_ID  # takes precedence: without an id the row has no name at all
        good = np.ones(len(rows), bool)
        good[list(reasons)] = False
        table = pa.table(columns).filter(pa.array(good))
        kept = [line for line, ok in zip(lines, good, strict=True) if ok]
        table = table.append_column(LINE, pa.array(kept, pa.int64()))
        source = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, np.int32)), pa.array([spec.label]))
        dead = [(lines[i], reason, _raw(rows[i], keys)) for i, reason in sorted(reasons.items())]
        self._read.inc(len(rows))
        self._parsed.inc(table.num_rows)
        self._dead.inc(len(dead))
        counts = {"rows_read": len(rows), "rows_parsed": table.num_rows, "rows_dead_lettered": len(dead), "headers": 0}
        yield beam.pvalue.TaggedOutput(self.STATS, {"inputs": {spec.label: counts}})
        if dead:
            yield beam.pvalue.TaggedOutput(self.DEAD, _dead_table(spec.label, dead))
        if table.num_rows:
            yield from table.append_column(SOURCE, source).combine_chunks().to_batches()


def _dead_table(label: str, dead: list[tuple[int | None, str, str]]) -> pa.Table:
    """``read.dead_table``, but a line may be null: a row without an id has no line at all."""
    lines, reasons, raws = zip(*dead, strict=True)
    columns = {"source_file": [label] * len(dead), "line": lines, "reason": reasons, "raw": raws}
    return pa.table({name: list(values) for name, values in columns.items()}, schema=DEAD_LETTER_SCHEMA)


def _raw(row: dict[str, Any], keys: dict[str, str]) -> str:
    """The selected values of a dead row as JSON, like the raw text other readers keep (sketch drops it)."""
    return json.dumps({column: row.get(key) for column, key in keys.items()}, default=str, ensure_ascii=False)


class ReadBigQuery(beam.PTransform):
    """BigQuery rows → record batches (``records``), dead-letter tables (``dead``), accounting (``stats``).

    ``ReadFromBigQuery`` with ``DIRECT_READ``: no export to Cloud Storage, no query job for a
    table, only the selected columns read; rows come back as dicts and are batched into Arrow.
    """

    def __init__(self, spec: BigQuerySpec, batch_rows: int = BATCH_ROWS) -> None:
        super().__init__()
        self._spec = spec
        self._batch_rows = batch_rows

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        spec = self._spec
        where: dict[str, Any] = (
            {"query": spec.query, "use_standard_sql": True, "project": spec.project}
            if spec.query is not None
            else {"table": spec.table, "dataset": spec.dataset, "project": spec.project}
        )
        return (
            pbegin
            | "ReadFromBigQuery"
            >> beam.io.ReadFromBigQuery(
                method=beam.io.ReadFromBigQuery.Method.DIRECT_READ,
                selected_fields=spec.selected_fields,
                **where,
            )
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_rows, max_batch_size=self._batch_rows)
            | "ToRecords"
            >> beam.ParDo(RowsToRecordsFn(spec)).with_outputs(
                RowsToRecordsFn.DEAD, RowsToRecordsFn.STATS, main="records"
            )
        )


def manifest_entry(spec: BigQuerySpec, stats: dict[str, Any]) -> dict[str, Any]:
    """The bundle manifest's input entry: what was read and the checked counts (known only after the read)."""
    rows = checked_counts(stats.get("inputs", {}).get(spec.label, {}), spec.label)
    return {
        "path": spec.label,
        "format": FORMAT,
        "size": None,
        "project": spec.project,
        "dataset": spec.dataset,
        "table": spec.table,
        "query": spec.query,
        "columns": spec.field_columns(),
        "read": "BigQuery Storage Read API (ReadFromBigQuery DIRECT_READ), one read session",
        "line": f"first {LINE_BYTES} bytes of SHA-256 of the customer id",
        "expected_rows": spec.expected_rows,
        "rows": rows["rows_read"],
        **rows,
        "complete": True,
        "incomplete_reason": None,
    }
