"""gs:// paths end to end against a real Cloud Storage emulator over HTTP on 127.0.0.1 (no mocks).

A run on gs:// writes what the same run on local paths writes, byte for byte, except the path
strings outputs name; the console script needs nothing but ``STORAGE_EMULATOR_HOST`` and never
waits for Google credentials, worker processes included; a bad gs:// path stops the run at once
with one line naming it.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines import cli, match, sketch
from tests.conftest import write_csv
from tests.gcs_emulator import HOST, GcsFolder, free_port, gcs_emulator_fixture, gcs_fixture  # noqa: F401 - fixtures
from transforms import storage, synthetic
from transforms.gcs import EMULATOR_ENV

CUSTOMERS = 300
DUMP_ROWS = 200
GENUINE = 0.5
MALFORMED = b"ragged,row\n"
ROWS = {"read": DUMP_ROWS + 2, "parsed": DUMP_ROWS, "dead_lettered": 1, "headers": 1}
SOURCE_FILE = "source_file"
ARROW_SCHEMA = b"ARROW:schema"
# Without the fix every process that opens a gs:// path first sleeps through Beam's back-off for
# google.auth.default(): 2 + 4 + 8 + 16 s, each delay fuzzed down to no less than half, so >= 15 s.
CREDENTIAL_WAIT_SECONDS = 15.0
BAD_INPUT_SECONDS = 10.0
CLI_TIMEOUT_SECONDS = 120.0
NO_BUCKET = "gs://dumpmatch-no-such-bucket"
WORKER_PROCESSES = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


def _write_inputs(folder: Path, customers: int = CUSTOMERS, dump_rows: int = DUMP_ROWS) -> None:
    """Key, customer base and a dump with one malformed row, in a local folder."""
    folder.mkdir(parents=True)
    (folder / "k.key").write_text("cd" * 32)
    (folder / "k.key").chmod(0o600)  # a key others can read makes the commands warn, a second stderr line
    base = synthetic.customers(customers)
    write_csv(folder / "customers.csv", base)
    dump = write_csv(folder / "dump.csv", synthetic.dump(base, dump_rows, GENUINE).table)
    dump.write_bytes(dump.read_bytes() + MALFORMED)


def _upload(folder: Path, root: str) -> None:
    for path in sorted(folder.iterdir()):
        storage.write_bytes(storage.join(root, path.name), path.read_bytes())


def _arguments(root: str) -> tuple[list[str], list[str]]:
    """sketch and match arguments for a work folder laid out the same way locally and on gs://."""
    key = ["--key-file", storage.join(root, "in", "k.key")]
    bundle = storage.join(root, "bundle")
    return (
        ["--customers", storage.join(root, "in", "customers.csv"), "--out", bundle, *key],
        ["--bundle", bundle, "--dump", storage.join(root, "in", "dump.csv"), "--out", storage.join(root, "run"), *key],
    )


def _outputs(root: str) -> dict[str, bytes]:
    """Every file the runs wrote, by name relative to the work folder."""
    return {
        m.path.removeprefix(root + "/"): storage.read_bytes(m.path)
        for folder in ("bundle", "run")
        for m in storage.match(storage.join(root, folder, "**"))
    }


def _as_written_at(remote: str, local: str, name: str, data: bytes, scratch: Path) -> bytes:
    """A local output with the local work folder swapped for the remote one.

    Paths are the only thing the place may change: manifests and the report (JSON and HTML) name inputs,
    the bundle and options as text, and result tables name the dump file in their source_file column.
    """
    if name.endswith((".json", ".html")):
        return data.replace(local.encode(), remote.encode())
    table = pq.read_table(io.BytesIO(data)) if name.endswith(".parquet") else None
    if table is None or SOURCE_FILE not in table.column_names:
        return data
    position = table.column_names.index(SOURCE_FILE)
    swapped = pc.replace_substring(table[SOURCE_FILE], local, remote)
    table = table.set_column(position, table.schema.field(position), swapped).cast(_written_schema(data))
    storage.write_parquet(str(scratch), table)
    return scratch.read_bytes()


def _written_schema(data: bytes) -> pa.Schema:
    """The Arrow schema the file was written with (a Parquet reader renames list items "element")."""
    stored = pq.read_metadata(io.BytesIO(data)).metadata[ARROW_SCHEMA]
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(stored)))


def test_gcs_run_writes_the_bytes_a_local_run_writes(gcs: GcsFolder, tmp_path: Path) -> None:
    local = str(tmp_path / "work")
    _write_inputs(tmp_path / "work" / "in")
    _upload(tmp_path / "work" / "in", storage.join(gcs.root, "in"))
    stale = storage.join(gcs.root, "run", "candidates", "candidates-00001-of-00002.parquet")
    storage.write_bytes(stale, b"old")
    for root in (local, gcs.root):
        sketch_args, match_args = _arguments(root)
        sketch.run(sketch_args)
        report = match.run(match_args)
        assert report["rows"] == ROWS
        assert report["records"]["candidates"] >= DUMP_ROWS * GENUINE
    assert not storage.exists(stale)
    expected, written = _outputs(local), _outputs(gcs.root)
    assert sorted(written) == sorted(expected)
    assert {
        "bundle/manifest.json",
        "run/report.json",
        "run/manifest.json",
        "run/candidates/candidates-00000-of-00001.parquet",
        "run/dead_letter/dead_letter-00000-of-00001.parquet",
    } <= set(written)
    for name, data in written.items():
        want = _as_written_at(gcs.root, local, name, expected[name], tmp_path / "swapped.parquet")
        if name == "run/manifest.json":
            # The run manifest also holds its wall time and checksums of the (path-bearing) outputs.
            data, want = (_without(b, "timings", "outputs") for b in (data, want))
        assert data == want, name


