"""Vectorized SipHash-2-4 equals the paper's definition on every length and layout."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tests.siphash_reference import siphash24 as reference
from transforms.siphash import siphash24

KEY = bytes(range(16))


def test_paper_vector_for_the_empty_message() -> None:
    assert int(siphash24(KEY, pa.array([b""], pa.binary()))[0]) == 0x726FDB47DD0E0E31 == reference(KEY, b"")


def test_every_length_up_to_64_bytes() -> None:
    messages = [bytes(range(i)) for i in range(65)]
    got = siphash24(KEY, pa.array(messages, pa.binary()))
    assert [int(g) for g in got] == [reference(KEY, m) for m in messages]


def test_random_strings_slices_and_unicode() -> None:
    rng = np.random.default_rng(5)
    texts = ["".join(chr(c) for c in rng.integers(32, 0x3000, rng.integers(0, 40))) for _ in range(2000)]
    array = pa.array(["pad"] * 7 + texts)[7:]
    key = rng.bytes(16)
    assert [int(g) for g in siphash24(key, array)] == [reference(key, t.encode("utf-8")) for t in texts]


def test_key_must_be_16_bytes() -> None:
    with pytest.raises(ValueError, match="16-byte key"):
        siphash24(b"short", pa.array(["x"]))
