"""Dataflow without the cloud. The real sketch and match graphs go through DataflowRunner's own
translation (a dry run) and survive a runner-API round trip, and the key never travels as a value. The
package installs from its sdist into a clean venv and is imported from there. A launch missing what
Dataflow needs stops at once, offline. The flex template's image, launcher and parameters agree with the
code.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner

from pipelines import cli, common, flex, match, sketch
from tests.conftest import applied_transforms, write_csv
from transforms import bundle, hashing, synthetic
from transforms.gcs import EMULATOR_ENV
from transforms.prepare import KeyedHashFn
from transforms.probe import ProbeFn

REPO = Path(__file__).resolve().parents[1]
METADATA = REPO / "dataflow" / "metadata.json"
DOCKERFILE = REPO / "Dockerfile"
IMAGE = "europe-west1-docker.pkg.dev/test-project/dumpmatch/dumpmatch:test"
LOCATION = ["--project=test-project", "--region=europe-west1", "--temp_location=gs://test-bucket/tmp"]
# --dry_run makes DataflowRunner translate the whole job, then stop short of contacting the service.
DATAFLOW = ["--runner=DataflowRunner", *LOCATION, f"--sdk_container_image={IMAGE}", "--dry_run=True"]
TEMPLATE_REQUIRED = {"command", "key_file"}  # a template launch has no $DUMPMATCH_KEY_FILE to fall back on
MATCH_LABELS = {
    "Read/PlanTasks",
    "Read/Spread",
    "Read/Parse",
    "Prepare/Normalize",
    "Prepare/Hash",
    "Probe",
    "WriteCandidates",
    "WriteDeadLetters",
    "AllStats",
    "Sum",
    "Distinct",
    "MinHashDump",
    "WriteReport",
}
SKETCH_LABELS = {
    "Read/PlanTasks",
    "Prepare/Hash",
    "CustomerIds",
    "Build/CombineHll",
    "Build/CombineMinhash",
    "Build/CombineBloom",
    "Build/MergeIndex",
    "Accounting",
    "WriteDeadLetters",
    "WriteManifest",
}
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{24,}={0,2}")
SUBPROCESS_SECONDS = 120
# Imports everything `dumpmatch` needs, says where from, then prints the usage as `dumpmatch --help` does.
IMPORT_CHECK = (
    "import importlib, pipelines.cli as c, pipelines.flex, transforms.read as r; "
    "[importlib.import_module(f'pipelines.{n}') for n in c.COMMANDS]; print(c.__file__, r.__file__); c.main(['--help'])"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A key, a small base and dump, and a bundle made locally: match inspects it at launch."""
    folder = tmp_path_factory.mktemp("dataflow")
    key = folder / "dumpmatch.key"
    key.write_text(secrets.token_hex(32) + "\n")
    key.chmod(0o600)
    base = synthetic.customers(50)
    customers = write_csv(folder / "customers.csv", base)
    dump = write_csv(folder / "dump.csv", synthetic.dump(base, 40, 0.5).table)
    sketch.run(["--customers", str(customers), "--out", str(folder / "bundle"), "--key-file", str(key)])
    return {"folder": folder, "key": key, "customers": customers, "dump": dump, "bundle": folder / "bundle"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuses and records every connection or name lookup in this process, so a test fails if the code
    would talk to Google instead of stopping first."""
    attempts: list[str] = []

    def refuse(*args: Any, **_: Any) -> Any:
        attempts.append(repr(args[:2]))
        raise OSError("network refused by tests/test_dataflow.py")

    for owner, name in ((socket.socket, "connect"), (socket.socket, "connect_ex")):
        monkeypatch.setattr(owner, name, refuse)
    for name in ("getaddrinfo", "create_connection"):
        monkeypatch.setattr(socket, name, refuse)
    return attempts


def _dry_run(
    run: Callable[[Sequence[str] | None], Any], argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> beam.Pipeline:
    """Runs a command with --dry_run; returns its pipeline, whose DataflowRunner translated the graph."""
    made: list[beam.Pipeline] = []
    real = common.make_pipeline

    def recording(options: PipelineOptions) -> beam.Pipeline:
        made.append(real(options))
        return made[-1]

    monkeypatch.setattr(common, "make_pipeline", recording)
    assert run(argv) in ({}, 0), "a dry run submits nothing, so there is nothing to publish or report"
    (pipeline,) = made
    return pipeline


def _runner(pipeline: beam.Pipeline) -> DataflowRunner:
    runner = pipeline.runner
    assert isinstance(runner, DataflowRunner)
    return runner


def _match_argv(world: dict[str, Path], out: Path) -> list[str]:
    return ["--bundle", str(world["bundle"]), "--dump", str(world["dump"]), "--out", str(out)]


def _labels(proto: beam_runner_api_pb2.Pipeline) -> set[str]:
    return {t.unique_name for t in proto.components.transforms.values()}


def _restored(pipeline: beam.Pipeline) -> beam.Pipeline:
    """The job's proto back into a Pipeline: every DoFn and CombineFn is unpickled, as a worker would."""
    return beam.Pipeline.from_runner_api(_runner(pipeline).proto_pipeline, DataflowRunner(), pipeline.options)


def _round_trip(pipeline: beam.Pipeline, wanted: set[str]) -> dict[str, Any]:
    """The job's proto → a Pipeline → a proto again, with the same steps; returns the restored steps."""
    proto = _runner(pipeline).proto_pipeline
    assert wanted <= _labels(proto), f"missing steps: {sorted(wanted - _labels(proto))}"
    restored = _restored(pipeline)
    again = restored.to_runner_api()
    assert wanted <= _labels(again) and _labels(again) == _labels(proto)
    images = {
        beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
        for env in proto.components.environments.values()
    }
    assert images == {IMAGE}, "workers must run the image that holds this package"
    return applied_transforms(restored)


def _unpickled(blob: bytes) -> Iterator[bytes]:
    """Beam stores each pickled object as base64 of its bz2 (or zlib) compression, inside the proto bytes.
    A match may carry up to three stray base64 characters on either side (a length byte, a field tag)."""
    for found in BASE64_RUN.finditer(blob):
        run = found.group()
        cuts = ((start, end) for start in range(4) for end in range(len(run), len(run) - 4, -1))
        decoded = (_decompressed(run[start:end]) for start, end in cuts if end > start and (end - start) % 4 == 0)
        pickle = next((d for d in decoded if d is not None), None)
        if pickle is not None:
            yield pickle


def _decompressed(text: bytes) -> bytes | None:
    try:
        packed = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    for decompress in (bz2.decompress, zlib.decompress):
        try:
            return decompress(packed)
        except (OSError, EOFError, ValueError, zlib.error):
            continue
    return None


def _haystack(*blobs: bytes) -> bytes:
    return b"\n".join([*blobs, *(p for blob in blobs for p in _unpickled(blob))])


def _key_material(key_file: Path, fields: list[str]) -> dict[str, bytes]:
    """Every form of the secret that must never ride in a job: the file, its bytes, every derived key."""
    text = key_file.read_bytes().strip()
    key = hashing.load_key(str(key_file))
    material = {"key file text": text, "key bytes": bytes.fromhex(text.decode()), "hash key": key.hash_key}
    material.update({f"{field} SipHash key": hashing.field_key(key, field) for field in fields})
    return material


def _leaks(haystack: bytes, material: dict[str, bytes]) -> list[str]:
    return [name for name, secret in material.items() if secret in haystack]


def test_match_graph_translates_for_dataflow_and_round_trips(
    world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    """DataflowRunner rewrites the graph itself (side inputs, overrides, environments): a graph the local
    runner accepts can still fail there, and a DoFn that does not unpickle fails only on a worker."""
    key = world["key"]
    pipeline = _dry_run(
        match.run, [*_match_argv(world, tmp_path / "run"), "--key-file", str(key), *DATAFLOW], monkeypatch
    )
    steps = _round_trip(pipeline, MATCH_LABELS)
    hash_fn = steps["Prepare/Hash"].fn
    assert isinstance(hash_fn, KeyedHashFn) and hash_fn._key_path == str(key) and hash_fn._key is None
    assert isinstance(steps["Probe/ParDo(ProbeFn)"].fn, ProbeFn)
    assert no_network == []


def test_sketch_graph_translates_for_dataflow_and_round_trips(
    world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    argv = ["--customers", str(world["customers"]), "--out", str(tmp_path / "bundle"), "--key-file", str(world["key"])]
    steps = _round_trip(_dry_run(sketch.run, [*argv, *DATAFLOW], monkeypatch), SKETCH_LABELS)
    assert steps["Prepare/Hash"].fn._key_path == str(world["key"])
    assert not (tmp_path / "bundle" / bundle.MANIFEST).exists(), "a job that did not run has no manifest"
    assert no_network == []


@pytest.mark.parametrize("command", ["match", "sketch"])
@pytest.mark.parametrize("where", ["file", "secret manager"])
def test_the_job_carries_the_key_path_never_the_key(
    world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, where: str
) -> None:
    """Dataflow shows and stores the job: its graph, pickled DoFns and options may name the key only, a file
    or a Secret Manager version that every worker reads itself."""
    key = world["key"]
    name = str(key)
    if where == "secret manager":
        from google.cloud import secretmanager

        name = "gcpsm://projects/test-project/secrets/dumpmatch-key/versions/1"
        payload = SimpleNamespace(payload=SimpleNamespace(data=key.read_bytes()))
        client = SimpleNamespace(access_secret_version=lambda name: payload)
        monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", lambda: client)
    if command == "match":
        run, argv = match.run, _match_argv(world, tmp_path / "run")
    else:
        run, argv = sketch.run, ["--customers", str(world["customers"]), "--out", str(tmp_path / "bundle")]
    runner = _runner(_dry_run(run, [*argv, "--key-file", name, *DATAFLOW], monkeypatch))
    options = json.dumps(runner.job.options.get_all_options(), default=str).encode()
    haystack = _haystack(runner.proto_pipeline.SerializeToString(), runner.job.json().encode(), options)
    assert name.encode() in haystack, "the pickled DoFns must be readable here, or this test proves nothing"
    fields = bundle.read_manifest(str(world["bundle"]))["fields"]
    assert fields
    assert _leaks(haystack, _key_material(key, list(fields))) == []


class _LeakyFn(beam.DoFn):
    """What the key check must catch: a DoFn that pickles the key itself."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def process(self, element: Any) -> Iterator[Any]:
        yield element


def test_the_key_check_finds_a_key_pickled_into_a_dofn(world: dict[str, Path]) -> None:
    """Pickles are compressed inside the proto: without this, a search that sees nothing would pass."""
    material = _key_material(world["key"], ["email"])
    pipeline = beam.Pipeline(options=PipelineOptions([]))
    _ = pipeline | beam.Create([1]) | "Leak" >> beam.ParDo(_LeakyFn(material["hash key"]))
    haystack = _haystack(pipeline.to_runner_api().SerializeToString())
    assert _leaks(haystack, material) == ["hash key"]


@pytest.mark.parametrize(
    ("beam_args", "problem"),
    [
        (["--project", "p", "--region", "r"], "no --temp_location"),
        (["--project", "p", "--region", "r", "--temp_location", "/local/tmp"], "--temp_location /local/tmp is not"),
        (["--project", "p", "--region", "r", "--temp_location", "gs://b"], "--temp_location gs://b is not"),
        (["--region", "r", "--temp_location", "gs://b/tmp"], "no --project"),
        (["--project", "p", "--staging_location", "gs://b/staging"], "no --region"),
    ],
)
def test_a_dataflow_launch_missing_what_it_needs_stops_before_reading_anything(
    tmp_path: Path, no_network: list[str], capsys: pytest.CaptureFixture[str], beam_args: list[str], problem: str
) -> None:
    """Beam would notice only after the key, bundle and dump were read, and without a location it first tries
    to create a bucket over the network. The inputs here do not exist: only the runner check can answer."""
    out = tmp_path / "run"
    out.mkdir()
    stale = out / "report.json"
    stale.write_text("{}")
    code = cli.main(
        [
            "match",
            *["--bundle", str(tmp_path / "no-bundle"), "--dump", str(tmp_path / "no-dump.csv"), "--out", str(out)],
            *["--key-file", str(tmp_path / "no.key"), "--runner", "DataflowRunner", *beam_args],
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert problem in err and "DataflowRunner needs" in err
    assert stale.exists(), "nothing may be deleted before the launch is known to be possible"
    assert no_network == []


def test_an_unknown_runner_stops_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--customers", str(tmp_path / "none.csv"), "--out", str(tmp_path / "b"), "--runner", "DataflowRuner"]
    assert cli.main(["sketch", *argv]) == 2
    assert "unknown runner 'DataflowRuner'" in capsys.readouterr().err


def test_a_checkout_ships_its_setup_py_unless_workers_get_the_package_otherwise() -> None:
    """Workers unpickle our DoFns: without the package they fail minutes into the job."""

    def setup_file(*extra: str) -> str | None:
        options = common.beam_options(["--runner=DataflowRunner", *LOCATION, *extra], "test")
        return options.view_as(SetupOptions).setup_file

    assert setup_file() == str(REPO / "setup.py")
    assert setup_file("--sdk_container_image", IMAGE) is None
    assert setup_file("--requirements_file", "requirements.txt") is None
    assert setup_file("--setup_file", "/elsewhere/setup.py") == "/elsewhere/setup.py"
    assert common.beam_options([], "test").view_as(SetupOptions).setup_file is None, "the local runner needs none"


def test_flex_template_parameters_reach_the_graph(
    world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    """What the template launcher passes: --name=value per parameter, Beam's options, --template_location."""
    argv = [
        "--command=match",
        f"--bundle={world['bundle']}",
        f"--dump={world['dump']}",
        f"--out={tmp_path / 'run'}",
        f"--key_file={world['key']}",
        "--posting_cap=7",
        "--allow_truncated=true",
        *DATAFLOW,
        "--staging_location=gs://test-bucket/staging",
        "--template_location=gs://test-bucket/staging/template_launches/1/job_object",
        "--job_name=dumpmatch-test",
    ]
    steps = applied_transforms(_restored(_dry_run(flex.main, argv, monkeypatch)))
    assert steps["Probe/ParDo(ProbeFn)"].fn._posting_cap == 7
    assert no_network == []


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--out=gs://b/o"], "give the parameter command once"),
        (["--command=match", "--command=sketch"], "give the parameter command once"),
        (["--command=demo"], "give the parameter command once"),
        (["--command=match", "--allow_truncated=yes"], "allow_truncated must be true or false"),
    ],
)
def test_flex_template_refuses_bad_parameters_in_one_line(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert flex.main(argv) == 2
    err = capsys.readouterr().err
    assert problem in err and len(err.splitlines()) == 1


def test_template_parameters_are_the_commands_options() -> None:
    """A new option without a template parameter is out of reach from the console, a stale parameter breaks
    the launch, and a regex that refuses a default makes the UI refuse a valid run."""
    meta = json.loads(METADATA.read_text())
    params = {p["name"]: p for p in meta["parameters"]}
    assert meta["name"] and meta["description"] and len(params) == len(meta["parameters"])
    actions = {
        command: {a.dest: a for a in make_parser()._actions if a.option_strings and a.dest != "help"}
        for command, (_, make_parser) in flex.COMMANDS.items()
    }
    assert set(params) == {"command"} | {dest for options in actions.values() for dest in options}
    assert {name for name, p in params.items() if not p["isOptional"]} == TEMPLATE_REQUIRED
    assert all(p["label"] and p["helpText"] and isinstance(p["isOptional"], bool) for p in params.values())
    for command, options in actions.items():
        for dest, action in options.items():
            if action.required and dest not in TEMPLATE_REQUIRED:
                required_for = params[dest]["helpText"].split(".")[0]  # "Required for match and reverify"
                assert required_for.startswith("Required for ") and command in required_for.split(), dest
            regexes = params[dest].get("regexes", [])
            examples = [str(c) for c in action.choices or ()]
            if action.default not in (None, False):
                examples.append(str(action.default))
            for example in examples:
                assert all(re.fullmatch(r, example) for r in regexes), f"{dest}: regex refuses {example!r}"
    (command_regex,) = params["command"]["regexes"]
    candidates = ("sketch", "match", "reverify", "demo")
    assert [c for c in candidates if re.fullmatch(command_regex, c)] == list(flex.COMMANDS)
    (key_regex,) = params["key_file"]["regexes"]
    assert re.fullmatch(key_regex, "gs://secure-bucket/dumpmatch.key")
    assert re.fullmatch(key_regex, "gcpsm://projects/p/secrets/dumpmatch-key/versions/2")
    assert not any(re.fullmatch(key_regex, value) for value in ("5c" * 32, "/home/me/dumpmatch.key", "gs://b"))


def test_image_matches_the_pins_and_holds_the_launcher() -> None:
    """The Beam version lives in setup.py and in the image tag; launch and workers must not differ."""
    text = DOCKERFILE.read_text()
    pin = re.search(r'"apache-beam\[gcp\]==([^"]+)"', (REPO / "setup.py").read_text())
    assert pin and f"FROM apache/beam_python3.11_sdk:{pin.group(1)}\n" in text
    assert pin.group(1) == beam.__version__
    assert "python311-template-launcher-base" in text, "launcher and SDK image must share a Python"
    launcher = re.search(r"^ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/(\S+)$", text, re.MULTILINE)
    assert launcher and (REPO / launcher.group(1)).is_file()
    copied = {word for line in re.findall(r"^COPY (?!--)(.+)$", text, re.MULTILINE) for word in line.split()[:-1]}
    assert {"setup.py", "pipelines", "transforms", "dataflow"} <= copied


def _ignore_for_sdist(folder: str, names: list[str]) -> set[str]:
    """What a fresh clone does not have: environments, caches, build leftovers, outputs, keys."""
    patterns = (".venv", ".git", "__pycache__", "build", "dist", "*.egg-info", ".*_cache", "*-out", "*.key")
    return {n for n in names if any(Path(n).match(p) for p in patterns)}


def _checked(*argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=SUBPROCESS_SECONDS
    )
    assert done.returncode == 0, f"{' '.join(map(str, argv))}\n{done.stderr[-2000:]}"
    return done.stdout


def test_sdist_installs_into_a_clean_venv_and_runs_from_there(tmp_path: Path) -> None:
    """Workers install what setup.py packages, not the checkout: a module left out fails only there."""
    source, dist, wheels, venv = (tmp_path / name for name in ("source", "dist", "wheels", "venv"))
    shutil.copytree(REPO, source, ignore=_ignore_for_sdist)
    # What Beam's stager runs for --setup_file when the build package is absent.
    _checked(sys.executable, "setup.py", "-q", "sdist", "--dist-dir", dist, cwd=source)
    (sdist,) = dist.glob("dumpmatch-*.tar.gz")
    with tarfile.open(sdist) as tar:
        packaged = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    modules = {
        str(p.relative_to(source)) for package in ("pipelines", "transforms") for p in (source / package).glob("*.py")
    }
    assert modules <= packaged, f"left out of the sdist: {sorted(modules - packaged)}"
    assert not [name for name in packaged if name.endswith((".key", ".parquet")) or "-out/" in name]

    # pip installs an sdist by building a wheel from it; offline, that needs setuptools >= 70.1 here
    # (bdist_wheel built in), so the fresh venv needs no build tools and no network: only the package.
    no_index = ("--no-deps", "--no-index", "-q")
    _checked(sys.executable, "-m", "pip", "wheel", *no_index, "--no-build-isolation", "-w", wheels, sdist)
    (wheel,) = wheels.glob("dumpmatch-*.whl")
    _checked(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _checked(sys.executable, "-m", "pip", "--python", python, "install", *no_index, wheel)
    site = Path(_checked(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    assert sorted(p.name for p in site.iterdir() if not p.name.endswith("-info")) == ["pipelines", "transforms"]
    # Dependencies (Beam, pyarrow, ...) come from this test's environment through path entries; the
    # editable dumpmatch there is a .pth hook, which a path entry does not run.
    (site / "deps.pth").write_text("".join(f"{p}\n" for p in sys.path if Path(p).name == "site-packages"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env[EMULATOR_ENV] = "http://127.0.0.1:9"  # were gs:// ever opened, fail in seconds, not after a credential wait

    where, usage = _checked(python, "-I", "-c", IMPORT_CHECK, cwd=elsewhere, env=env).split("\n", 1)
    assert all(Path(f).is_relative_to(site) for f in where.split()), where
    assert usage.startswith("usage: dumpmatch")
    # The console script, and an installed copy has no setup.py to stage: without an image, workers could
    # not import it.
    gs = ["--bundle", "gs://b/bundle", "--dump", "gs://b/dump.csv", "--out", "gs://b/run", "--key-file", "gs://b/k"]
    launch = subprocess.run(
        [str(venv / "bin" / "dumpmatch"), "match", *gs, "--runner=DataflowRunner", *LOCATION],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )
    assert launch.returncode == 2 and "--sdk_container_image" in launch.stderr, launch.stderr
    assert len(launch.stderr.splitlines()) == 1, launch.stderr
