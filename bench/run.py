"""Benchmark: time ``dumpmatch sketch`` and ``dumpmatch match`` against a DuckDB SQL baseline,
and reading throughput (``ReadRecords`` on a ~1 GB CSV, plain and gzipped) against pyarrow's CSV reader.

Every step (data generation, sketch, match, baseline, each reader) runs as a child process of
this script, so wall time and peak RSS (``ru_maxrss`` from ``os.wait4``) are
measured the same way for ours and for the baseline. The parent imports nothing
heavy; ``--step`` re-enters this file as one of those children.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "BENCHMARKS.md"
DUMPMATCH = Path(sys.executable).with_name("dumpmatch")
DEFAULT_ROWS = 1_000_000
DEFAULT_GENUINE_FRACTION = 0.5
# Passed to dumpmatch and applied by the baseline: a value shared by more customers links no one.
POSTING_CAP = 50
FIELDS = ("email", "phone", "name", "street")
VERSIONED = ("apache-beam", "pyarrow", "duckdb")
KIB_PER_MIB = 1024
MB = 10**6  # throughput and file sizes are decimal, like the --read-gb option
GB = 10**9
READ_CHUNK_ROWS = 1_000_000  # rows generated per chunk of the reading benchmark's CSV: ~130 MB of Arrow memory
READ_GUESS_ROW_BYTES = 150.0  # over the ~118 bytes a synthetic customer takes in CSV, so chunk 1 never overshoots
READ_GOAL = 1.5  # issue 4: ReadRecords on a plain CSV within 1.5 x pyarrow.csv.read_csv
PROFILE_TOP = 15
HEADER = """# Benchmarks

Produced by `bench/run.py` (`make bench`). One run generates a synthetic customer base and dump with
`transforms.synthetic`, then runs `dumpmatch sketch`, `dumpmatch match` and a DuckDB SQL baseline, each as a
child process: wall time is measured around the child, peak RSS is the child's `ru_maxrss` from `os.wait4`
(with `--workers` > 1 it is the largest single process, not the sum). Generation is timed but is in no ratio.
Rows/s is customer rows for sketch and dump rows for the other steps.

The baseline reads both CSVs (all VARCHAR), applies the closest SQL equivalent of our normalization to
email, phone, name and street, counts dump rows whose value occurs in the base (our `matched`), and writes
(dump row, customer_id, field) pairs to Parquet, skipping values shared by more than the posting cap of
customers as `dumpmatch match` does. dumpmatch does more per row (seven fields, E.164 phone parsing,
keyed hashing, sketches, evidence rules), so the ratio is the price of that over a plain SQL join.

Two more steps bound `match` from below. `floor` plans, parses, normalizes and keyed-hashes the dump with
`match`'s own functions in `--workers` forked processes, without Beam, lookups, sketches or output: no `match`
can be faster on the machine. `duckdb-normalize` is the baseline's read and normalization of the dump, no join.
CPU µs/row is user + system time of the step's processes per rated row.
"""


@dataclass(frozen=True)
class Step:
    """One measured child process."""

    name: str
    seconds: float
    rows: int  # input rows the step is rated on
    max_rss_kib: int
    cpu_seconds: float = 0.0  # user + system of the child and the children it waited for
    load: float = 0.0  # 1-minute load average when the step started: other work on the machine shows here


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="dump rows (default %(default)s)")
    p.add_argument("--customers", type=int, default=DEFAULT_ROWS, help="customer rows (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="data and outputs (default %(default)s)")
    p.add_argument("--genuine-fraction", type=float, default=DEFAULT_GENUINE_FRACTION, help="share of dump rows copied")
    p.add_argument("--workers", type=int, default=1, help="worker processes for sketch and match (default 1)")
    p.add_argument("--no-record", action="store_true", help=f"do not append to {BENCHMARKS.name}")
    p.add_argument("--no-match-bench", action="store_true", help="skip sketch, match and the DuckDB baseline")
    p.add_argument("--no-fuzzy", action="store_true", help="skip sketch --fuzzy and match --fuzzy")
    p.add_argument("--no-read-bench", action="store_true", help="skip the reading-throughput benchmark")
    p.add_argument("--read-gb", type=float, default=1.0, help="size of the reading benchmark's CSV, GB (default 1.0)")
    p.add_argument("--read-repeat", type=int, default=1, help="rounds of the reading steps, best counts (default 1)")
    p.add_argument("--read-profile", action="store_true", help="also run ReadRecords on the plain CSV under cProfile")
    p.add_argument("--match-profile", action="store_true", help="also run match (one worker) under cProfile")
    p.add_argument("--keep", action="store_true", help="keep the reading benchmark's CSV and gzip")
    p.add_argument("--step", choices=list(CHILD_STEPS), help=argparse.SUPPRESS)  # internal: child mode
    p.add_argument("--read-input", type=Path, help=argparse.SUPPRESS)  # internal: the file a read step reads
    p.add_argument("--read-result", type=Path, help=argparse.SUPPRESS)  # internal: where it writes its counts
    p.add_argument("--read-workers", type=int, default=1, help=argparse.SUPPRESS)  # internal: read-beam workers
    p.add_argument("--read-threads", action="store_true", help=argparse.SUPPRESS)  # internal: read-arrow threads
    p.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)  # internal: cProfile the step into this
    return p.parse_args(argv)


def generate(args: argparse.Namespace) -> None:
    """Child step: synthetic base, dump and key. Imports here keep them out of the other processes."""
    import secrets

    import pyarrow.csv as pacsv

    from transforms import synthetic

    base = synthetic.customers(args.customers)
    dump = synthetic.dump(base, args.rows, args.genuine_fraction)
    pacsv.write_csv(base, args.out / "customers.csv")
    pacsv.write_csv(dump.table, args.out / "dump.csv")
    (args.out / "bench.key").write_text(secrets.token_hex(32) + "\n")
    (args.out / "bench.key").chmod(0o600)
    genuine = len(dump.source_customer) - dump.source_customer.null_count
    (args.out / "generated.json").write_text(json.dumps({"genuine_rows": genuine}))


# SQL counterparts of transforms.normalize (no NFKC, titles or E.164 parsing: plain string rules).
BASELINE_MACROS = r"""
CREATE MACRO canon_email(v) AS CASE
    WHEN NOT regexp_full_match(v, '[^@\s]+@[^@\s]+\.[^@\s]+') THEN NULL
    WHEN split_part(v, '@', 2) IN ('gmail.com', 'googlemail.com')
        THEN replace(regexp_replace(split_part(v, '@', 1), '\+.*$', ''), '.', '') || '@gmail.com'
    ELSE v END;