def _without(data: bytes, *keys: str) -> dict:
    return {k: v for k, v in json.loads(data).items() if k not in keys}


def _console(args: list[str], url: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """The installed dumpmatch command with nothing in its environment but the emulator address."""
    start = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dumpmatch")), *args],
        env={EMULATOR_ENV: url},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )
    return done, time.monotonic() - start


def _assert_no_wait(
    done: subprocess.CompletedProcess[str], seconds: float, waits: int = 1, baseline: float = 0.0
) -> None:
    """Succeeded faster than ``waits`` credential waits in a row would allow, on top of ``baseline``:
    the same work on local paths, timed in the same test, so a loaded machine slows both alike."""
    assert done.returncode == 0, done.stderr
    limit = baseline + waits * CREDENTIAL_WAIT_SECONDS
    assert seconds < limit, f"{done.args[1]} took {seconds:.1f} s (local: {baseline:.1f} s): a credential wait?"


def test_sketch_and_match_commands_need_only_the_emulator_address(gcs: GcsFolder, tmp_path: Path) -> None:
    _write_inputs(tmp_path / "in")
    _upload(tmp_path / "in", storage.join(gcs.root, "in"))
    sketch_args, match_args = _arguments(gcs.root)
    for command, args in (("sketch", sketch_args), ("match", match_args)):
        _assert_no_wait(*_console([command, *args], gcs.url))
    assert storage.read_json(storage.join(gcs.root, "run", "report.json"))["rows"] == ROWS


def test_demo_on_gcs_with_worker_processes(gcs: GcsFolder, tmp_path: Path) -> None:
    """Worker processes build their own GCS clients: sketch's, then match's, would each wait."""
    out = storage.join(gcs.root, "demo")
    sizes = ["--customers", str(CUSTOMERS), "--dump-rows", str(DUMP_ROWS)]
    local, local_seconds = _console(["demo", "--out", str(tmp_path / "demo"), *sizes, *WORKER_PROCESSES], gcs.url)
    assert local.returncode == 0, local.stderr
    done, seconds = _console(["demo", "--out", out, *sizes, *WORKER_PROCESSES], gcs.url)
    _assert_no_wait(done, seconds, waits=1, baseline=local_seconds)
    assert storage.read_json(storage.join(out, "run", "report.json"))["rows"]["parsed"] == DUMP_ROWS


LEAVES = {"--key-file": "k.key", "--customers": "customers.csv", "--out": "bundle", "--bundle": "bundle"}
# Valid local inputs each command reads before the option under test (order: key, inputs, bundle, out).
LOCAL_INPUTS = {"sketch": {"--customers": "customers.csv"}, "match": {"--dump": "dump.csv"}}


def _bad_path(problem: str, root: str, option: str) -> str:
    if problem == "glob, no bucket":
        return storage.join(NO_BUCKET, "*.csv")
    base = {"no bucket": NO_BUCKET, "no object": storage.join(root, "missing"), "closed port": root}[problem]
    return storage.join(base, LEAVES[option])


@pytest.mark.parametrize(
    ("command", "option", "problem"),
    [
        ("sketch", "--key-file", "no bucket"),
        ("sketch", "--key-file", "no object"),
        ("sketch", "--key-file", "closed port"),
        ("sketch", "--customers", "no bucket"),
        ("sketch", "--customers", "no object"),
        ("sketch", "--customers", "glob, no bucket"),
        ("sketch", "--customers", "closed port"),
        ("sketch", "--out", "no bucket"),
        ("sketch", "--out", "closed port"),
        ("match", "--bundle", "no bucket"),
        ("match", "--bundle", "no object"),
        ("match", "--bundle", "closed port"),
    ],
)
def test_bad_gcs_path_is_one_line_and_exit_2(
    gcs: GcsFolder,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    option: str,
    problem: str,
) -> None:
    _write_inputs(tmp_path / "in", customers=20, dump_rows=10)
    bad = _bad_path(problem, gcs.root, option)
    arguments = {
        "--key-file": str(tmp_path / "in" / "k.key"),
        "--out": str(tmp_path / "out"),
        **{name: str(tmp_path / "in" / leaf) for name, leaf in LOCAL_INPUTS[command].items()},
        option: bad,
    }
    if problem == "closed port":
        monkeypatch.setenv(EMULATOR_ENV, f"http://{HOST}:{free_port()}")
    start = time.monotonic()
    code = cli.main([command, *(part for pair in arguments.items() for part in pair)])
    seconds = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert bad in err
    assert problem != "closed port" or "nothing answers at" in err
    assert seconds < BAD_INPUT_SECONDS
