"""Runs are atomic and repeatable: a killed run leaves no manifest, workers change no byte."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines import match
from tests.conftest import sketched_base, write_csv
from transforms import storage, synthetic

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
