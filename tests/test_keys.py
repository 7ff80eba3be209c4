"""Key handling: where a key may come from (file, $DUMPMATCH_KEY_FILE, a secret manager through the one
provider registry), the warning about a key file others can read, and rotation (SECURITY.md)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines import cli, match, sketch
from tests.conftest import write_csv, write_key
from tests.leaks import Needles, scan_tree
from transforms import bundle, hashing, secretstore, storage, synthetic
from transforms.errors import InputError

MATERIAL = bytes(range(100, 132))
SECRET = "fakesm://team/dumpmatch-key"
GCP_NAME = "projects/p/secrets/dumpmatch-key/versions/3"


class _Provider:
    """A secret manager in memory; counts reads, since every process must read the key itself."""

    def __init__(self, secrets: dict[str, bytes]) -> None:
        self.secrets = secrets
        self.reads = 0

    def read(self, name: str) -> bytes:
        self.reads += 1
        if name not in self.secrets:
            raise secretstore.SecretError(f"no secret {name}")
        return self.secrets[name]


@pytest.fixture
def provider() -> Iterator[_Provider]:
    fake = _Provider({"team/dumpmatch-key": MATERIAL.hex().encode() + b"\n"})
    secretstore.register("fakesm", fake)
    yield fake
    secretstore.unregister("fakesm")


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    base = synthetic.customers(120)
    return {
        "customers": write_csv(tmp_path / "customers.csv", base),
        "dump": write_csv(tmp_path / "dump.csv", synthetic.dump(base, 60, 0.5).table),
    }


def _material_forms(material: bytes) -> Needles:
    key = hashing.derive_key(material)
    secrets = {material: "key bytes", key.hash_key: "hash key", hashing.field_key(key, "email"): "email key"}
    return Needles({s.hex().encode(): f"{what} (hex)" for s, what in secrets.items()}, secrets)


def test_a_key_from_a_secret_manager_registered_through_the_provider_interface(
    provider: _Provider, inputs: dict[str, Path], tmp_path: Path
) -> None:
    bundle_path, run = str(tmp_path / "bundle"), str(tmp_path / "run")
    sketch.run(["--customers", str(inputs["customers"]), "--out", bundle_path, "--key-file", SECRET])
    report = match.run(["--bundle", bundle_path, "--dump", str(inputs["dump"]), "--out", run, "--key-file", SECRET])
    assert report["records"]["candidates"] >= 25
    assert bundle.read_manifest(bundle_path)["key_fingerprint"] == hashing.derive_key(MATERIAL).fingerprint
    assert provider.reads >= 4, "the launcher and the workers each read the key, never receive it"
    assert scan_tree(tmp_path, _material_forms(MATERIAL))[0] == []
    with pytest.raises(InputError, match=r"^fakesm://team/other: no secret team/other$"):
        hashing.load_key("fakesm://team/other")


def test_google_secret_manager_is_the_built_in_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.api_core.exceptions import PermissionDenied
    from google.cloud import secretmanager

    asked: list[str] = []

    class Client:
        def access_secret_version(self, name: str) -> SimpleNamespace:
            asked.append(name)
            if name != GCP_NAME:
                raise PermissionDenied(name)
            return SimpleNamespace(payload=SimpleNamespace(data=MATERIAL))

    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", Client)
    assert hashing.load_key(f"gcpsm://{GCP_NAME}").fingerprint == hashing.derive_key(MATERIAL).fingerprint
    with pytest.raises(InputError, match=r"cannot read the secret \(PermissionDenied\): check the name"):
        hashing.load_key("gcpsm://projects/p/secrets/other/versions/1")
    with pytest.raises(InputError, match="expected projects/P/secrets/S/versions/V"):
        hashing.load_key("gcpsm://my-key")
    assert asked == [GCP_NAME, "projects/p/secrets/other/versions/1"]


def test_the_key_file_may_come_from_the_environment(
    inputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = write_key(tmp_path / "env.key")
    monkeypatch.setenv(hashing.KEY_ENV, str(key))
    assert cli.main(["sketch", "--customers", str(inputs["customers"]), "--out", str(tmp_path / "b")]) == 0
    assert bundle.read_manifest(str(tmp_path / "b"))["key_fingerprint"] == hashing.load_key(str(key)).fingerprint
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("mode", "warned"), [(0o600, False), (0o400, False), (0o640, True), (0o604, True), (0o620, True)]
)
def test_a_key_file_other_users_can_reach_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: int, warned: bool
) -> None:
    key = write_key(tmp_path / "k.key")
    key.chmod(mode)
    hashing.open_key(str(key))
    err = capsys.readouterr().err
    assert (f"key file {key} is accessible to other users (mode {mode:04o}): chmod 600 {key}" in err) is warned
    assert hashing.exposure("gs://bucket/k.key") is None and hashing.exposure(SECRET) is None


def test_rotation_refuses_every_mix_of_old_and_new(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rotate = make a new key, sketch again, match again. Afterwards the old key and the new bundle, or the
    new key and an old bundle, stop before reading any dump (exit 2, both fingerprints named), and library
    entries made under the old key are never compared with new runs."""
    old_key, new_key = write_key(tmp_path / "old.key"), write_key(tmp_path / "new.key")
    bundle_path, old_bundle, library = tmp_path / "bundle", tmp_path / "bundle-old", tmp_path / "library"

    def argv(command: str, folder: Path, out: Path, key: Path, *extra: str) -> list[str]:
        source = ["--customers", str(inputs["customers"])] if command == "sketch" else ["--bundle", str(folder)]
        dump = ["--dump", str(inputs["dump"])] if command == "match" else []
        return [*source, *dump, "--out", str(out), "--key-file", str(key), *extra]

    sketch.run(argv("sketch", bundle_path, bundle_path, old_key))
    shutil.copytree(bundle_path, old_bundle)
    old_run = tmp_path / "run-old"
    match.run(argv("match", bundle_path, old_run, old_key, "--library", str(library)))
    sketch.run(argv("sketch", bundle_path, bundle_path, new_key))  # the rotation
    old_fp, new_fp = (hashing.load_key(str(k)).fingerprint for k in (old_key, new_key))
    before = {p: p.read_bytes() for p in old_run.rglob("*") if p.is_file()}

    assert cli.main(["match", *argv("match", bundle_path, old_run, old_key)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"key does not match bundle {bundle_path}: the bundle was sketched with key fingerprint {new_fp}" in err
    assert {p: p.read_bytes() for p in old_run.rglob("*") if p.is_file()} == before, "refused before any work"

    assert cli.main(["match", *argv("match", old_bundle, tmp_path / "r2", new_key)]) == 2
    assert f"sketched with key fingerprint {old_fp}, this key's is {new_fp}" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()

    report = match.run(argv("match", bundle_path, tmp_path / "r3", new_key, "--library", str(library)))
    assert report["library_search"]["compared"] == 0 and report["library_search"]["skipped_other_key"] == 1
    assert storage.read_json(str(tmp_path / "r3" / "manifest.json"))["bundle"]["key_fingerprint"] == new_fp
