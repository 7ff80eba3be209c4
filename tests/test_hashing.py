"""Keyed hashing: fixed test vectors, stability across processes, key handling."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from tests.siphash_reference import siphash24 as reference_siphash
from transforms import hashing
from transforms.errors import InputError

MATERIAL = bytes(range(32))
# Computed once from the definition below and frozen: a change here breaks every bundle.
VECTORS = [
    ("email", "john@example.com", 0xB20263899CDCD40C),
    ("email", "", 0x9FE3A7DB136E0E55),
    ("email", "ünïcode@exämple.de", 0x1811EA37E4B4F249),
    ("phone", "john@example.com", 0x250618D63662D625),
]
FINGERPRINT = "c160080b073548a4aaba8ea057268509"


def _definition(field: str, value: str) -> int:
    """The documented construction, written out independently of the module."""
    hash_key = hmac.new(MATERIAL, b"dumpmatch/v1/hash", hashlib.sha256).digest()
    field_key = hmac.new(hash_key, b"dumpmatch/v1/field:" + field.encode(), hashlib.sha256).digest()[:16]
    return reference_siphash(field_key, value.encode())


@pytest.mark.parametrize(("field", "value", "expected"), VECTORS)
def test_vectors(field: str, value: str, expected: int) -> None:
    digests, valid = hashing.keyed_digests(hashing.derive_key(MATERIAL), field, pa.array([value]))
    assert valid.tolist() == [True]
    assert int(digests[0]) == expected == _definition(field, value)


def test_fingerprint_is_fixed_and_not_the_hash_key() -> None:
    key = hashing.derive_key(MATERIAL)
    assert key.fingerprint == FINGERPRINT
    assert key.fingerprint not in key.hash_key.hex()
    assert repr(key) == f"Key(fingerprint={FINGERPRINT})"


def test_nulls_are_invalid_and_field_separates_domains() -> None:
    key = hashing.derive_key(MATERIAL)
    digests, valid = hashing.keyed_digests(key, "email", pa.array(["a@b.com", None]))
    assert valid.tolist() == [True, False]
    other, _ = hashing.keyed_digests(key, "name", pa.array(["a@b.com"]))
    assert digests[0] != other[0]


def test_stable_across_processes() -> None:
    code = (
        "import pyarrow as pa; from transforms import hashing;"
        "d,_ = hashing.keyed_digests(hashing.derive_key(bytes(range(32))), 'email', pa.array(['john@example.com']));"
        "print(int(d[0]))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert outputs == {f"{VECTORS[0][2]}\n"}


def test_short_key_refused() -> None:
    with pytest.raises(InputError, match="at least 32"):
        hashing.derive_key(b"x" * 31)


def test_key_file_hex_and_raw(tmp_path: Path) -> None:
    hex_file = tmp_path / "hex.key"
    hex_file.write_text(MATERIAL.hex() + "\n")
    raw_file = tmp_path / "raw.key"
    raw_file.write_bytes(MATERIAL)
    assert hashing.load_key(str(hex_file)).fingerprint == FINGERPRINT
    assert hashing.load_key(str(raw_file)).fingerprint == FINGERPRINT


def test_no_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hashing.KEY_ENV, raising=False)
    with pytest.raises(InputError, match="--key-file"):
        hashing.resolve_key_path(None)
    monkeypatch.setenv(hashing.KEY_ENV, "/some/key")
    assert hashing.resolve_key_path(None) == "/some/key"


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        hashing.load_key(str(tmp_path / "nope.key"))
