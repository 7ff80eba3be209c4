"""SipHash-2-4 over whole Arrow string arrays with numpy: a keyed PRF without a Python call per value.

SipHash (Aumasson & Bernstein, 2012) is a PRF designed for short inputs under a 128-bit
key, with a 64-bit output: exactly a keyed digest per normalized value. Values are
grouped by their number of 8-byte words and every group runs the rounds as array
operations, so the cost per value is a few dozen vectorized instructions.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from transforms import arrays

KEY_BYTES = 16
_C0, _C1, _C2, _C3 = (
    np.uint64(0x736F6D6570736575),
    np.uint64(0x646F72616E646F6D),
    np.uint64(0x6C7967656E657261),
    np.uint64(0x7465646279746573),
)
_FINAL = np.uint64(0xFF)


def _rotl(x: np.ndarray, bits: int) -> np.ndarray:
    high = x >> np.uint64(64 - bits)
    x <<= np.uint64(bits)
    x |= high
    return x


def _round(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, v3: np.ndarray) -> tuple[np.ndarray, ...]:
    v0 += v1
    v1 = _rotl(v1, 13)
    v1 ^= v0
    v0 = _rotl(v0, 32)
    v2 += v3
    v3 = _rotl(v3, 16)
    v3 ^= v2
    v0 += v3
    v3 = _rotl(v3, 21)
    v3 ^= v0
    v2 += v1
    v1 = _rotl(v1, 17)
    v1 ^= v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def _siphash_words(k0: np.uint64, k1: np.uint64, words: np.ndarray) -> np.ndarray:
    """SipHash-2-4 of each row of a (values × words) matrix whose last word holds the length byte."""
    n = words.shape[0]
    v0 = np.full(n, k0 ^ _C0, dtype=np.uint64)
    v1 = np.full(n, k1 ^ _C1, dtype=np.uint64)
    v2 = np.full(n, k0 ^ _C2, dtype=np.uint64)
    v3 = np.full(n, k1 ^ _C3, dtype=np.uint64)
    for i in range(words.shape[1]):
        m = words[:, i]
        v3 ^= m
        v0, v1, v2, v3 = _round(*_round(v0, v1, v2, v3))
        v0 ^= m
    v2 ^= _FINAL
    for _ in range(4):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def siphash24(key: bytes, values: pa.Array) -> np.ndarray:
    """uint64 SipHash-2-4 of each value's UTF-8 bytes (nulls hash as empty; mask them yourself)."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"SipHash needs a {KEY_BYTES}-byte key, got {len(key)}")
    k0, k1 = np.frombuffer(key, dtype="<u8").astype(np.uint64)
    values = values.cast(pa.large_binary())
    n = len(values)
    out = np.zeros(n, dtype=np.uint64)
    if n == 0:
        return out
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[values.offset : values.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    # Eight-byte windows at any byte offset: words are gathered without copying bytes one by one.
    windows = np.lib.stride_tricks.sliding_window_view(np.concatenate([data, np.zeros(8, np.uint8)]), 8)
    lengths = offsets[1:] - offsets[:-1]
    n_words = lengths // 8 + 1
    for words in arrays.unique(n_words):
        rows = np.flatnonzero(n_words == words)
        starts, lens = offsets[rows], lengths[rows].astype(np.uint64)
        matrix = np.empty((rows.size, int(words)), dtype=np.uint64)
        for j in range(int(words)):
            matrix[:, j] = np.ascontiguousarray(windows[starts + 8 * j]).view("<u8").ravel()
        tail_bits = (lens % np.uint64(8)) * np.uint64(8)
        keep = np.where(tail_bits == 0, np.uint64(0), (np.uint64(1) << tail_bits) - np.uint64(1))
        matrix[:, -1] = (matrix[:, -1] & keep) | ((lens & np.uint64(0xFF)) << np.uint64(56))
        out[rows] = _siphash_words(k0, k1, matrix)
    return out
