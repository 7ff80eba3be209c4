"""Scheduled reverification end to end on small data: registered dumps rerun against a re-sketched base,
diff.json names what changed, exit codes say whether it matters, cached digests give the numbers a full
run gives, changed or vanished files are reported, concurrent runs and key rotations keep the library whole,
and the same cycle works on the GCS emulator.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines import cli, common, flex, reverify
from tests.conftest import write_csv
from tests.gcs_emulator import GcsFolder, gcs_emulator_fixture, gcs_fixture  # noqa: F401 - fixtures
from tests.test_dataflow import (  # noqa: F401 - no_network is a fixture
    DATAFLOW,
    _dry_run,
    _haystack,
    _key_material,
    _leaks,
    _round_trip,
    _runner,
    no_network,
)
from transforms import bundle, diff, digest_cache, hashing, library, registry, storage, synthetic, versions
from transforms.probe import ProbeFn

CUSTOMERS = 400
ROWS_A, ROWS_B = 300, 200
REMOVED = 30  # customers of dump A taken out of the base before it is sketched again
CLI_SECONDS = 300
# Report and manifest keys that differ between two runs of one dump: what names the run, its timings, and
# the library evidence (the library grows: the other dump's entry is added by its first run).
VOLATILE = ("out", "digest_cache", "seconds", "library", "library_search")


def _dumpmatch(*argv: str | Path) -> int:
    return cli.main([str(a) for a in argv])


class World:
    """A key, a base, two dumps and their library, under one root (a local folder or gs://)."""

    def __init__(self, local: Path, root: str) -> None:
        self.local, self.root = local, root
        local.mkdir(parents=True, exist_ok=True)
        self.base = synthetic.customers(CUSTOMERS)
        generated = synthetic.dump(self.base, ROWS_A, 0.5)
        genuine = sorted({c for c in generated.source_customer.to_pylist() if c})
        self.removed, self.canary = genuine[:REMOVED], genuine[REMOVED]
        self.put_key("k.key")
        self._put_csv("customers.csv", self.base)
        self._put_csv("a.csv", generated.table)
        self._put_csv("b.csv", synthetic.dump(self.base, ROWS_B, 0.2, seed=5).table)

    def path(self, name: str) -> str:
        return storage.join(self.root, name)

    def put_key(self, name: str) -> None:
        """A fresh key, private as the commands expect of a local key file (no warning line on stderr)."""
        self._put(name, secrets.token_hex(32).encode())
        if not self.root.startswith("gs://"):
            Path(self.path(name)).chmod(0o600)

    def _put(self, name: str, data: bytes) -> None:
        storage.write_bytes(self.path(name), data)

    def _put_csv(self, name: str, table: pa.Table) -> None:
        self._put(name, write_csv(self.local / name, table).read_bytes())

    def sketch(self, *extra: str, key: str = "k.key", customers: str = "customers.csv") -> None:
        argv = ["--customers", self.path(customers), "--out", self.path("bundles"), "--versioned"]
        assert _dumpmatch("sketch", *argv, "--key-file", self.path(key), *extra) == 0

    def register(self) -> None:
        for name, file in (("forum-a", "a.csv"), ("forum-b", "b.csv")):
            assert _dumpmatch("library", "add", name, self.path(file), "--library", self.path("lib")) == 0

    def reverify(self, *extra: str, key: str = "k.key") -> int:
        argv = ["--bundle", self.path("bundles"), "--library", self.path("lib"), "--key-file", self.path(key)]
        return _dumpmatch("reverify", *argv, *extra)

    def change_base(self) -> None:
        """Takes REMOVED of dump A's customers out, plants a canary that dump A holds, sketches again."""
        keep = pc.invert(pc.is_in(self.base.column("customer_id"), pa.array(self.removed)))
        self._put_csv("customers-2.csv", self.base.filter(keep))
        self._put("canaries.txt", f"{self.canary}\n".encode())
        self.sketch("--canaries", self.path("canaries.txt"), customers="customers-2.csv")

    def index(self) -> dict[str, Any]:
        return library.read_index(self.path("lib"))

    def runs(self, name: str) -> list[dict[str, Any]]:
        return registry.registered(self.index())[name]["runs"]

    def run_path(self, name: str, position: int = -1) -> str:
        return self.path(f"lib/{self.runs(name)[position]['path']}")

    def diff(self, name: str, position: int = -1) -> dict[str, Any]:
        return storage.read_json(storage.join(self.run_path(name, position), diff.DIFF))

    def report(self, name: str, position: int = -1) -> dict[str, Any]:
        return storage.read_json(storage.join(self.run_path(name, position), "report.json"))


def _steady(data: Any) -> Any:
    """A report or manifest without what names its own run (folder, cache folder, timings)."""
    if isinstance(data, dict):
        return {k: _steady(v) for k, v in data.items() if k not in VOLATILE}
    if isinstance(data, list):
        return [_steady(v) for v in data]
    return data


def _cycle(world: World) -> None:
    """Register, reverify twice (baseline, then nothing changed), change the base, reverify: exit 3."""
    world.sketch()
    world.register()
    assert world.reverify() == common.DONE
    assert world.reverify() == common.DONE
    for name in ("forum-a", "forum-b"):
        first, second = world.runs(name)
        assert (first["cached"], second["cached"]) == (False, True)
        assert _steady(world.report(name, 0)) == _steady(world.report(name, 1))
        assert not world.diff(name)["material"] and world.diff(name)["reasons"] == []
    world.change_base()
    assert world.reverify() == common.CHANGED
    changed = world.diff("forum-a")
    assert changed["material"] and changed["cached"]
    assert changed["previous_run"] == world.run_path("forum-a", -2)
    assert changed["current_run"] == world.run_path("forum-a")
    assert changed["verdict"]["changed"]
    assert changed["verdict"]["current"] == {"label": "genuine", "confidence": 0.99}
    assert changed["fields"]["email"]["matched"]["delta"] == -REMOVED
    assert changed["customers"] == {"newly_matched": 0, "no_longer_matched": REMOVED, "file": diff.CUSTOMER_CHANGES}
    assert changed["canaries"] == {"previous": 0, "current": 1, "new": 1}
    before, after = changed["bundle"]["previous"], changed["bundle"]["current"]
    assert before["version"] < after["version"] and before["key_fingerprint"] == after["key_fingerprint"]
    reasons = " | ".join(changed["reasons"])
    for words in ("verdict changed", "email: matched rows", f"{REMOVED} customers no longer matched", "canary"):
        assert words in reasons
    changes = pq.read_table(storage.open_raw(storage.join(changed["current_run"], diff.CUSTOMER_CHANGES)))
    assert changes.column("customer_id").to_pylist() == world.removed
    assert set(changes.column("change").to_pylist()) == {diff.NO_LONGER}


@pytest.fixture(name="world")
def world_fixture(tmp_path: Path) -> World:
    return World(tmp_path / "inputs", str(tmp_path))


def test_a_changed_base_is_reported_with_what_changed_and_exit_3(world: World) -> None:
    _cycle(world)
    index_text = Path(world.path("lib"), library.INDEX).read_text()
    for customer in world.removed[:5]:
        assert customer not in index_text, "the index holds counts and labels, never a customer id"


def test_the_same_cycle_on_the_gcs_emulator(gcs: GcsFolder, tmp_path: Path) -> None:
    _cycle(World(tmp_path / "inputs", gcs.root))


def test_a_cached_run_reports_what_a_full_run_reports(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sketch()
    world.register()
    capsys.readouterr()
    assert world.reverify("--only", "forum-a") == common.DONE
    assert world.reverify("--only", "forum-a") == common.DONE
    assert world.reverify("--only", "forum-a", "--no-cache") == common.DONE
    full, cached, again = (world.report("forum-a", i) for i in range(3))
    assert [r["cached"] for r in world.runs("forum-a")] == [False, True, False]
    assert _steady(full) == _steady(cached) == _steady(again)
    rows = cached["rows"]
    assert rows["read"] == rows["parsed"] + rows["dead_lettered"] + rows["headers"] == ROWS_A + 1
    manifest = storage.read_json(storage.join(world.run_path("forum-a", 1), "manifest.json"))
    assert manifest["reverify"]["digest_cache"] == world.path(f"lib/{world.runs('forum-a')[0]['path']}").replace(
        "/runs/", "/cache/"
    )
    assert "forum-b" not in capsys.readouterr().out, "--only reruns only the dumps it names"
    cache = registry.registered(world.index())["forum-a"]["cache"]
    data = digest_cache.read_meta(world.path(f"lib/{cache['path']}"))
    assert data is not None and cache["key_fingerprint"] == data["key_fingerprint"]
    for part in data["parts"]:
        table = pq.read_table(world.path(f"lib/{cache['path']}/{part}"))
        digests = [n for n in table.column_names if not n.startswith("_")]
        assert digests and all(pa.types.is_uint64(table.schema.field(n).type) for n in digests)
        assert set(data["sketches"]) == set(digests), "the dump's own MinHash and HLL per field are cached too"


def test_a_changed_or_missing_dump_file_is_reported_and_material(world: World) -> None:
    world.sketch()
    world.register()
    assert world.reverify() == common.DONE
    a, b = Path(world.path("a.csv")), Path(world.path("b.csv"))
    a.write_bytes(a.read_bytes().replace(b"@", b"#", 5))
    b.unlink()
    assert world.reverify() == common.CHANGED
    for name, path, kind in (("forum-a", a, "changed"), ("forum-b", b, "missing")):
        found = world.diff(name)
        assert found["inputs"][kind] == [str(path)] and found["material"] and found["cached"]
        assert (
            f"1 input files {'changed since registration' if kind == 'changed' else 'are missing'}"
            in (found["reasons"][0])
        )
        assert _steady(world.report(name, 0)) == _steady(world.report(name)), "the cache holds the registered bytes"
    assert world.reverify("--no-cache") == common.CHANGED
    newest = sorted(Path(world.path("lib/dumps/forum-b/runs")).iterdir())[-1]
    gone = json.loads((newest / diff.DIFF).read_text())
    assert gone["current_run"] not in [world.path(f"lib/{r['path']}") for r in world.runs("forum-b")]
    assert gone["material"] and gone["verdict"]["current"] is None and "missing" in gone["error"]
    assert world.diff("forum-a")["inputs"]["changed"] == [str(a)] and not world.runs("forum-a")[-1]["cached"]


def test_two_reverifications_at_once_keep_the_index_whole(world: World) -> None:
    world.sketch()
    world.register()
    argv = ["--bundle", world.path("bundles"), "--library", world.path("lib"), "--key-file", world.path("k.key")]
    command = [sys.executable, "-m", "pipelines.cli", "reverify", *argv]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [process.communicate(timeout=CLI_SECONDS) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    index = json.loads(Path(world.path("lib"), library.INDEX).read_text())
    for name in ("forum-a", "forum-b"):
        runs = index["dumps"][name]["runs"]
        assert len(runs) == 2 and runs[0]["id"] < runs[1]["id"]
        assert all(Path(world.path(f"lib/{r['diff']}")).is_file() for r in runs)
        assert index["dumps"][name]["library_entries"] == [
            registry.entry_id(name, index["dumps"][name], runs[0]["bundle"]["key_fingerprint"])
        ]
        caches = list(Path(world.path(f"lib/dumps/{name}/cache")).iterdir())
        assert [c.name for c in caches] == [Path(index["dumps"][name]["cache"]["path"]).name], "the loser's is gone"
    assert len(index["entries"]) == 2


def test_a_key_rotation_is_detected_then_rekeyed(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.sketch()
    world.register()
    assert world.reverify() == common.DONE
    old = registry.registered(world.index())["forum-a"]
    world.put_key("new.key")
    world.sketch(key="new.key")
    new_fingerprint = hashing.load_key(world.path("new.key")).fingerprint
    capsys.readouterr()
    assert world.reverify() == common.INPUT_ERROR
    assert "key does not match bundle" in capsys.readouterr().err, "the newest version is under the new key"
    assert world.reverify(key="new.key") == common.INPUT_ERROR
    err = capsys.readouterr().err
    assert "dumpmatch library rekey" in err and old["key_fingerprint"] in err and len(err.splitlines()) == 1
    argv = ["--library", world.path("lib"), "--bundle", world.path("bundles"), "--key-file", world.path("new.key")]
    assert _dumpmatch("library", "rekey", *argv) == common.DONE
    rekeyed = registry.registered(world.index())["forum-a"]
    assert rekeyed["key_fingerprint"] == new_fingerprint and not rekeyed["runs"][-1]["cached"]
    assert rekeyed["cache"]["key_fingerprint"] == new_fingerprint
    assert not Path(world.path(f"lib/{old['cache']['path']}")).exists(), "the old key's cache is deleted"
    assert len(rekeyed["library_entries"]) == 2
    assert any("key rotated" in reason for reason in world.diff("forum-a")["reasons"])
    assert world.reverify(key="new.key") == common.DONE
    assert world.runs("forum-a")[-1]["cached"]
    old_bundle = storage.join(
        world.path("bundles"), versions.read_versions(world.path("bundles"))["versions"][0]["version"]
    )
    argv = ["--bundle", old_bundle, "--library", world.path("lib"), "--key-file", world.path("k.key")]
    assert _dumpmatch("reverify", *argv) == common.INPUT_ERROR, "runs under the old key are refused now"


def test_versions_folder_means_its_newest_finished_version(world: World) -> None:
    world.sketch()
    world.sketch("--bloom-fpr", "0.01")
    listed = versions.read_versions(world.path("bundles"))
    assert (
        listed is not None
        and [v["key_fingerprint"] for v in listed["versions"]]
        == [hashing.load_key(world.path("k.key")).fingerprint] * 2
    )
    newest = storage.join(world.path("bundles"), listed["versions"][-1]["version"])
    assert versions.resolve(world.path("bundles")) == newest
    assert bundle.read_manifest(newest)["version"] == listed["versions"][-1]["version"]
    Path(world.path("bundles"), "99991231T000000.000000Z").mkdir()  # a sketch still running: not listed
    assert versions.resolve(world.path("bundles")) == newest
    out = world.path("run")
    argv = ["--bundle", world.path("bundles"), "--dump", world.path("a.csv"), "--out", out]
    assert _dumpmatch("match", *argv, "--key-file", world.path("k.key")) == 0
    recorded = storage.read_json(storage.join(out, "manifest.json"))["bundle"]
    assert (recorded["path"], recorded["version"]) == (newest, listed["versions"][-1]["version"])


def test_registration_records_files_checksums_and_options(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    lib = world.path("lib")
    argv = ["library", "add", "x", world.path("a.csv"), "--library", lib, "--columns", "email=E-Mail"]
    assert _dumpmatch(*argv, "--posting-cap", "7") == 0
    registration = registry.registered(world.index())["x"]
    (entry,) = registration["inputs"]
    data = Path(world.path("a.csv")).read_bytes()
    assert entry == {"path": world.path("a.csv"), "size": len(data), "sha256": storage.sha256(world.path("a.csv"))}
    assert registration["options"]["columns"] == "email=E-Mail" and registration["options"]["posting_cap"] == 7
    assert _dumpmatch(*argv) == common.INPUT_ERROR and "--replace" in capsys.readouterr().err
    assert _dumpmatch("library", "add", "../x", world.path("a.csv"), "--library", lib) == common.INPUT_ERROR
    assert _dumpmatch("library", "list", "--library", lib) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["x", "1", f"{len(data):,}"]
    assert world.reverify() == common.INPUT_ERROR and "no finished version" not in capsys.readouterr().err


def test_thresholds_decide_what_is_material() -> None:
    strict, loose = diff.Thresholds(1, 0.0), diff.Thresholds(10, 0.5)
    assert strict.exceeded(-1, 100) and not strict.exceeded(0, 100)
    assert not loose.exceeded(-9, 10) and not loose.exceeded(-20, 100) and loose.exceeded(-60, 100)


def test_reverify_is_a_flex_template_command() -> None:
    command, args = flex.command_line(
        [
            "--command=reverify",
            "--bundle=gs://b/bundles",
            "--library=gs://b/lib",
            "--key_file=gs://s/k.key",
            "--only=forum-a",
            "--min_delta_rows=5",
            "--no_cache=true",
        ]
    )
    parsed, rest = reverify.make_parser().parse_known_args(args)
    assert command == "reverify" and rest == []
    assert (parsed.only, parsed.min_delta_rows, parsed.no_cache) == (["forum-a"], 5, True)


def test_reverify_translates_for_dataflow_from_the_flex_launcher(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    no_network: list[str],  # noqa: F811 - the fixture imported above
) -> None:
    """One job for every dump (a cached one and one read from its files), launched as a flex template would."""
    world.sketch()
    world.register()
    assert world.reverify("--only", "forum-a") == common.DONE
    argv = [
        "--command=reverify",
        f"--bundle={world.path('bundles')}",
        f"--library={world.path('lib')}",
        f"--key_file={world.path('k.key')}",
        *DATAFLOW,
    ]
    pipeline = _dry_run(flex.main, argv, monkeypatch)
    cached, read = "Dump forum-a", "Dump forum-b"
    steps = _round_trip(
        pipeline,
        {
            f"{cached}/ReadCache/ReadParts",
            f"{cached}/Probe",
            f"{cached}/Publish",
            f"{cached}/Diff",
            f"{read}/Read/Parse",
            f"{read}/Prepare/Hash",
            f"{read}/WriteCache/WriteParts",
            f"{read}/Diff",
        },
    )
    assert isinstance(steps[f"{cached}/Probe/ParDo(ProbeFn)"].fn, ProbeFn)
    assert f"{cached}/Read/Parse" not in steps, "a cached dump is not parsed"
    runner = _runner(pipeline)
    haystack = _haystack(runner.proto_pipeline.SerializeToString(), runner.job.json().encode())
    fields = list(bundle.read_manifest(versions.resolve(world.path("bundles")))["fields"])
    assert _leaks(haystack, _key_material(Path(world.path("k.key")), fields)) == []
    assert len(world.runs("forum-a")) == 1 and world.runs("forum-b") == [], "a job described, not run, records nothing"
    assert no_network == []
