"""Benchmark (`python -m bench.workers`, `make bench-workers`): `dumpmatch sketch` in one process against two
worker processes, at several base sizes, with the memory of the whole process tree: the figures behind
``sketch.peak_bytes``, the model `sketch` uses to decide on worker processes by itself.

For each size it generates a base with bench/run.py's generate step (and a 1-row dump), then sketches it
with ``--direct_num_workers 1`` and with ``--direct_num_workers 2 --direct_running_mode multi_processing``
(``--fuzzy`` adds both again with fuzzy links). A sampler reads every process of the command's tree from
/proc every 0.1 s: the peak of each process (launcher and workers) and of their sum. ``ru_maxrss``
gives only one process, and a worker's peak is not the launcher's. The two bundles must be the same
bytes, or the benchmark stops. The model's estimate for each size is printed beside the figures.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.run import BENCHMARKS, DUMPMATCH, begin, measure, record_run, stop
from pipelines import common, sketch

DEFAULT_SIZES = (1_000_000, 5_000_000)
SAMPLE_SECONDS = 0.1
MIB = 1 << 20
WORKER_PROCESSES = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


@dataclass(frozen=True)
class TreeRun:
    seconds: float
    total_mib: int  # peak of the sum over the tree
    peaks_mib: list[int]  # each process's own peak, largest first

    @property
    def launcher_and_workers(self) -> str:
        return ", ".join(f"{mib:,}" for mib in self.peaks_mib if mib > 16)  # not the `sh -c` wrappers


def _rss_mib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return next((int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def _tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(parent, []).append(int(entry))
    tree = [root]
    for pid in tree:
        tree.extend(parents.get(pid, []))
    return tree


def run_tree(command: list[str], log: Path) -> TreeRun:
    """Runs a command to its end, sampling its process tree's memory; a failure stops the benchmark."""
    peaks: dict[int, int] = {}
    total = 0
    start = time.perf_counter()
    with log.open("wb") as err:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        while child.poll() is None:
            sizes = {pid: _rss_mib(pid) for pid in _tree(child.pid)}
            total = max(total, sum(sizes.values()))
            for pid, mib in sizes.items():
                peaks[pid] = max(peaks.get(pid, 0), mib)
            time.sleep(SAMPLE_SECONDS)
    seconds = time.perf_counter() - start
    if child.returncode:
        stop("failed", child.returncode, command, log)
    return TreeRun(seconds, total, sorted(peaks.values(), reverse=True))


def same_bytes(one: Path, other: Path) -> bool:
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    if files != sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file()):
        return False
    return all(filecmp.cmp(one / name, other / name, shallow=False) for name in files)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, nargs="+", default=list(DEFAULT_SIZES), help="base sizes")
    p.add_argument("--fuzzy", type=int, nargs="*", default=[], help="base sizes to sketch with --fuzzy too")
    p.add_argument("--out", type=Path, default=Path("bench-out/workers"), help="data and outputs")
    p.add_argument("--no-record", action="store_true", help=f"do not append to {BENCHMARKS.name}")
    return p.parse_args(argv)


def main() -> None:
    args = parse_args()
    out: Path = args.out
    logs, code = begin(out)
    table = [
        "| customers | --fuzzy | one process s | MiB | two workers s | MiB in all | launcher and workers MiB "
        "| model MiB in all |",
        "|---:|---|---:|---:|---:|---:|---|---:|",
    ]
    generate = [sys.executable, str(Path(__file__).with_name("run.py")), "--step", "generate", "--rows", "1"]
    for customers in sorted(set(args.customers) | set(args.fuzzy)):
        folder = out / str(customers)
        folder.mkdir(exist_ok=True)
        measure("generate", [*generate, "--out", str(folder), "--customers", str(customers)], customers, logs)
        base = ["--customers", str(folder / "customers.csv"), "--key-file", str(folder / "bench.key")]
        for fuzzy in [False] * (customers in args.customers) + [True] * (customers in args.fuzzy):
            extra = ["--fuzzy"] if fuzzy else []
            name = f"{customers}{'-fuzzy' if fuzzy else ''}"
            command = [str(DUMPMATCH), "sketch", *base, *extra]
            one = run_tree([*command, "--out", str(folder / "one"), "--direct_num_workers", "1"], logs / f"{name}-1")
            two = run_tree([*command, "--out", str(folder / "two"), *WORKER_PROCESSES], logs / f"{name}-2")
            if not same_bytes(folder / "one", folder / "two"):
                sys.exit(f"bench: {name}: the bundles of one process and two workers differ")
            launcher, worker = sketch.peak_bytes(customers, fuzzy)
            model = (launcher + 2 * worker + 3 * common.WORKER_BASE_BYTES) // MIB  # three processes, bare and grown
            row = (
                f"| {customers:,} | {'yes' if fuzzy else 'no'} | {one.seconds:.1f} | {one.total_mib:,} "
                f"| {two.seconds:.1f} | {two.total_mib:,} | {two.launcher_and_workers} | {model:,} |"
            )
            print(row, flush=True)
            table.append(row)
    figures = "\n".join(table) + "\n"
    print(f"\n{figures}")
    if args.no_record:
        return
    record_run("sketch in worker processes", code, figures)


if __name__ == "__main__":
    main()
