"""Benchmark: time ``dumpmatch sketch`` and ``dumpmatch match`` against a DuckDB SQL baseline.

Every step (data generation, sketch, match, baseline) runs as a child process of
this script, so wall time and peak RSS (``ru_maxrss`` from ``os.wait4``) are
measured the same way for ours and for the baseline. The parent imports nothing
heavy; ``--step`` re-enters this file as one of those children.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

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
"""


@dataclass(frozen=True)
class Step:
    """One measured child process."""

    name: str
    seconds: float
    rows: int  # input rows the step is rated on
    max_rss_kib: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="dump rows (default %(default)s)")
    p.add_argument("--customers", type=int, default=DEFAULT_ROWS, help="customer rows (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="data and outputs (default %(default)s)")
    p.add_argument("--genuine-fraction", type=float, default=DEFAULT_GENUINE_FRACTION, help="share of dump rows copied")
    p.add_argument("--workers", type=int, default=1, help="DirectRunner worker processes for match (default 1)")
    p.add_argument("--no-record", action="store_true", help=f"do not append to {BENCHMARKS.name}")
    p.add_argument("--step", choices=["generate", "duckdb"], help=argparse.SUPPRESS)  # internal: child mode
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
    genuine = len(dump.source_customer) - dump.source_customer.null_count
    (args.out / "generated.json").write_text(json.dumps({"genuine_rows": genuine}))


# SQL counterparts of transforms.normalize (no NFKC, titles or E.164 parsing: plain string rules).
BASELINE_SQL = r"""
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
CREATE TABLE cust AS
    SELECT customer_id, norm_email(email) AS email, norm_phone(phone) AS phone,
           norm_name(concat_ws(' ', first_name, last_name)) AS name, norm_words(street) AS street
    FROM read_csv({customers}, all_varchar = true);
CREATE TABLE dump AS
    SELECT row_number() OVER () AS row, norm_email("E-Mail") AS email, norm_phone("Mobile") AS phone,
           norm_name("Full Name") AS name, norm_words("Address") AS street
    FROM read_csv({dump}, all_varchar = true);
CREATE TABLE links AS
    SELECT DISTINCT customer_id, field, value FROM (UNPIVOT cust ON {fields} INTO NAME field VALUE value);
CREATE TABLE probes AS UNPIVOT dump ON {fields} INTO NAME field VALUE value;
"""
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


def measure(name: str, command: list[str], rows: int, logs: Path) -> Step:
    """Runs a child to completion; its rusage (not ours) gives the peak RSS. A failure stops the benchmark."""
    out_log, err_log = logs / f"{name}.out", logs / f"{name}.err"
    start = time.perf_counter()
    with out_log.open("wb") as out, err_log.open("wb") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.stderr.write(err_log.read_text(errors="replace"))
        sys.exit(f"bench: {name} failed with exit code {child.returncode}: {shlex.join(command)}")
    print(f"{name}: {seconds:.1f} s", flush=True)
    return Step(name, seconds, rows, usage.ru_maxrss)


def machine() -> dict[str, str]:
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
    facts.update({package: metadata.version(package) for package in VERSIONED})
    return facts


def steps_table(steps: list[Step], baseline: Step) -> str:
    lines = ["| step | wall s | rows/s | peak RSS MiB | × DuckDB |", "|---|---:|---:|---:|---:|"]
    for step in steps:
        ratio = "—" if step.name == "generate" else f"{step.seconds / baseline.seconds:.2f}"
        lines.append(
            f"| {step.name} | {step.seconds:.1f} | {step.rows / step.seconds:,.0f} "
            f"| {step.max_rss_kib / KIB_PER_MIB:,.0f} | {ratio} |"
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
    return "\n".join(lines)


def record(text: str) -> None:
    """Appends a run section, creating the file with its method header the first time."""
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text(HEADER)
    with BENCHMARKS.open("a") as handle:
        handle.write("\n" + text)


def main() -> None:
    args = parse_args()
    if args.step:
        {"generate": generate, "duckdb": duckdb_baseline}[args.step](args)
        return
    out: Path = args.out
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    key, bundle, run = out / "bench.key", out / "bundle", out / "run"
    self_cmd = [sys.executable, str(Path(__file__).resolve()), "--out", str(out)]
    workers = ["--direct_num_workers", str(args.workers), "--direct_running_mode", "multi_processing"]

    size = ["--rows", str(args.rows), "--customers", str(args.customers)]
    gen_cmd = [*self_cmd, "--step", "generate", *size, "--genuine-fraction", str(args.genuine_fraction)]
    steps = [measure("generate", gen_cmd, args.rows, logs)]
    sketch_cmd = [str(DUMPMATCH), "sketch", "--customers", str(out / "customers.csv"), "--out", str(bundle)]
    steps.append(measure("sketch", [*sketch_cmd, "--key-file", str(key)], args.customers, logs))
    match_cmd = [str(DUMPMATCH), "match", "--bundle", str(bundle), "--dump", str(out / "dump.csv"), "--out", str(run)]
    match_cmd += ["--key-file", str(key), "--posting-cap", str(POSTING_CAP), *(workers if args.workers > 1 else [])]
    steps.append(measure("match", match_cmd, args.rows, logs))
    baseline = measure("duckdb", [*self_cmd, "--step", "duckdb"], args.rows, logs)
    steps.append(baseline)

    report = json.loads((run / "report.json").read_text())
    duck = json.loads((out / "duckdb" / "counts.json").read_text())
    genuine = json.loads((out / "generated.json").read_text())["genuine_rows"]
    figures = f"{steps_table(steps, baseline)}\n\n{counts_table(report, duck, genuine)}\n"
    print(f"\n{figures}")
    if args.no_record:
        return
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts = ", ".join(f"{k} {v}" for k, v in machine().items())
    title = f"## {now}: {args.rows:,} dump rows × {args.customers:,} customers"
    record(f"{title}\n\n`{shlex.join(sys.orig_argv)}`\n\n{facts}\n\n{figures}")
    print(f"recorded in {BENCHMARKS}")


if __name__ == "__main__":
    main()
