"""Benchmark (`python -m bench.reverify`, `make bench-reverify`): reverifying one registered dump in full
(parse its files) against cached (probe its stored keyed digests), each a child process timed like
bench/run.py's steps.

Generates a base and a dump with bench/run.py's generate step, sketches the base, registers the dump, then
runs `dumpmatch reverify` three times: the first run (reads the dump and writes its digest cache), a
cached run, and a `--no-cache` run (reads the dump again, writes no cache): full against cached is the
last two. The cached and full reports must agree on every number, or the benchmark stops.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.run import BENCHMARKS, DUMPMATCH, Step, begin, measure, record_run

DEFAULT_ROWS = 1_000_000
DEFAULT_CUSTOMERS = 200_000
NUMBERS = ("rows", "fields", "records", "verdict", "inputs")  # what must not differ between cached and full


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="dump rows (default %(default)s)")
    p.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS, help="customer rows (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("bench-out/reverify"), help="data and outputs")
    p.add_argument("--no-record", action="store_true", help=f"do not append to {BENCHMARKS.name}")
    return p.parse_args(argv)


def _numbers(library: Path, run: dict[str, Any]) -> dict[str, Any]:
    report = json.loads((library / run["path"] / "report.json").read_text())
    return {key: report[key] for key in NUMBERS}


def main() -> None:
    args = parse_args()
    out: Path = args.out
    logs, code = begin(out)
    generate = [sys.executable, str(Path(__file__).with_name("run.py")), "--out", str(out), "--step", "generate"]
    measure("generate", [*generate, "--rows", str(args.rows), "--customers", str(args.customers)], args.rows, logs)
    key, bundles, library = out / "bench.key", out / "bundles", out / "library"
    sketch = [str(DUMPMATCH), "sketch", "--customers", str(out / "customers.csv"), "--out", str(bundles)]
    measure("sketch", [*sketch, "--versioned", "--key-file", str(key)], args.customers, logs)
    add = [str(DUMPMATCH), "library", "add", "bench", str(out / "dump.csv"), "--library", str(library)]
    measure("library add", add, args.rows, logs)
    reverify = [str(DUMPMATCH), "reverify", "--bundle", str(bundles), "--library", str(library), "--key-file", str(key)]
    steps: list[Step] = [measure("first run (writes the cache)", reverify, args.rows, logs)]
    steps.append(measure("cached", reverify, args.rows, logs))
    steps.append(measure("full (--no-cache)", [*reverify, "--no-cache"], args.rows, logs))
    runs = json.loads((library / "index.json").read_text())["dumps"]["bench"]["runs"]
    assert [r["cached"] for r in runs] == [False, True, False], runs
    if _numbers(library, runs[1]) != _numbers(library, runs[2]):
        sys.exit("bench: the cached run's report differs from the full run's")
    cached, full = steps[1], steps[2]
    table = ["| reverify run | wall s | CPU s | rows/s | peak RSS MiB | load |", "|---|---:|---:|---:|---:|---:|"]
    for step in steps:
        table.append(
            f"| {step.name} | {step.seconds:.1f} | {step.cpu_seconds:.1f} | {step.rows / step.seconds:,.0f} "
            f"| {step.max_rss_kib / 1024:,.0f} | {step.load:.1f} |"
        )
    speedup = (
        f"Cached against full: {full.seconds / cached.seconds:.1f}x wall, "
        f"{full.cpu_seconds / cached.cpu_seconds:.1f}x CPU; same report numbers."
    )
    figures = "\n".join(table) + f"\n\n{speedup}\n"
    print(f"\n{figures}")
    if args.no_record:
        return
    title = f"reverify of {args.rows:,} dump rows ({args.customers:,} customers): cached against full"
    record_run(title, code, figures)


if __name__ == "__main__":
    main()
