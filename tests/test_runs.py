"""Runs are atomic and repeatable: a killed run leaves no manifest, workers change no byte."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

from pipelines import common, match, sketch
from tests.conftest import sketched_base, write_csv
from transforms import bundle, storage, synthetic
from transforms.read import inspect_inputs

KILL_WAIT_SECONDS = 60
DUMP_ROWS = 100000
WORKERS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("runs")
    key, base = sketched_base(folder, 20000)
    write_csv(folder / "dump.csv", synthetic.dump(base, DUMP_ROWS, 0.5).table)
    return {"folder": folder, "key": key}


def _args(world: dict, out: Path) -> list[str]:
    folder = world["folder"]
    return [
        "--bundle",
        str(folder / "bundle"),
        "--dump",
        str(folder / "dump.csv"),
        "--out",
        str(out),
        "--key-file",
        str(world["key"]),
    ]


def test_a_killed_run_leaves_no_manifest_and_the_next_run_recovers(world: dict, tmp_path: Path) -> None:
    out = tmp_path / "run"
    match.run(_args(world, out))
    assert (out / "manifest.json").exists()
    process = subprocess.Popen([sys.executable, "-m", "pipelines.match", *_args(world, out)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while not (out / ".staging").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "manifest.json").exists()
    report = match.run(_args(world, out))
    assert (out / "manifest.json").exists() and not (out / ".staging").exists()
    assert report["rows"]["parsed"] == DUMP_ROWS


def test_worker_processes_give_the_same_bytes(world: dict, tmp_path: Path) -> None:
    match.run(_args(world, tmp_path / "one"))
    match.run([*_args(world, tmp_path / "two"), *WORKERS])
    for name in (
        "report.json",
        "candidates/candidates-00000-of-00001.parquet",
        "dead_letter/dead_letter-00000-of-00001.parquet",
    ):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_a_failed_run_cleans_what_it_staged(tmp_path: Path) -> None:
    stage = str(tmp_path / "run" / ".staging")
    with pytest.raises(RuntimeError), storage.cleaned_on_failure(stage):
        storage.write_bytes(storage.join(stage, "candidates", "part.parquet"), b"half")
        raise RuntimeError("worker failed")
    assert not Path(stage).exists()


def test_a_run_failing_in_the_pipeline_leaves_no_manifest(world: dict, tmp_path: Path) -> None:
    out = tmp_path / "run"
    corrupt = tmp_path / "bundle"
    shutil.copytree(world["folder"] / "bundle", corrupt)
    (corrupt / "bloom" / "email.bin").write_bytes(b"not a sketch")
    args = _args(world, out)
    args[args.index("--bundle") + 1] = str(corrupt)
    with pytest.raises(Exception, match="not a dumpmatch sketch"):
        match.run(args)
    assert not (out / ".staging").exists() and not (out / "manifest.json").exists()


def _workers(options: PipelineOptions) -> tuple[int, str]:
    direct = options.view_as(DirectOptions)
    return direct.direct_num_workers, direct.direct_running_mode


def test_a_large_input_spreads_over_a_worker_process_per_core_as_memory_allows(
    world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without direct options, an input of many tasks runs in min(cores, tasks, workers memory holds)
    worker processes; a small input, a single compressed stream, a choice of the user's, another runner or
    too little memory keep the run in this process."""
    (plain,) = inspect_inputs([str(world["folder"] / "dump.csv")], {}, "--dump")
    gib = 1 << 30
    monkeypatch.setattr(common, "_cores", lambda: 4)
    monkeypatch.setattr(common, "_available_memory", lambda: 16 * gib)
    big = dataclasses.replace(plain, size=gib)  # 64 tasks of 16 MiB
    per_worker = 2 * gib  # 0.7 x 16 GiB holds 4 workers of 2 GiB + 300 MiB
    options = PipelineOptions([])

    assert _workers(common.spread(options, [], [big], per_worker, "p")) == (4, "multi_processing")
    assert _workers(common.spread(options, [], [big], 3 * gib, "p")) == (3, "multi_processing")
    assert _workers(common.spread(options, [], [dataclasses.replace(big, size=40 << 20)] * 4, 0, "p")) == (
        4,
        "multi_processing",
    )
    assert common.spread(options, [], [plain], per_worker, "p") is options  # small
    packed = dataclasses.replace(big, compression="gzip")
    assert common.spread(options, [], [packed], per_worker, "p") is options  # one stream, one task
    chosen = PipelineOptions(["--direct_num_workers", "1"])
    assert common.spread(chosen, ["--direct_num_workers", "1"], [big], per_worker, "p") is chosen
    dataflow = PipelineOptions(["--runner", "DataflowRunner"])
    assert common.spread(dataflow, ["--runner", "DataflowRunner"], [big], per_worker, "p") is dataflow
    assert common.spread(options, [], [big], 6 * gib, "p") is options  # one worker's worth of memory
    assert _workers(common.spread(options, [], [big], per_worker, "p", 4 * gib)) == (3, "multi_processing")
    assert common.spread(options, [], [big], per_worker, "p", 12 * gib) is options  # the launcher takes it all


