"""Benchmark: ``dumpmatch sketch`` straight from PostgreSQL, at several sizes: does memory stay flat?

A real PostgreSQL server (started by ``tests/postgres.py``'s helpers in a temporary folder) gets one
table per size, loaded with ``transforms.synthetic`` customers by ``COPY FROM`` in chunks. For each
size three children run, each measured like ``bench/run.py`` does (wall time around the child, peak
RSS = its ``ru_maxrss`` from ``os.wait4``; the server's own processes are not the child's):

- ``read``: ``ReadDatabase`` alone (launch inspection, snapshot, partitions, COPY → Arrow), the batches
  only counted: whether the database read streams;
- ``sketch-only``: the command without the index, ``dumpmatch sketch --sketch-only --customers postgresql://...``;
- ``sketch``: the whole command, ``dumpmatch sketch --customers postgresql://...``;
- ``bloom``: no database, the Bloom filter combine alone on random digests for nine fields, sized for
  the table (a Bloom filter at a fixed false-positive rate needs ~14 bits per value): how much of the
  difference between the first two steps is the filters themselves.

The sizes' ratio of peak RSS per step says which part of the pipeline grows with the table.
``--step`` re-enters this file as one of those children.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import secrets
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.run import BENCHMARKS, DUMPMATCH, KIB_PER_MIB, REPO, Step, machine, measure, record

DEFAULT_SIZES = (1_000_000, 5_000_000)
DEFAULT_PARTITIONS = 16  # the CLI's default
LOAD_CHUNK_ROWS = 500_000  # generated and copied at a time: ~70 MB of Arrow, keeps the loader flat
FLAT_MARGIN = 1.25  # "flat": peak RSS at the largest size ≤ this × the smallest size's
VERSIONED = ("apache-beam", "pyarrow", "psycopg")
USER, DB = "bench", "shop"
STEPS = ("read", "sketch-only", "sketch", "bloom")
DATABASE_STEPS = STEPS[:3]
FIELDS = 9  # the synthetic customers' fields: email, phone, name, first/last name, street, city, postcode, country
BATCH_ROWS = 65536
COLUMNS = ("customer_id", "email", "phone", "first_name", "last_name", "street", "city", "postcode", "country")
DDL = (
    "CREATE TABLE {} (id bigint, customer_id text, email text, phone text, first_name text, last_name text, "
    "street text, city text, postcode text, country text)"
)
METHOD = """PostgreSQL source. `python -m bench.postgres` (`make bench-postgres`) starts a real PostgreSQL server
(`tests/postgres.py`: a temporary cluster on localhost, fsync off), loads one table per size with
`transforms.synthetic.customers` rows (`COPY FROM`, {chunk:,}-row chunks, then primary key and ANALYZE), and
connects over TCP with a password like a remote client. Each step is a child process: wall time around it,
peak RSS its `ru_maxrss` from `os.wait4` (the server's processes are not counted), CPU s user + system,
load the 1-minute load average when it started (2 cores: above 2 it shared them). All steps run on the
in-process DirectRunner (one worker) with {partitions} partitions. `read` = `ReadDatabase` with the batches
counted and the accounting checked; `sketch` = `dumpmatch sketch --customers postgresql://...`; `sketch-only` = the
same with `--sketch-only` (HLL, MinHash and Bloom, no index); `bloom` = no database,
`BloomCombineFn` alone (capacity = the size, FPR 0.001) over as many random 64-bit digests for {fields} fields
as the table holds. Flat means peak RSS at the largest size ≤ {margin} × at the smallest."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_SIZES), help="table sizes (default 1M 5M)")
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS), help="steps per size (default all)")
    p.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS, help="--partitions (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("bench-out/postgres"), help="outputs and logs")
    p.add_argument("--no-record", action="store_true", help=f"do not append to {BENCHMARKS.name}")
    p.add_argument("--step", choices=["load", "read", "bloom"], help=argparse.SUPPRESS)  # internal: child mode
    p.add_argument("--uri", help=argparse.SUPPRESS)  # internal: the source (read steps) or the table (load)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)  # internal: rows a child loads or must read
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)  # internal: where a child writes its counts
    return p.parse_args(argv)


