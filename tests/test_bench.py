"""``make bench``'s match benchmark, end to end at a tiny size: every child step runs, the steps that
bound ``match`` (``floor``, ``duckdb-normalize``) see every dump row, and both sides count the same matches."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROWS = 2000
RUN = Path(__file__).resolve().parent.parent / "bench" / "run.py"


def test_match_bench_runs_every_step_and_agrees_with_the_baseline(tmp_path: Path) -> None:
    command = [sys.executable, str(RUN), "--rows", str(ROWS), "--customers", str(ROWS), "--workers", "2"]
    command += ["--no-read-bench", "--no-fuzzy", "--no-record", "--out", str(tmp_path)]
    printed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout

    steps = re.findall(r"^\| (\S+) \| [\d.]+ \| [\d,]+ \| [\d.]+ \|", printed, re.MULTILINE)
    assert steps == ["generate", "sketch", "match", "duckdb", "floor", "duckdb-normalize"]
    floor = json.loads((tmp_path / "floor.json").read_text())
    assert floor["rows"] == ROWS
    assert set(floor["cpu_seconds"]) == {"parse", "normalize", "hash"}
    assert all(seconds > 0 for seconds in floor["cpu_seconds"].values())
    assert "CPU µs per row: parse " in printed

    matched = re.findall(r"^\| (email|phone) \| ([\d,]+) \| ([\d,]+) \|", printed, re.MULTILINE)
    assert len(matched) == 2
    assert all(ours == theirs != "0" for _, ours, theirs in matched)
