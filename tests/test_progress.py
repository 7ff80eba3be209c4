"""The progress line: its wording, the tallies behind it, and real commands on a pseudo-terminal
(shown, with the run's true totals, also from multi_processing workers) and on a pipe (silent)."""

from __future__ import annotations

import gzip
import io
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.common import make_pipeline
from tests.conftest import sketched_base, write_csv
from transforms import progress, synthetic
from transforms.read import ReadRecords, inspect_inputs

CLI_TIMEOUT_SECONDS = 120.0
WORKER_PROCESSES = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


def test_the_line_says_bytes_rows_speed_and_time_left() -> None:
    line = progress.describe("dumpmatch match", progress.Counts(50_000_000, 400_000), 200_000_000, 10.0)
    assert line == ("dumpmatch match: read 50.0 MB of 200.0 MB (25%), 400,000 rows, 40,000 rows/s, about 30 s left")
    done = progress.describe("dumpmatch match", progress.Counts(200_000_000, 1_000_000), 200_000_000, 125.0, True)
    assert done == "dumpmatch match: read 200.0 MB of 200.0 MB (100%), 1,000,000 rows in 2 min 05 s (8,000 rows/s)"
    finishing = progress.describe("dumpmatch sketch", progress.Counts(900, 10), 900, 1.0)
    assert finishing.endswith("(100%), 10 rows, 10 rows/s, finishing")
    assert progress.describe("p", progress.Counts(0, 0), 0, 0.0) == "p: starting"
    assert progress.describe("p", progress.Counts(0, 0), 124_764_307, 2.0) == "p: starting, 124.8 MB to read"
    assert progress.describe("p", progress.Counts(0, 0), 0, 0.0, True) == "p: read 0 B, 0 rows in 0.0 s (0 rows/s)"
    assert progress.human_seconds(3 * 3600 + 60 * 7) == "3 h 07 min"


def test_tallies_of_every_worker_process_add_up(tmp_path: Path) -> None:
    tally = progress.Tally(str(tmp_path))
    tally.add(size_bytes=100, rows=3)
    tally.add(size_bytes=50, rows=2)
    tally.flush()
    (tmp_path / "99999.json").write_text(json.dumps({"bytes": 1000, "rows": 7}))  # another process
    (tmp_path / "99998.json.tmp").write_text("{half a fi")  # being written: never read
    assert progress.read_counts(str(tmp_path)) == progress.Counts(1150, 12)
    progress.Tally(None).add(size_bytes=1, rows=1)  # no folder (Dataflow, not a terminal): nothing at all
    progress.Tally(str(tmp_path / "gone")).flush()  # the launcher already left: no error


def test_the_line_is_redrawn_then_left_with_the_totals() -> None:
    stream = io.StringIO()
    with progress.ProgressLine("dumpmatch match", 1000, stream, redraw_seconds=0.01) as line:
        tally = progress.Tally(line.folder)
        tally.add(size_bytes=400, rows=40)
        tally.flush()
        time.sleep(0.1)
        tally.add(size_bytes=600, rows=60)
        tally.flush()
    assert not os.path.exists(line.folder)
    drawn = [part.replace(progress.CLEAR, "") for part in stream.getvalue().split("\r") if part]
    assert any("(40%), 40 rows" in d for d in drawn)
    assert drawn[-1].startswith("dumpmatch match: read 1.0 kB of 1.0 kB (100%), 100 rows in ")
    assert drawn[-1].endswith("\n")


def test_a_failing_run_leaves_a_clean_line() -> None:
    stream = io.StringIO()
    with pytest.raises(RuntimeError), progress.ProgressLine("p", 10, stream, redraw_seconds=0.01):
        raise RuntimeError("boom")
    assert stream.getvalue().endswith("\r" + progress.CLEAR)


def _inputs(tmp_path: Path) -> tuple[list[str], Path]:
    key, base = sketched_base(tmp_path, 400)
    dump = write_csv(tmp_path / "dump.csv", synthetic.dump(base, 3000, 0.5).table)
    args = ["--bundle", str(tmp_path / "bundle"), "--dump", str(dump), "--key-file", str(key)]
    return args, tmp_path / "run"


def _dumpmatch(args: list[str], terminal: bool) -> str:
    """Runs the console script with stderr on a pseudo-terminal or a pipe; returns what stderr got."""
    command = [sys.executable, "-m", "pipelines.cli", *args]
    if not terminal:
        done = subprocess.run(command, capture_output=True, timeout=CLI_TIMEOUT_SECONDS, check=True)
        return done.stderr.decode()
    leader, follower = pty.openpty()
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    received = b""
    try:
        while chunk := os.read(leader, 4096):
            received += chunk
    except OSError:
        pass  # EIO: the child closed the terminal
    finally:
        os.close(leader)
    assert child.wait(timeout=CLI_TIMEOUT_SECONDS) == 0, received.decode()
    return received.decode()


PART_WAY = re.compile(rb"\([0-9]{1,2}%\), [1-9][0-9,]* rows")  # rows read, not all the input (bytes count per task)