def test_sketch_spreads_over_worker_processes_and_writes_the_same_bundle(
    world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """sketch picks worker processes itself as match does, its launcher's growth counted too; the bundle
    is the same bytes as the one sketched in this process."""
    folder = world["folder"]
    monkeypatch.setattr(common, "SPREAD_MIN_BYTES", 0)
    monkeypatch.setattr(common, "RANGE_BYTES", 1 << 20)  # the customers as a few tasks
    monkeypatch.setattr(common, "_cores", lambda: 2)
    monkeypatch.setattr(common, "_available_memory", lambda: 16 << 30)
    args = ["--customers", str(folder / "customers.csv"), "--key-file", str(world["key"])]
    with caplog.at_level(logging.INFO, logger=common.__name__):
        sketch.run([*args, "--out", str(tmp_path / "bundle")])
    assert "dumpmatch sketch: 2 worker processes" in caplog.text
    files = sorted(p.relative_to(folder / "bundle") for p in (folder / "bundle").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "bundle") for p in (tmp_path / "bundle").rglob("*") if p.is_file())
    for name in files:
        assert (folder / "bundle" / name).read_bytes() == (tmp_path / "bundle" / name).read_bytes(), name


# BENCHMARKS.md, "06:52 UTC: sketch in worker processes", two workers: (customers, --fuzzy, MiB in all,
# the largest process's MiB).
SKETCH_MEASURED = [
    (20_000, True, 1268, 768),
    (1_000_000, False, 1578, 562),
    (1_000_000, True, 2780, 1755),
    (2_500_000, False, 1899, 754),
    (2_500_000, True, 3588, 2447),
    (5_000_000, False, 2742, 1275),
    (10_000_000, False, 4075, 2314),
]


@pytest.mark.parametrize(("customers", "fuzzy", "total", "largest"), SKETCH_MEASURED)
def test_the_memory_sketch_workers_are_expected_to_take_covers_what_the_bench_measured(
    customers: int, fuzzy: bool, total: int, largest: int
) -> None:
    launcher, worker = sketch.peak_bytes(customers, fuzzy)
    bare = common.WORKER_BASE_BYTES  # a launcher before the job, like a bare worker
    assert (launcher + 2 * worker + 3 * bare) >> 20 >= total
    assert (max(launcher, worker) + bare) >> 20 >= largest


def test_the_memory_a_worker_is_expected_to_load_covers_what_it_keeps(world: dict) -> None:
    folder = world["folder"]
    manifest = bundle.read_manifest(str(folder / "bundle"))
    loaded = bundle.load(str(folder / "bundle"), manifest["key_fingerprint"])
    kept = loaded.customer_ids.nbytes + sum(
        index.digests.nbytes + index.offsets.nbytes + index.customers.nbytes + index.bloom.bits.nbytes
        for index in loaded.fields.values()
    )
    assert kept < bundle.loaded_bytes(manifest) < 2 * kept


def test_info_logs_say_what_dumpmatch_does_not_beam_plumbing(world: dict, tmp_path: Path) -> None:
    """``--log-level info`` with worker processes: dumpmatch's own lines, not Beam's ports, harness starts,
    start-up warnings and notes on type hints (160 lines before)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "match",
            *_args(world, tmp_path / "run"),
            *WORKERS,
            "--log-level",
            "info",
        ],
        capture_output=True,
        text=True,
        timeout=KILL_WAIT_SECONDS,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    assert any(" INFO transforms.read: " in line for line in lines)
    assert [line for line in lines if " INFO transforms." not in line and " INFO pipelines." not in line] == []