CREATE MACRO norm_email(x) AS canon_email(lower(trim(x)));
CREATE MACRO norm_phone(x) AS nullif(regexp_replace(regexp_replace(trim(x), '^(\+|00)', ''), '[^0-9]', '', 'g'), '');
CREATE MACRO norm_words(x) AS
    nullif(trim(regexp_replace(regexp_replace(lower(x), '[^\pL\pN\s]+', ' ', 'g'), '\s+', ' ', 'g')), '');
CREATE MACRO norm_name(x) AS array_to_string(list_sort(string_split(norm_words(x), ' ')), ' ');
"""
# The dump is read into a table first: row_number() straight over read_csv serialized the read and the
# normalization on one core (5M rows: 10.3 s for this step alone against 6.6 s staged, the same counts).
BASELINE_DUMP = """
CREATE TABLE dump_raw AS FROM read_csv({dump}, all_varchar = true);
CREATE TABLE dump AS
    SELECT row_number() OVER () AS row, norm_email("E-Mail") AS email, norm_phone("Mobile") AS phone,
           norm_name("Full Name") AS name, norm_words("Address") AS street
    FROM dump_raw;
DROP TABLE dump_raw;
"""
BASELINE_SQL = (
    BASELINE_MACROS
    + """
CREATE TABLE cust AS
    SELECT customer_id, norm_email(email) AS email, norm_phone(phone) AS phone,
           norm_name(concat_ws(' ', first_name, last_name)) AS name, norm_words(street) AS street
    FROM read_csv({customers}, all_varchar = true);
"""
    + BASELINE_DUMP
    + """
CREATE TABLE links AS
    SELECT DISTINCT customer_id, field, value FROM (UNPIVOT cust ON {fields} INTO NAME field VALUE value);