def _interrupted(args: list[str]) -> tuple[int, str]:
    """Runs the console script on a pseudo-terminal and, once its progress line shows part of the input
    read, sends SIGINT to its process group, as Ctrl-C in a terminal does; returns the exit code and what
    stderr got from then on."""
    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "pipelines.cli", *args]
    child = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower, start_new_session=True
    )
    os.close(follower)
    before, after, sent = b"", b"", False
    try:
        while chunk := os.read(leader, 4096):
            if sent:
                after += chunk
                continue
            before += chunk
            if PART_WAY.search(before):
                os.killpg(child.pid, signal.SIGINT)
                sent = True
    except OSError:
        pass  # EIO: the child closed the terminal
    finally:
        os.close(leader)
    assert sent, f"the run ended before its progress line showed part of the input: {before.decode()}"
    return child.wait(timeout=CLI_TIMEOUT_SECONDS), after.decode()


def _lines(stderr: str) -> list[str]:
    """What a terminal shows: the progress line's redraws and ordinary lines, one item each."""
    parts = [part.replace(progress.CLEAR, "").strip() for part in stderr.replace("\n", "\r").split("\r")]
    return [part for part in parts if part]


def _final_line(stderr: str) -> str:
    return _lines(stderr)[-1]


def test_match_on_a_terminal_shows_progress_with_the_true_totals(tmp_path: Path) -> None:
    args, out = _inputs(tmp_path)
    stderr = _dumpmatch(["match", *args, "--out", str(out)], terminal=True)
    report = json.loads((out / "report.json").read_text())
    size = (tmp_path / "dump.csv").stat().st_size
    final = _final_line(stderr)
    assert final.startswith(
        f"dumpmatch match: read {progress.human_bytes(size)} of {progress.human_bytes(size)} (100%)"
    )
    assert f"{report['rows']['read']:,} rows in " in final


def test_workers_in_other_processes_report_too(tmp_path: Path) -> None:
    args, out = _inputs(tmp_path)
    stderr = _dumpmatch(["match", *args, "--out", str(out), *WORKER_PROCESSES], terminal=True)
    report = json.loads((out / "report.json").read_text())
    assert f"(100%), {report['rows']['read']:,} rows in " in _final_line(stderr)


@pytest.mark.parametrize("workers", [[], WORKER_PROCESSES], ids=["in-process", "worker-processes"])
def test_ctrl_c_stops_a_run_with_one_line_and_exit_130(tmp_path: Path, workers: list[str]) -> None:
    """Beam turns a KeyboardInterrupt in a DoFn into a RuntimeError and its threads print traces when
    their workers die: the user must still see "interrupted" (exit 130), not an unexpected failure, and
    no half-written run folder."""
    key, base = sketched_base(tmp_path, 400)
    dump = write_csv(tmp_path / "dump.csv", synthetic.dump(base, 300_000, 0.5).table)
    out = tmp_path / "run"
    args = ["match", "--bundle", str(tmp_path / "bundle"), "--dump", str(dump), "--key-file", str(key)]
    code, stderr = _interrupted([*args, "--out", str(out), *workers])
    assert code == 130, stderr
    shown = [line for line in _lines(stderr) if not line.startswith("dumpmatch match: read ")]
    assert shown[-1] == "dumpmatch: interrupted" and "unexpected failure" not in stderr
    if not workers:  # worker processes get the SIGINT too, and Python prints their own traces
        assert shown == ["dumpmatch: interrupted"]
    assert not (out / "manifest.json").exists() and not (out / ".staging").exists()


def test_no_progress_on_a_pipe_or_with_quiet(tmp_path: Path) -> None:
    args, out = _inputs(tmp_path)
    assert _dumpmatch(["match", *args, "--out", str(out)], terminal=False) == ""
    assert _dumpmatch(["match", *args, "--out", str(out), "--quiet"], terminal=True) == ""
    customers = ["--customers", str(tmp_path / "customers.csv"), "--key-file", str(tmp_path / "k.key")]
    assert _dumpmatch(["sketch", *customers, "--out", str(tmp_path / "b2")], terminal=False) == ""
    sketch_line = _final_line(_dumpmatch(["sketch", *customers, "--out", str(tmp_path / "b3")], terminal=True))
    assert sketch_line.startswith("dumpmatch sketch: read ") and "(100%), 401 rows in " in sketch_line


def test_beam_counters_count_every_byte_and_row(tmp_path: Path) -> None:
    """What Dataflow shows on the job's page: bytes of every input as stored, rows read/parsed/dead-lettered."""
    base = synthetic.customers(500)
    plain = write_csv(tmp_path / "plain.csv", base)
    plain.write_bytes(plain.read_bytes() + b"ragged,row\n")
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    pq.write_table(base, tmp_path / "base.parquet", row_group_size=120)
    specs = inspect_inputs([str(tmp_path / "*")], {}, "--customers")
    pipeline = make_pipeline(PipelineOptions([]))
    _ = pipeline | ReadRecords(specs, range_bytes=4096)
    result = pipeline.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("dumpmatch"))["counters"]
    }
    assert counters["bytes_read"] == sum(spec.size for spec in specs)
    assert counters["rows_read"] == 2 * (500 + 2) + 500
    assert counters["rows_parsed"] == 3 * 500 and counters["rows_dead_lettered"] == 2
