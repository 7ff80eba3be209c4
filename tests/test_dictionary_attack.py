"""Without the key a bundle answers no "is this email a customer?" question.

The attacker holds the whole bundle (manifest, Bloom filters, HyperLogLogs, MinHashes, index) and a list
of emails, some of them customers. Each sketch gives a membership oracle: Bloom "may contain", HLL "the
value's register already holds at least its rank", MinHash "no permutation puts the value below the
stored minimum", index "the digest is listed". The attacker digests the emails every way they can
without the key — a guessed key, a weak key, SipHash with a zero key, unkeyed SHA-256 and MD5 — and
compares the oracle's hit rate on known members with its rate on random addresses. A two-proportion
z-test must find no difference (|z| < 4); with the real key the same test must find one (z > 8), or
the oracle proves nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipelines import sketch
from tests.conftest import write_csv
from transforms import bundle, hashing, normalize, siphash, sketches, storage, synthetic

CUSTOMERS = 2000
MATERIAL = bytes(range(7, 39))
FIELD = "email"
NO_DIFFERENCE = 4.0
DIFFERENCE = 8.0

Digest = Callable[[pa.Array], np.ndarray]


def _keyed(material: bytes) -> Digest:
    key = hashing.derive_key(material)
    return lambda values: hashing.keyed_digests(key, FIELD, values)[0]


def _unkeyed(name: str) -> Digest:
    def digest(values: pa.Array) -> np.ndarray:
        prefixes = [hashlib.new(name, v.encode()).digest()[:8] for v in values.to_pylist()]
        return np.frombuffer(b"".join(prefixes), dtype="<u8").copy()

    return digest


ATTACKS: dict[str, Digest] = {
    "guessed key": _keyed(np.random.default_rng(5).bytes(32)),
    "all-zero key": _keyed(bytes(32)),
    "SipHash, zero key": lambda values: siphash.siphash24(bytes(siphash.KEY_BYTES), values),
    "SHA-256, first 8 bytes": _unkeyed("sha256"),
    "MD5, first 8 bytes": _unkeyed("md5"),
}
Oracle = Callable[[np.ndarray], np.ndarray]


def _oracles(folder: str, fingerprint: str) -> dict[str, Oracle]:
    """One membership test per kind of file in the bundle, from the files alone (as an attacker has them)."""

    def decoded(kind: str) -> object:
        return sketches.decode(storage.read_bytes(bundle.sketch_path(folder, kind, FIELD)), kind, FIELD, fingerprint)

    bloom, hll, minhash = decoded("bloom"), decoded("hll"), decoded("minhash")
    listed = storage.read_parquet(bundle.index_path(folder, FIELD)).column("digest").to_numpy()

    def hll_consistent(digests: np.ndarray) -> np.ndarray:
        index = (digests & np.uint64(hll.m - 1)).astype(np.int64)
        bit_length = np.frexp((digests >> np.uint64(hll.p)).astype(np.float64))[1]
        return hll.reg[index] >= hll.max_rank - bit_length + 1

    def minhash_consistent(digests: np.ndarray) -> np.ndarray:
        a, b = minhash.permutations
        with np.errstate(over="ignore"):
            permuted = sketches._fmix(digests.reshape(-1, 1), 64) * a + b
        return np.all(permuted >= minhash.hashvalues, axis=1)

    return {
        "bloom": bloom.contains,
        "hll": hll_consistent,
        "minhash": minhash_consistent,
        "index": lambda digests: np.isin(digests, listed),
    }


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Oracle], pa.Array, pa.Array]:
    """The bundle, its oracles, the customers' emails and as many random ones, normalized as dumpmatch does."""
    folder = tmp_path_factory.mktemp("attack")
    (folder / "k.key").write_bytes(MATERIAL)
    (folder / "k.key").chmod(0o600)
    base = synthetic.customers(CUSTOMERS)
    write_csv(folder / "customers.csv", base)
    out = str(folder / "bundle")
    sketch.run(["--customers", str(folder / "customers.csv"), "--out", out, "--key-file", str(folder / "k.key")])
    rng = np.random.default_rng(11)
    randoms = [f"{rng.integers(1 << 40):x}.{rng.integers(1 << 20)}@example.org" for _ in range(CUSTOMERS)]
    members = normalize.email(base.column("email").combine_chunks())
    fingerprint = bundle.read_manifest(out)["key_fingerprint"]
    return out, _oracles(out, fingerprint), members, normalize.email(pa.array(randoms))


def _z(hits_a: int, hits_b: int, n: int) -> float:
    """Two-proportion z statistic with a pooled rate (0 when neither or both always hit)."""
    pooled = (hits_a + hits_b) / (2 * n)
    if pooled in (0.0, 1.0):
        return 0.0
    return (hits_a - hits_b) / n / math.sqrt(pooled * (1 - pooled) * 2 / n)


def _z_for(oracle: Oracle, digest: Digest, members: pa.Array, randoms: pa.Array) -> float:
    return _z(int(oracle(digest(members)).sum()), int(oracle(digest(randoms)).sum()), len(members))


def test_every_kind_of_file_in_a_bundle_is_attacked(attacked: tuple) -> None:
    """A new kind of bundle file (fuzzy LSH, say) needs its own oracle here before it ships."""
    folder, oracles, _, _ = attacked
    kinds = {p.name for p in Path(folder).iterdir() if p.is_dir()} - {bundle.DEAD_LETTER}
    assert kinds == set(oracles)


@pytest.mark.parametrize("kind", ["bloom", "hll", "minhash", "index"])
def test_with_the_key_every_oracle_tells_members(attacked: tuple, kind: str) -> None:
    _, oracles, members, randoms = attacked
    assert _z_for(oracles[kind], _keyed(MATERIAL), members, randoms) > DIFFERENCE


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("kind", ["bloom", "hll", "minhash", "index"])
def test_without_the_key_members_look_like_random_strings(attacked: tuple, kind: str, attack: str) -> None:
    _, oracles, members, randoms = attacked
    assert abs(_z_for(oracles[kind], ATTACKS[attack], members, randoms)) < NO_DIFFERENCE