def load(args: argparse.Namespace) -> None:
    """Child step: ``--size`` generated customers into a new table, chunk by chunk, then key and statistics."""
    import numpy as np
    import psycopg
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from psycopg import sql

    from transforms import synthetic

    table = sql.Identifier(f"customers_{args.size}")
    columns = sql.SQL(", ").join(map(sql.Identifier, ("id", *COLUMNS)))
    with psycopg.connect(args.uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL(DDL).format(table))
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(table, columns)
        with conn.cursor().copy(copy_sql) as copy:
            for chunk, first in enumerate(range(0, args.size, LOAD_CHUNK_ROWS)):
                n = min(LOAD_CHUNK_ROWS, args.size - first)
                rows = synthetic.customers(n, seed=chunk, first_id=first).select(list(COLUMNS))
                ids = pa.array(np.arange(first + 1, first + n + 1), pa.int64())
                sink = io.BytesIO()
                pacsv.write_csv(rows.add_column(0, "id", ids), sink, pacsv.WriteOptions(include_header=False))
                copy.write(sink.getvalue())
        conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(table))
        conn.execute(sql.SQL("ANALYZE {}").format(table))
        (count,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone() or (0,)
    if count != args.size:
        sys.exit(f"bench: loaded {count:,} rows, wanted {args.size:,}")


def _write_counts(rows: int, stats: dict[str, Any], path: str) -> None:
    """Last step of the read pipeline: the counts, where the parent finds them."""
    Path(path).write_text(json.dumps({"rows": rows, "stats": stats}))


def read_steps(args: argparse.Namespace) -> None:
    """Child step: ``ReadDatabase`` alone, batches counted; stops unless every row was read once."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.common import make_pipeline, quiet_logging
    from transforms import database
    from transforms.combiners import SumStatsFn

    quiet_logging()
    spec = database.inspect_database(args.uri, {}, None, args.partitions)
    with database.hold_snapshot(spec), make_pipeline(PipelineOptions([])) as p:
        read = p | "Read" >> database.ReadDatabase(spec)
        rows = read.records | "Rows" >> beam.Map(lambda batch: batch.num_rows) | "SumRows" >> beam.CombineGlobally(sum)
        stats = read.stats | "SumStats" >> beam.CombineGlobally(SumStatsFn())
        rows | "Counts" >> beam.Map(_write_counts, stats=beam.pvalue.AsSingleton(stats), path=str(args.result))
    counts = json.loads(args.result.read_text())
    totals = counts["stats"]["inputs"][spec.label]
    if not counts["rows"] == totals["rows_read"] == totals["rows_parsed"] == args.size:
        sys.exit(f"bench: read {counts['rows']:,} rows ({totals}), the table has {args.size:,}")


def bloom(args: argparse.Namespace) -> None:
    """Child step: the Bloom combine alone, sized for ``--size`` rows, fed that many random digests per field."""
    import apache_beam as beam
    import numpy as np
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.common import make_pipeline, quiet_logging
    from transforms.combiners import BloomCombineFn

    quiet_logging()

    def digests(batch: int) -> Iterator[tuple[str, Any]]:
        rng = np.random.default_rng(batch)
        n = min(BATCH_ROWS, args.size - batch * BATCH_ROWS)
        for field in range(FIELDS):
            yield f"field{field}", rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)

    with make_pipeline(PipelineOptions([])) as p:
        _ = (
            p
            | beam.Create(range(-(-args.size // BATCH_ROWS)))
            | beam.FlatMap(digests)
            | beam.CombinePerKey(BloomCombineFn(args.size, 0.001))
            | beam.Map(lambda kv: (kv[0], kv[1].m))
        )


def _commit() -> str:
    """The code measured: HEAD, and whether the package's files differ from it (then figures are of a work tree)."""
    git = ["git", "-C", str(REPO)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        code = ["--", "transforms", "pipelines", "setup.py"]
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", *code], capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def table(steps: list[Step]) -> str:
    lines = [
        "| step | rows | wall s | rows/s | peak RSS MiB | CPU s | load |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in steps:
        rate = f"{s.rows / s.seconds:,.0f}" if s.rows else "—"
        lines.append(
            f"| {s.name} | {s.rows:,} | {s.seconds:.1f} | {rate} | {s.max_rss_kib / KIB_PER_MIB:,.0f} "
            f"| {s.cpu_seconds:.1f} | {s.load:.1f} |"
        )
    return "\n".join(lines)


def verdicts(steps: list[Step], sizes: list[int]) -> str:
    """Per step: peak RSS at the largest size over the smallest, flat or not; then where the growth is."""
    small, large = min(sizes), max(sizes)
    rss = {(s.name, s.rows): s.max_rss_kib / KIB_PER_MIB for s in steps}
    lines = []
    for name in STEPS:
        if (name, small) in rss and (name, large) in rss and small != large:
            ratio = rss[name, large] / rss[name, small]
            verdict = "flat" if ratio <= FLAT_MARGIN else "grows with the table"
            lines.append(
                f"- `{name}`: {rss[name, large]:,.0f} MiB at {large:,} rows vs {rss[name, small]:,.0f} MiB at "
                f"{small:,}: × {ratio:.2f} ({verdict}; rows × {large / small:.0f})"
            )

    def growth(name: str) -> float:
        return rss[name, large] - rss[name, small]

    if all((n, z) in rss for n in ("read", "sketch-only", "bloom") for z in (small, large)) and small != large:
        lines.append(
            f"- Growth from {small:,} to {large:,} rows: read {growth('read'):+,.0f} MiB; sketch-only "
            f"{growth('sketch-only'):+,.0f} MiB, of which the Bloom combine alone {growth('bloom'):+,.0f} MiB."
        )
    if all((n, z) in rss for n in ("sketch", "sketch-only") for z in (small, large)) and small != large:
        index = {z: rss["sketch", z] - rss["sketch-only", z] for z in (small, large)}
        lines.append(
            f"- The index branch (sketch − sketch-only): {index[small]:,.0f} MiB at {small:,} rows, "
            f"{index[large]:,.0f} MiB at {large:,} (× {index[large] / index[small]:.2f})."
        )
    return "\n".join(lines)


def database_steps(args: argparse.Namespace, self_cmd: list[str], key: Path, logs: Path) -> tuple[list[Step], str]:
    """Starts the server, then per size: load the table, run the database steps, drop it."""
    from tests import postgres

    if postgres.find_bin_dir() is None:
        sys.exit(f"bench: no PostgreSQL server binaries (initdb, pg_ctl): {postgres.INSTALL_HINT}")
    password = secrets.token_urlsafe(18)
    os.environ["PGPASSWORD"] = password  # children connect over TCP with it, like a remote client
    server = postgres.start_server()
    steps: list[Step] = []
    try:
        with server.admin() as admin:
            admin.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{password}'")
            admin.execute(f"CREATE DATABASE {DB} OWNER {USER}")
            version = str(admin.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        for size in args.rows:
            loader = [*self_cmd, "--step", "load", "--uri", server.uri(USER, DB), "--size", str(size)]
            steps.append(measure(f"load-{size}", loader, 0, logs))
            uri = server.uri(USER, DB, table=f"customers_{size}")
            for name in (n for n in args.steps if n in DATABASE_STEPS):
                if name == "read":
                    result = args.out / f"read-{size}.json"
                    command = [*self_cmd, "--step", name, "--uri", uri, "--size", str(size), "--result", str(result)]
                    steps.append(measure(name, command, size, logs))
                    continue
                bundle = args.out / f"{name}-{size}"
                command = [str(DUMPMATCH), "sketch", "--customers", uri, "--out", str(bundle), "--key-file", str(key)]
                command += ["--partitions", str(args.partitions), *(["--sketch-only"] if name == "sketch-only" else [])]
                steps.append(measure(name, command, size, logs))
                customers = json.loads((bundle / "manifest.json").read_text())["customers"]
                if customers["parsed"] != size:
                    sys.exit(f"bench: the bundle holds {customers} customers, the table {size:,}")
            with server.admin(DB) as admin:  # the next size needs the disk more than this table
                admin.execute(f"DROP TABLE customers_{size}")
    finally:
        server.stop()
    return steps, version


def main() -> None:
    args = parse_args()
    args.out = args.out.resolve()
    if args.step:
        {"load": load, "read": read_steps, "bloom": bloom}[args.step](args)
        return
    commit = _commit()  # before the steps: the code they run
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    key = args.out / "bench.key"
    key.write_text(secrets.token_hex(32) + "\n")
    key.chmod(0o600)
    self_cmd = [sys.executable, "-m", "bench.postgres", "--out", str(args.out)]
    self_cmd += ["--partitions", str(args.partitions)]
    steps: list[Step] = []
    version = "not started"
    if any(name in DATABASE_STEPS for name in args.steps):
        steps, version = database_steps(args, self_cmd, key, logs)
    if "bloom" in args.steps:
        steps += [
            measure("bloom", [*self_cmd, "--step", "bloom", "--size", str(size)], size, logs) for size in args.rows
        ]
    measured = [s for s in steps if not s.name.startswith("load")]
    loads = ", ".join(f"{s.name} {s.seconds:.0f} s" for s in steps if s.name.startswith("load")) or "none"
    figures = f"{table(measured)}\n\nLoading (not measured for memory): {loads}.\n\n{verdicts(measured, args.rows)}\n"
    print(f"\n{figures}")
    if args.no_record:
        return
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts = ", ".join(f"{k} {v}" for k, v in {**machine(VERSIONED), "PostgreSQL": version, "commit": commit}.items())
    sizes = " and ".join(f"{n:,}" for n in args.rows)
    method = METHOD.format(chunk=LOAD_CHUNK_ROWS, partitions=args.partitions, margin=FLAT_MARGIN, fields=FIELDS)
    title = f"## {now}: sketch from PostgreSQL, {sizes} customers"
    record(f"{title}\n\n`{shlex.join(sys.orig_argv)}`\n\n{facts}\n\n{method}\n\n{figures}")
    print(f"recorded in {BENCHMARKS}")


if __name__ == "__main__":
    main()
