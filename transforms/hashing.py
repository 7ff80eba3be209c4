"""Keyed hashing: every normalized value becomes H(key, field, value).

The PRF is SipHash-2-4 (64-bit output) under a per-field 128-bit key, computed over
whole arrays (``siphash.py``). The key file's bytes are never used directly:
labelled HMAC-SHA256 derivations give the hashing key, each field's SipHash key and
the fingerprint, so the fingerprint stored in a manifest reveals nothing about them.

The key is named, never passed: a file (local or gs://) or a secret-manager reference
(``secretstore``), from ``--key-file`` or ``$DUMPMATCH_KEY_FILE``. Jobs carry that name;
each process reads the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import string
import sys
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from transforms import secretstore, siphash
from transforms.errors import InputError
from transforms.storage import read_bytes

KEY_ENV = "DUMPMATCH_KEY_FILE"
MIN_KEY_BYTES = 32
_HASH_LABEL = b"dumpmatch/v1/hash"
_FINGERPRINT_LABEL = b"dumpmatch/v1/fingerprint"
_FIELD_LABEL = b"dumpmatch/v1/field:"


@dataclass(frozen=True)
class Key:
    """Derived key material; repr never shows the secret."""

    hash_key: bytes
    fingerprint: str

    def __repr__(self) -> str:
        return f"Key(fingerprint={self.fingerprint})"


def derive_key(material: bytes) -> Key:
    """Derives the hashing key and the public fingerprint from key material."""
    if len(material) < MIN_KEY_BYTES:
        raise InputError(
            f"key has {len(material)} bytes; at least {MIN_KEY_BYTES} are needed "
            "(make one with: openssl rand -hex 32 > dumpmatch.key)"
        )
    hash_key = hmac.new(material, _HASH_LABEL, hashlib.sha256).digest()
    fingerprint = hmac.new(material, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:32]
    return Key(hash_key=hash_key, fingerprint=fingerprint)


def parse_key_file(data: bytes) -> bytes:
    """Key files hold hex text (``openssl rand -hex 32``) or raw random bytes."""
    text = data.strip()
    if text and all(chr(c) in string.hexdigits for c in text) and len(text) % 2 == 0:
        return bytes.fromhex(text.decode("ascii"))
    return data


def resolve_key_path(key_file: str | None) -> str:
    """The key's name (a path or a secret reference) from ``--key-file`` or the environment; no default."""
    path = key_file or os.environ.get(KEY_ENV)
    if not path:
        raise InputError(f"no key given: pass --key-file PATH or set {KEY_ENV}")
    return path


def load_key(path: str) -> Key:
    """Reads and derives the key from a file (local or gs://) or a secret manager."""
    if secretstore.is_reference(path):
        return derive_key(parse_key_file(secretstore.read(path)))
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        raise InputError(f"key file {path} does not exist: pass --key-file with an existing file") from None
    return derive_key(parse_key_file(data))


def exposure(path: str) -> str | None:
    """Why a local key file is unsafe (other users may read or replace it), or None. Objects in a bucket or
    a secret manager are guarded by their access policies, which a process cannot judge from here."""
    if "://" in path or os.name != "posix":
        return None
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"key file {path} is accessible to other users (mode {mode:04o}): chmod 600 {path}"
    return None


def open_key(key_file: str | None) -> tuple[str, Key]:
    """At launch: the key's name, for the job to carry, and the key; warns on stderr about an exposed file."""
    path = resolve_key_path(key_file)
    key = load_key(path)
    warning = exposure(path)
    if warning:
        print(f"dumpmatch: warning: {warning}", file=sys.stderr)
    return path, key


def field_key(key: Key, field: str) -> bytes:
    """The field's own SipHash key: the same value under two fields gives unrelated digests."""
    return hmac.new(key.hash_key, _FIELD_LABEL + field.encode("utf-8"), hashlib.sha256).digest()[: siphash.KEY_BYTES]


def keyed_digests(key: Key, field: str, values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Hashes a string array; returns (uint64 digests, valid mask). Nulls hash to 0, invalid."""
    valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    digests = siphash.siphash24(field_key(key, field), values.cast(pa.string()))
    digests[~valid] = 0
    return digests, valid