CREATE TABLE probes AS UNPIVOT dump ON {fields} INTO NAME field VALUE value;
"""
)
BASELINE_MATCHED = "SELECT field, count(*) FROM probes SEMI JOIN links USING (field, value) GROUP BY field"
BASELINE_COPY = """
COPY (
    SELECT p.row, l.customer_id, p.field
    FROM probes p JOIN (SELECT * FROM links QUALIFY count(*) OVER (PARTITION BY field, value) <= {cap}) l
    USING (field, value)
) TO {target} (FORMAT parquet)
"""


def _sql_string(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def duckdb_baseline(args: argparse.Namespace) -> None:
    """Child step: normalize, count matches per field and write matched pairs, all in DuckDB."""
    import duckdb

    folder = args.out / "duckdb"
    folder.mkdir(exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET temp_directory = {_sql_string(folder / 'tmp')}")
    con.execute(
        BASELINE_SQL.format(
            customers=_sql_string(args.out / "customers.csv"),
            dump=_sql_string(args.out / "dump.csv"),
            fields=", ".join(FIELDS),
        )
    )
    matched = dict(con.execute(BASELINE_MATCHED).fetchall())
    copied = con.execute(BASELINE_COPY.format(cap=POSTING_CAP, target=_sql_string(folder / "matches.parquet")))
    [(pairs,)] = copied.fetchall()  # COPY returns one row: the number of rows written
    (folder / "counts.json").write_text(json.dumps({"matched": matched, "pairs": pairs}))


def duckdb_normalize(args: argparse.Namespace) -> None:
    """Child step: DuckDB reads the dump and normalizes it (the baseline's first half), no join."""
    import duckdb

    con = duckdb.connect()
    con.execute(BASELINE_MACROS)
    con.execute(BASELINE_DUMP.format(dump=_sql_string(args.out / "dump.csv")))
    [(rows,)] = con.execute("SELECT count(*) FROM dump").fetchall()
    if rows != args.rows:
        sys.exit(f"duckdb normalize: {rows:,} rows, expected {args.rows:,}")


FLOOR_STAGES = ("parse", "normalize", "hash")


def _floor_task(task: Any) -> tuple[int, dict[str, float]]:
    """One planned range of the dump through parse, ``normalize_batch`` (in the bundle's default region,
    as ``match`` normalizes) and ``hash_batch``: rows, and CPU seconds per stage."""
    from transforms import prepare, read

    cpu = dict.fromkeys(FLOOR_STAGES, 0.0)
    rows, clock = 0, time.process_time()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.process_time()
        cpu[stage] += now - clock
        clock = now

    for parsed in read.parse_task(task, read.RANGE_BYTES, buffer=_FLOOR_BUFFER):
        for batch in parsed.table.to_batches(max_chunksize=read.BATCH_ROWS):
            lap("parse")
            normalized = prepare.normalize_batch(batch, _FLOOR_REGION)
            lap("normalize")
            prepare.hash_batch(normalized, _FLOOR_KEY)
            lap("hash")
            rows += batch.num_rows
    return rows, cpu


_FLOOR_BUFFER = bytearray()
_FLOOR_KEY: Any = None
_FLOOR_REGION: str | None = None


def floor_step(args: argparse.Namespace) -> None:
    """Child step: what every dump row costs before any lookup, without Beam: the dump planned into
    ranges as ``ReadRecords`` plans it, each range parsed, normalized and keyed-hashed by the same
    functions ``match`` runs, in ``--workers`` forked processes. No probing, sketches, evidence or output,
    so its rate bounds ``match``'s on this machine."""
    global _FLOOR_BUFFER, _FLOOR_KEY, _FLOOR_REGION
    import multiprocessing

    from transforms import bundle, delimited, hashing, read

    _FLOOR_BUFFER = delimited.range_buffer(read.RANGE_BYTES)
    _FLOOR_KEY = hashing.load_key(str(args.out / "bench.key"))
    _FLOOR_REGION = bundle.read_manifest(str(args.out / "bundle")).get("default_region")
    [spec] = read.inspect_inputs([str(args.out / "dump.csv")], {}, "--dump")
    tasks = list(read.PlanTasksFn(read.RANGE_BYTES).process(spec))
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        done = pool.map(_floor_task, tasks, chunksize=1)
    rows = sum(n for n, _ in done)
    if rows != args.rows:
        sys.exit(f"floor: {rows:,} rows, expected {args.rows:,}")
    cpu = {stage: sum(c[stage] for _, c in done) for stage in FLOOR_STAGES}
    (args.out / "floor.json").write_text(json.dumps({"rows": rows, "cpu_seconds": cpu}))


def read_generate(args: argparse.Namespace) -> None:
    """Child step: a CSV of synthetic customers of about ``--read-gb``, written chunk by chunk.

    Chunks of at most ``READ_CHUNK_ROWS`` keep memory flat; each is sized to the bytes still wanted from
    the bytes per row seen so far. Ids (and so emails) are unique across chunks.
    """
    import pyarrow.csv as pacsv

    from transforms import synthetic

    target = int(args.read_gb * GB)
    rows, chunk = 0, 0
    with args.read_input.open("wb") as handle:
        while handle.tell() < target:
            per_row = handle.tell() / rows if rows else READ_GUESS_ROW_BYTES
            n = max(1, min(READ_CHUNK_ROWS, int((target - handle.tell()) / per_row) + 1))
            table = synthetic.customers(n, seed=chunk, first_id=rows)
            pacsv.write_csv(table, handle, pacsv.WriteOptions(include_header=chunk == 0))
            rows, chunk = rows + n, chunk + 1
        size = handle.tell()
    args.read_result.write_text(json.dumps({"rows": rows, "bytes": size}))


def read_arrow(args: argparse.Namespace) -> None:
    """Child step, the baseline: pyarrow reads the whole plain CSV, every column a string."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    with args.read_input.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    table = pacsv.read_csv(
        args.read_input,
        read_options=pacsv.ReadOptions(use_threads=args.read_threads),
        convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in header}),
    )
    args.read_result.write_text(json.dumps({"rows_parsed": table.num_rows}))


def _write_read_counts(rows: int, stats: dict[str, Any], path: str) -> None:
    """Last step of the read pipeline: a file, since with multi_processing it runs in another process."""
    Path(path).write_text(json.dumps({"rows": rows, "stats": stats}))


def read_beam(args: argparse.Namespace) -> None:
    """Child step: ReadRecords as ``dumpmatch match`` runs it (inspection, planning, parsing, accounting),
    with the records only counted. Stops with a message if the accounting does not add up."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.common import make_pipeline, quiet_logging
    from transforms.combiners import SumStatsFn
    from transforms.read import ReadRecords, inspect_inputs

    quiet_logging()
    specs = inspect_inputs([str(args.read_input)], {}, "--dump")
    workers = ["--direct_num_workers", str(args.read_workers), "--direct_running_mode", "multi_processing"]
    with make_pipeline(PipelineOptions(workers if args.read_workers > 1 else [])) as p:
        read = p | ReadRecords(specs)
        rows = read.records | "Rows" >> beam.Map(lambda batch: batch.num_rows) | "SumRows" >> beam.CombineGlobally(sum)
        stats = read.stats | "SumStats" >> beam.CombineGlobally(SumStatsFn())
        counts_path = str(args.read_result)
        rows | "Counts" >> beam.Map(_write_read_counts, stats=beam.pvalue.AsSingleton(stats), path=counts_path)
    counts = json.loads(args.read_result.read_text())
    [(label, totals)] = counts["stats"]["inputs"].items()
    parts = totals["rows_parsed"] + totals["rows_dead_lettered"] + totals["headers"]
    if totals["rows_read"] != parts:
        sys.exit(f"{label}: rows_read {totals['rows_read']:,} != parsed + dead + headers {parts:,}")
    if counts["rows"] != totals["rows_parsed"]:
        sys.exit(f"{label}: {counts['rows']:,} records counted but rows_parsed is {totals['rows_parsed']:,}")
    if totals.get("incomplete"):
        sys.exit(f"{label}: read incomplete: {totals['incomplete']}")
    args.read_result.write_text(json.dumps(totals))


def read_zlib(args: argparse.Namespace) -> None:
    """Child step, the floor for a gzip stream: Python's zlib inflating it, counting lines and nothing else."""
    import zlib

    inflater = zlib.decompressobj(wbits=31)
    lines = produced = 0
    with args.read_input.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            out = inflater.decompress(block)
            lines += out.count(b"\n")
            produced += len(out)
    if not inflater.eof:
        sys.exit(f"{args.read_input}: gzip stream cut off after {produced:,} bytes")
    args.read_result.write_text(json.dumps({"lines": lines, "bytes": produced}))


def measure(name: str, command: list[str], rows: int, logs: Path) -> Step:
    """Runs a child to completion; its rusage (not ours) gives the peak RSS. A failure stops the benchmark."""
    out_log, err_log = logs / f"{name}.out", logs / f"{name}.err"
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with out_log.open("wb") as out, err_log.open("wb") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        stop(f"{name} failed", child.returncode, command, err_log)
    cpu = usage.ru_utime + usage.ru_stime
    print(f"{name}: {seconds:.1f} s (cpu {cpu:.1f} s, load {load:.1f} at start)", flush=True)
    return Step(name, seconds, rows, usage.ru_maxrss, cpu, load)


def stop(what: str, code: int, command: list[str], err_log: Path) -> NoReturn:
    """Stops the benchmark after a failed child: its standard error, then one line with its command."""
    sys.stderr.write(err_log.read_text(errors="replace"))
    sys.exit(f"bench: {what} with exit code {code}: {shlex.join(command)}")


def machine(packages: tuple[str, ...] = VERSIONED) -> dict[str, str]:
    """Facts a reader needs to compare figures across machines."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
    )
    facts = {"nproc": str(len(os.sched_getaffinity(0))), "memory": f"{mem_kib / KIB_PER_MIB**2:.1f} GiB", "cpu": cpu}
    facts["python"] = platform.python_version()
    facts.update({package: metadata.version(package) for package in packages})
    return facts


@dataclass(frozen=True)
class CodeState:
    """Which project code the children import: other sessions may edit the working tree mid-run."""

    label: str  # commit, plus the uncommitted files under transforms/ and pipelines/
    digest: str  # of every .py file there, to notice an edit during the run


def code_root() -> Path:
    """The folder holding the ``transforms`` package the children will import (found without importing it)."""
    spec = importlib.util.find_spec("transforms")
    return Path(spec.origin).parent.parent if spec and spec.origin else REPO


def code_state() -> CodeState:
    root = code_root()
    sources = sorted(path for folder in ("transforms", "pipelines") for path in (root / folder).rglob("*.py"))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()

    def git(*command: str) -> str:
        return subprocess.run(["git", "-C", str(root), *command], capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    if not commit:
        return CodeState(str(root), digest)
    # New untracked modules only matter once a tracked file imports them, and that file shows here.
    status = git("status", "--porcelain", "--untracked-files=no", "--", "transforms", "pipelines")
    dirty = [line[3:] for line in status.splitlines()]
    return CodeState(commit + (f" + uncommitted changes to {', '.join(dirty)}" if dirty else ""), digest)


def steps_table(steps: list[Step], baseline: Step) -> str:
    lines = ["| step | wall s | rows/s | CPU µs/row | peak RSS MiB | × DuckDB |", "|---|---:|---:|---:|---:|---:|"]
    for step in steps:
        ratio = "—" if step.name == "generate" else f"{step.seconds / baseline.seconds:.2f}"
        lines.append(
            f"| {step.name} | {step.seconds:.1f} | {step.rows / step.seconds:,.0f} "
            f"| {step.cpu_seconds / step.rows * 1e6:.1f} | {step.max_rss_kib / KIB_PER_MIB:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def counts_table(report: dict[str, Any], duck: dict[str, Any], genuine: int) -> str:
    lines = ["| field | dumpmatch matched | DuckDB matched |", "|---|---:|---:|"]
    for field in FIELDS:
        ours = report["fields"].get(field, {}).get("matched", 0)
        lines.append(f"| {field} | {ours:,} | {duck['matched'].get(field, 0):,} |")
    records = report["records"]
    lines += [
        "",
        f"Genuine dump rows: {genuine:,}. dumpmatch candidates: {records['candidates']:,} "
        f"({records['cooccurring']:,} with 2+ evidence groups). DuckDB pairs written: {duck['pairs']:,}.",
    ]
    if report.get("fuzzy", {}).get("enabled"):
        fuzzy = report["fuzzy"]
        lines.append(
            f"Fuzzy links (counted apart): {fuzzy['linked']:,} rows, {fuzzy['pairs_scored']:,} candidate pairs scored."
        )
    return "\n".join(lines)


def record(text: str) -> None:
    """Appends a run section, creating the file with its method header the first time."""
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text(HEADER)
    with BENCHMARKS.open("a") as handle:
        handle.write("\n" + text)


def begin(out: Path) -> tuple[Path, CodeState]:
    """A benchmark's logs folder under ``out``, made, and the code it measures (checked again at the end)."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs, code_state()


def record_run(title: str, code: CodeState, body: str) -> None:
    """Appends a dated section: its title, the command that reproduces it, the machine and the code it
    measured (flagged when transforms/ or pipelines/ changed while it ran), then ``body``."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts = ", ".join(f"{k} {v}" for k, v in machine().items()) + f", code {code.label}"
    if code_state().digest != code.digest:
        print("bench: warning: transforms/ or pipelines/ changed during the run", file=sys.stderr)
        facts += " (CHANGED DURING THE RUN: figures mix two versions)"
    record(f"## {now}: {title}\n\n`{shlex.join(sys.orig_argv)}`\n\n{facts}\n\n{body}")
    print(f"recorded in {BENCHMARKS}")


READ_METHOD = """The CSV is `transforms.synthetic.customers` rows written with `pyarrow.csv.write_csv` (every
string quoted), and `gzip -1` of it; both are read from the page cache. Every step is a child process. (a) is
`pyarrow.csv.read_csv` of the plain file, all columns as strings, default threads; "1 thread" is the same with
`use_threads=False`. (b), (c), (d) run `ReadRecords(inspect_inputs(...))` on `make_pipeline` (in-process
FnApiRunner), counting the record batches and summing and checking the row accounting (read = parsed + dead +
headers, parsed = (a)'s rows); (c) reads the gzip, streamed by one worker; (d) is (b) with `--direct_num_workers 2
--direct_running_mode multi_processing`. MB/s is of the uncompressed CSV for every step. CPU s is user + system
of the child and its children; load is the 1-minute load average when the step started (2 cores: above 2, the
step shared them with other work)."""


@dataclass(frozen=True)
class ReadFile:
    """The reading benchmark's generated input: plain CSV, its gzip, their sizes and row count."""

    folder: Path
    plain: Path
    packed: Path
    rows: int
    plain_bytes: int
    packed_bytes: int


def read_generate_files(args: argparse.Namespace, self_cmd: list[str], logs: Path) -> tuple[ReadFile, list[Step]]:
    """Generates the CSV and gzips it; both timed, neither in a ratio."""
    folder: Path = args.out / "read"
    folder.mkdir(parents=True, exist_ok=True)
    plain, meta = folder / "dump.csv", folder / "generated.json"
    packed = folder / "dump.csv.gz"
    generate_cmd = [*self_cmd, "--step", "read-generate", "--read-gb", str(args.read_gb)]
    generated = measure(
        "read-generate", [*generate_cmd, "--read-input", str(plain), "--read-result", str(meta)], 0, logs
    )
    facts = json.loads(meta.read_text())
    packed.unlink(missing_ok=True)
    gzipped = measure("read-gzip", ["gzip", "-1", "--keep", str(plain)], facts["rows"], logs)
    files = ReadFile(folder, plain, packed, facts["rows"], facts["bytes"], packed.stat().st_size)
    return files, [replace(generated, rows=files.rows), gzipped]


def read_bench(args: argparse.Namespace, self_cmd: list[str], logs: Path) -> tuple[str, str]:
    """Runs (a)-(d) and the decompression floors; returns a title and the figures as Markdown.

    With ``--read-repeat`` N the steps run in N interleaved rounds, so a burst of other work on the
    machine hits every step alike, and each step is rated on its fastest run. The 1 GB files are
    deleted even when a step fails, unless ``--keep``.
    """
    files, made = read_generate_files(args, self_cmd, logs)
    runs: dict[str, list[Step]] = {}
    counts: dict[str, dict[str, Any]] = {}

    def run(name: str, step: str, source: Path, *extra: str) -> None:
        result = files.folder / f"{name}.json"
        command = [*self_cmd, "--step", step, "--read-input", str(source), "--read-result", str(result), *extra]
        runs.setdefault(name, []).append(measure(name, command, files.rows, logs))
        counts[name] = json.loads(result.read_text())

    def floor(name: str, shell: str, source: Path) -> None:
        """A shell pipeline; its stdout is a line count."""
        runs.setdefault(name, []).append(measure(name, ["sh", "-c", shell, "sh", str(source)], files.rows, logs))
        counts[name] = {"lines": int((logs / f"{name}.out").read_text())}

    try:
        for _ in range(args.read_repeat):
            run("read-arrow", "read-arrow", files.plain, "--read-threads")
            run("read-arrow-1thread", "read-arrow", files.plain)
            run("read-plain", "read-beam", files.plain)
            run("read-gzip-stream", "read-beam", files.packed)
            floor("read-gunzip-wc", 'gzip -dc "$1" | wc -l', files.packed)
            run("read-zlib", "read-zlib", files.packed)
            run("read-plain-2workers", "read-beam", files.plain, "--read-workers", "2")
        profile = read_profile(self_cmd, files, logs) if args.read_profile else ""
    finally:
        if not args.keep:
            files.plain.unlink(missing_ok=True)
            files.packed.unlink(missing_ok=True)

    # Every reader must have seen every generated row (the line counts include the header).
    seen = {name: c["rows_parsed"] if "rows_parsed" in c else c["lines"] - 1 for name, c in counts.items()}
    if any(rows != files.rows for rows in seen.values()):
        sys.exit(f"bench: a reader missed rows: {files.rows:,} generated, read {seen}")
    dead = sum(c.get("rows_dead_lettered", 0) for c in counts.values())
    best = {name: min(measured, key=lambda step: step.seconds) for name, measured in runs.items()}
    a, b, single = best["read-arrow"], best["read-plain"], best["read-arrow-1thread"]
    ratio = b.seconds / a.seconds
    verdict = "met" if ratio <= READ_GOAL else "missed"
    title = f"reading a {files.plain_bytes / GB:.2f} GB CSV ({files.rows:,} rows)"
    rounds = f"best of {args.read_repeat} interleaved rounds" if args.read_repeat > 1 else "one round"
    text = (
        f"{READ_METHOD}\n\nCSV {files.plain_bytes / MB:,.0f} MB, gzip -1 {files.packed_bytes / MB:,.0f} MB, "
        f"{files.rows:,} rows; every reader saw all of them ({dead:,} dead-lettered). Wall s: {rounds}.\n\n"
        f"{read_table(made, runs, a, files.plain_bytes)}\n\n"
        f"(b) / (a) = {ratio:.2f}; the goal of issue 4 is ≤ {READ_GOAL}: {verdict}. Less sensitive to load: "
        f"(b) / (a) in CPU seconds = {b.cpu_seconds / a.cpu_seconds:.2f}; (b) / 1-thread pyarrow = "
        f"{b.seconds / single.seconds:.2f} in wall, {b.cpu_seconds / single.cpu_seconds:.2f} in CPU seconds.\n"
    )
    return title, text + profile


READ_LABELS = {
    "read-generate": "generate CSV (write)",
    "read-gzip": "`gzip -1` (compress)",
    "read-arrow": "(a) pyarrow read_csv",
    "read-arrow-1thread": "pyarrow read_csv, 1 thread",
    "read-plain": "(b) ReadRecords, plain",
    "read-gzip-stream": "(c) ReadRecords, gzip",
    "read-gunzip-wc": "floor: `gzip -dc \\| wc -l`",
    "read-zlib": "floor: Python zlib inflate",
    "read-plain-2workers": "(d) ReadRecords, plain, 2 workers",
}


def read_table(made: list[Step], runs: dict[str, list[Step]], baseline: Step, csv_bytes: int) -> str:
    """One row per step: its fastest run's figures, and every run's wall time."""
    lines = [
        "| step | wall s | CPU s | MB/s | rows/s | peak RSS MiB | × (a) | load | all runs, wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for measured in [[step] for step in made] + list(runs.values()):
        step = min(measured, key=lambda s: s.seconds)
        ratio = "—" if step in made else f"{step.seconds / baseline.seconds:.2f}"
        lines.append(
            f"| {READ_LABELS[step.name]} | {step.seconds:.1f} | {step.cpu_seconds:.1f} "
            f"| {csv_bytes / MB / step.seconds:,.0f} | {step.rows / step.seconds:,.0f} "
            f"| {step.max_rss_kib / KIB_PER_MIB:,.0f} | {ratio} | {step.load:.1f} "
            f"| {', '.join(f'{s.seconds:.1f}' for s in measured)} |"
        )
    return "\n".join(lines)


def read_profile(self_cmd: list[str], files: ReadFile, logs: Path) -> str:
    """(b) once more under cProfile (slower, so not in the table): where its time goes, as Markdown."""
    prof = logs / "read-plain.prof"
    command = [*self_cmd, "--step", "read-beam", "--read-input", str(files.plain), "--profile-to", str(prof)]
    command += ["--read-result", str(files.folder / "read-profiled.json")]
    profiled = measure("read-plain-profiled", command, files.rows, logs)
    text = profile_tables(prof, profiled, "(b)")
    (logs / "read-profile.md").write_text(text)
    return text


def profile_tables(prof: Path, profiled: Step, what: str) -> str:
    """The top of a cProfile dump as Markdown: by own time, and our functions by cumulative time."""
    import pstats

    stats: Any = pstats.Stats(str(prof))  # .stats: (file, line, name) -> (calls, ncalls, tottime, cumtime, callers)
    entries = list(stats.stats.items())
    by_own = sorted(entries, key=lambda e: e[1][2], reverse=True)[:PROFILE_TOP]
    ours = [e for e in entries if e[0][0].startswith(f"{code_root()}/transforms/") and e[0][2] != "<module>"]
    by_cumulative = sorted(ours, key=lambda e: e[1][3], reverse=True)[:PROFILE_TOP]
    header = "| calls | tottime s | cumtime s | function |\n|---:|---:|---:|---|\n"

    def rows(chosen: list[Any]) -> str:
        return "\n".join(
            f"| {calls:,} | {own:.2f} | {cumulative:.2f} | `{_short(path)}:{line}({name})` |"
            for (path, line, name), (_, calls, own, cumulative, _) in chosen
        )

    return (
        f"\nProfile of {what} under cProfile ({profiled.seconds:.1f} s wall under the profiler, "
        f"{stats.total_tt:.1f} s profiled in the main thread). Top {PROFILE_TOP} by own time:\n\n"
        f"{header}{rows(by_own)}\n\nFunctions of `transforms` by cumulative time:\n\n{header}{rows(by_cumulative)}\n"
    )


def match_step(args: argparse.Namespace) -> None:
    """Child step: ``dumpmatch match`` in this process (one worker), so that cProfile sees all of it."""
    from pipelines import match

    out: Path = args.out
    argv = ["--bundle", str(out / "bundle"), "--dump", str(out / "dump.csv"), "--out", str(out / "run-profiled")]
    argv += ["--key-file", str(out / "bench.key"), "--posting-cap", str(POSTING_CAP), "--quiet"]
    match.run([*argv, "--direct_num_workers", "1"])  # here, not in worker processes the profiler cannot see


def _short(path: str) -> str:
    """A profile path without the machine-specific prefix."""
    for marker in ("site-packages/", f"{code_root()}/", f"{REPO}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def match_bench(args: argparse.Namespace, self_cmd: list[str], logs: Path) -> str:
    """sketch, match and the DuckDB baseline on a synthetic base and dump; the figures as Markdown."""
    out: Path = args.out
    key, bundle, run = out / "bench.key", out / "bundle", out / "run"
    # always explicit: without these, match itself picks worker processes for an input this size
    workers = ["--direct_num_workers", str(args.workers)]
    workers += ["--direct_running_mode", "multi_processing"] if args.workers > 1 else []

    size = ["--rows", str(args.rows), "--customers", str(args.customers)]
    gen_cmd = [*self_cmd, "--step", "generate", *size, "--genuine-fraction", str(args.genuine_fraction)]
    steps = [measure("generate", gen_cmd, args.rows, logs)]
    sketch_cmd = [str(DUMPMATCH), "sketch", "--customers", str(out / "customers.csv"), "--out", str(bundle)]
    steps.append(measure("sketch", [*sketch_cmd, "--key-file", str(key), *workers], args.customers, logs))
    fuzzy_cmd = [*sketch_cmd[:-1], str(out / "bundle-fuzzy"), "--key-file", str(key), "--fuzzy"]
    if not args.no_fuzzy:
        steps.append(measure("sketch --fuzzy", fuzzy_cmd, args.customers, logs))
    match_cmd = [str(DUMPMATCH), "match", "--bundle", str(bundle), "--dump", str(out / "dump.csv"), "--out", str(run)]
    match_cmd += ["--key-file", str(key), "--posting-cap", str(POSTING_CAP), *workers]
    match_cmd += ["--output-shards", str(args.workers)]  # one candidates file per worker: written in parallel
    steps.append(measure("match", match_cmd, args.rows, logs))
    fuzzy_match = [*match_cmd[:3], str(out / "bundle-fuzzy"), *match_cmd[4:], "--fuzzy"]
    if not args.no_fuzzy:
        steps.append(measure("match --fuzzy", fuzzy_match, args.rows, logs))  # its report is the one read below
    baseline = measure("duckdb", [*self_cmd, "--step", "duckdb"], args.rows, logs)
    steps.append(baseline)
    floor_cmd = [*self_cmd, *size, "--step", "floor", "--workers", str(args.workers)]
    steps.append(measure("floor", floor_cmd, args.rows, logs))
    steps.append(measure("duckdb-normalize", [*self_cmd, *size, "--step", "duckdb-normalize"], args.rows, logs))

    report = json.loads((run / "report.json").read_text())
    duck = json.loads((out / "duckdb" / "counts.json").read_text())
    genuine = json.loads((out / "generated.json").read_text())["genuine_rows"]
    floor = json.loads((out / "floor.json").read_text())
    profile = ""
    if args.match_profile:  # after the timed steps: the profiler slows match down, so it is in no ratio
        prof = logs / "match.prof"
        profiled = measure("match-profiled", [*self_cmd, "--step", "match", "--profile-to", str(prof)], args.rows, logs)
        profile = profile_tables(prof, profiled, "`match` (one worker, in this process)")
        (logs / "match-profile.md").write_text(profile)
    tables = [steps_table(steps, baseline), floor_note(floor, args.workers), counts_table(report, duck, genuine)]
    return "\n\n".join(tables) + f"\n{profile}"


def floor_note(floor: dict[str, Any], workers: int) -> str:
    """What the two bounding steps are, and the floor's CPU per row by stage."""
    per_row = ", ".join(f"{stage} {cpu / floor['rows'] * 1e6:.2f}" for stage, cpu in floor["cpu_seconds"].items())
    return (
        f"`floor`: the dump planned, parsed, normalized and keyed-hashed by `match`'s own functions in {workers} "
        f"forked process(es), without Beam, lookups, sketches, evidence or output: no `match` on this machine "
        f"is faster. CPU µs per row: {per_row}. `duckdb-normalize`: the baseline's read and normalization "
        "of the dump alone, no join."
    )


CHILD_STEPS = {
    "generate": generate,
    "duckdb": duckdb_baseline,
    "duckdb-normalize": duckdb_normalize,
    "floor": floor_step,
    "match": match_step,
    "read-generate": read_generate,
    "read-arrow": read_arrow,
    "read-beam": read_beam,
    "read-zlib": read_zlib,
}


def main() -> None:
    args = parse_args()
    if args.step and args.profile_to:
        # In the child itself, not ``python -m cProfile``, which would put the working directory first on sys.path.
        import cProfile

        profiler = cProfile.Profile()
        try:
            profiler.runcall(CHILD_STEPS[args.step], args)
        finally:
            profiler.dump_stats(args.profile_to)
        return
    if args.step:
        CHILD_STEPS[args.step](args)
        return
    out: Path = args.out
    logs, code = begin(out)
    self_cmd = [sys.executable, str(Path(__file__).resolve()), "--out", str(out)]
    titles, sections = [], []
    if not args.no_match_bench:
        figures = match_bench(args, self_cmd, logs)
        print(f"\n{figures}")
        titles.append(f"{args.rows:,} dump rows × {args.customers:,} customers")
        sections.append(figures)
    if not args.no_read_bench:
        title, figures = read_bench(args, self_cmd, logs)
        print(f"\n{figures}")
        titles.append(title)
        sections.append(f"### Reading throughput\n\n{figures}")
    if args.no_record or not sections:
        return
    record_run("; ".join(titles), code, "\n".join(sections))


if __name__ == "__main__":
    main()
