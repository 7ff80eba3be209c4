"""Sketches over keyed 64-bit digests: Bloom filter, HyperLogLog++, MinHash.

HLL and MinHash are datasketch objects; their batch updates here are numpy
versions of datasketch's own per-value code (tests prove they agree), because
per-value Python calls are the cost we avoid on the hot path. Every sketch is
stored in a versioned envelope naming its kind, field and key fingerprint, so
sketches built under another key or for another field are refused.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
from datasketch import HyperLogLogPlusPlus, LeanMinHash, MinHash
from datasketch.minhash import _fmix

from transforms import arrays

HLL_P = 14
MINHASH_PERMUTATIONS = 256
MINHASH_SEED = 1
MINHASH_SCHEME = "affine64"
_MINHASH_CHUNK = 8192
_MAGIC = b"DMSK"
_VERSION = 1
KINDS = {"bloom": 1, "hll": 2, "minhash": 3}
_SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def _identity(value: int) -> int:
    return value


# ---- Bloom filter -----------------------------------------------------------------


@dataclass
class Bloom:
    """A Bloom filter over digests; positions by double hashing (Kirsch–Mitzenmacher)."""

    bits: np.ndarray  # uint8, m/8 bytes
    m: int
    k: int

    @classmethod
    def for_capacity(cls, capacity: int, fpr: float) -> Bloom:
        """Sizes m and k for ``capacity`` distinct values at false-positive rate ``fpr``."""
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        if not 0.0 < fpr < 1.0:
            raise ValueError(f"fpr must be in (0, 1), got {fpr}")
        n = max(capacity, 1)
        m = max(1024, math.ceil(-n * math.log(fpr) / math.log(2) ** 2 / 64.0) * 64)
        k = max(1, round(m / n * math.log(2)))
        return cls(np.zeros(m // 8, dtype=np.uint8), m, k)

    def _positions(self, digests: np.ndarray) -> np.ndarray:
        h1 = digests.astype(np.uint64, copy=False)
        h2 = _splitmix64(h1) | np.uint64(1)
        steps = np.arange(self.k, dtype=np.uint64)[:, None]
        with np.errstate(over="ignore"):
            return (h1[None, :] + steps * h2[None, :]) % np.uint64(self.m)

    def add(self, digests: np.ndarray) -> None:
        pos = self._positions(digests).ravel()
        np.bitwise_or.at(self.bits, (pos >> np.uint64(3)).astype(np.int64), _bit_masks(pos))

    def contains(self, digests: np.ndarray) -> np.ndarray:
        """True where a digest may be present; False means certainly absent."""
        pos = self._positions(digests)
        hit = self.bits[(pos >> np.uint64(3)).astype(np.int64)] & _bit_masks(pos)
        return np.all(hit != 0, axis=0)

    def merge(self, other: Bloom) -> None:
        if (self.m, self.k) != (other.m, other.k):
            raise ValueError(f"cannot merge Bloom filters of m={self.m},k={self.k} and m={other.m},k={other.k}")
        np.bitwise_or(self.bits, other.bits, out=self.bits)

    def fill_ratio(self) -> float:
        return float(np.unpackbits(self.bits).sum()) / self.m

    def false_positive_rate(self) -> float:
        """FPR implied by the bits actually set (honest even when over capacity)."""
        return self.fill_ratio() ** self.k

    def to_bytes(self) -> bytes:
        return struct.pack("<QI", self.m, self.k) + self.bits.tobytes()

    @classmethod
    def from_bytes(cls, payload: bytes) -> Bloom:
        m, k = struct.unpack_from("<QI", payload)
        bits = np.frombuffer(payload, dtype=np.uint8, offset=12).copy()
        if bits.size * 8 != m:
            raise ValueError(f"Bloom payload has {bits.size * 8} bits, header says {m}")
        return cls(bits, m, k)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _SPLITMIX_GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _bit_masks(pos: np.ndarray) -> np.ndarray:
    return np.left_shift(np.uint8(1), (pos & np.uint64(7)).astype(np.uint8))


# ---- HyperLogLog++ ----------------------------------------------------------------


def new_hll() -> HyperLogLogPlusPlus:
    return HyperLogLogPlusPlus(p=HLL_P, hashfunc=_identity)


def hll_update(hll: HyperLogLogPlusPlus, digests: np.ndarray) -> None:
    """Vectorized ``HyperLogLogPlusPlus.update`` for 64-bit digests."""
    if digests.size == 0:
        return
    hv = digests.astype(np.uint64, copy=False)
    index = (hv & np.uint64(hll.m - 1)).astype(np.int64)
    rest = hv >> np.uint64(hll.p)
    bit_length = np.frexp(rest.astype(np.float64))[1]
    rank = (hll.max_rank - bit_length + 1).astype(np.int8)
    np.maximum.at(hll.reg, index, rank)


def hll_from_registers(reg: np.ndarray) -> HyperLogLogPlusPlus:
    return HyperLogLogPlusPlus(reg=reg.astype(np.int8), hashfunc=_identity)


# ---- MinHash ----------------------------------------------------------------------


def new_minhash() -> MinHash:
    return MinHash(num_perm=MINHASH_PERMUTATIONS, seed=MINHASH_SEED, scheme=MINHASH_SCHEME, hashfunc=_identity)


def minhash_update(mh: MinHash, digests: np.ndarray) -> None:
    """Vectorized ``MinHash.update_batch`` (affine64 scheme) for 64-bit digests. A buffer holds every
    permutation (a row each) applied to a chunk of values, computed in place: the products are a row
    times one scalar and the minimum a reduction along a contiguous row, both SIMD loops (2x faster than
    values as rows, and 7x faster than temporaries allocated per chunk)."""
    if digests.size == 0:
        return
    a, b = (p.reshape(-1, 1) for p in mh.permutations)
    # A set's MinHash: each distinct value once (a column of countries or cities is a few dozen).
    mixed = _fmix(arrays.unique(digests.astype(np.uint64)), 64)
    buffer = np.empty((a.size, min(_MINHASH_CHUNK, mixed.size)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, mixed.size, _MINHASH_CHUNK):
            values = buffer[:, : mixed[start : start + _MINHASH_CHUNK].size]
            np.multiply(a, mixed[start : start + _MINHASH_CHUNK], out=values)
            np.add(values, b, out=values)
            np.minimum(mh.hashvalues, values.min(axis=1), out=mh.hashvalues)


def minhash_from_values(hashvalues: np.ndarray) -> MinHash:
    return MinHash(seed=MINHASH_SEED, scheme=MINHASH_SCHEME, hashvalues=hashvalues, hashfunc=_identity)


# ---- Envelope ---------------------------------------------------------------------


def _hll_bytes(hll: HyperLogLogPlusPlus) -> bytes:
    return struct.pack("<B", hll.p) + hll.reg.astype(np.int8).tobytes()


def _minhash_bytes(mh: MinHash) -> bytes:
    lean = LeanMinHash(mh)
    buf = bytearray(lean.bytesize(byteorder="<"))
    lean.serialize(buf, byteorder="<")
    return bytes(buf)


def encode(kind: str, field: str, fingerprint: str, sketch: Bloom | HyperLogLogPlusPlus | MinHash) -> bytes:
    """Wraps a sketch: magic, version, kind, field, key fingerprint, payload."""
    if kind == "bloom":
        assert isinstance(sketch, Bloom)
        payload = sketch.to_bytes()
    elif kind == "hll":
        assert isinstance(sketch, HyperLogLogPlusPlus)
        payload = _hll_bytes(sketch)
    else:
        assert isinstance(sketch, MinHash)
        payload = _minhash_bytes(sketch)
    name = field.encode("utf-8")
    header = _MAGIC + struct.pack("<HBB", _VERSION, KINDS[kind], len(name)) + name + bytes.fromhex(fingerprint)
    return header + payload


def decode(data: bytes, kind: str, field: str, fingerprint: str) -> Bloom | HyperLogLogPlusPlus | MinHash:
    """Unwraps a sketch, refusing another kind, field, key or format version."""
    if data[:4] != _MAGIC:
        raise ValueError("not a dumpmatch sketch file")
    version, kind_code, name_len = struct.unpack_from("<HBB", data, 4)
    if version != _VERSION:
        raise ValueError(f"sketch format version {version} is not supported (this build reads {_VERSION})")
    offset = 8 + name_len
    name = data[8:offset].decode("utf-8")
    fp = data[offset : offset + 16].hex()
    if kind_code != KINDS[kind] or name != field:
        raise ValueError(f"sketch holds {name!r} kind {kind_code}, expected {field!r} {kind}")
    if fp != fingerprint:
        raise ValueError("sketch was built with another key")
    payload = data[offset + 16 :]
    if kind == "bloom":
        return Bloom.from_bytes(payload)
    if kind == "hll":
        return hll_from_registers(np.frombuffer(payload, dtype=np.int8, offset=1))
    lean = LeanMinHash.deserialize(payload, byteorder="<")
    return minhash_from_values(np.asarray(lean.hashvalues))
