"""Fuzzy encodings: keyed bigram Bloom filters (CLK-style) per field, and MinHash LSH band keys per record.

Both sides encode their own normalized values; only the encodings are kept. A value's character
bigrams (padded with a space at each end, accents folded) each get a keyed 64-bit hash —
SipHash-2-4 under the field's own key, derived from the secret key by ``hashing.field_key`` — and:

- set ``hashes`` positions in the field's ``bits``-bit Bloom filter, taken as independent slices of
  that keyed hash ("random hashing", not double hashing), so the Dice coefficient of two filters
  approximates the Dice coefficient of the two bigram sets (Schnell, Bachteler & Reiher 2009);
- join the record's MinHash (datasketch's ``affine64`` scheme and permutations) over the keyed bigrams
  of its name, street and city and a keyed hash of its whole postcode and dob; its values, in bands, are
  the LSH keys that find candidates. datasketch's ``MinHashLSH(params=(bands, rows))`` puts the same
  records in the same buckets (tests/test_fuzzy.py).

Everything runs over whole Arrow arrays: the keyed hashes, Bloom masks and premixed MinHash inputs of
every ASCII bigram are tables built once per field and key, other bigrams are hashed per batch, and
each distinct value of a batch is encoded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasketch import MinHash
from datasketch.minhash import _fmix

from transforms import hashing, siphash

WORD_BITS = 64
MINHASH_SEED = 5
MINHASH_SCHEME = "affine64"
_PAD = 0x20  # a space before and after each value: first and last letters get bigrams of their own
_ASCII = 128
_EMPTY = np.uint64(2**64 - 1)  # an empty MinHash slot: datasketch's affine64 starts every slot there
_BAND_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class FieldEncoding:
    """How one field's bigrams become its Bloom filter."""

    field: str
    bits: int  # Bloom filter length: a power of two, at least 64
    hashes: int  # bit positions each bigram sets
    whole: bool = False  # the record MinHash takes the whole value as one element, not its bigrams

    def __post_init__(self) -> None:
        if self.bits < WORD_BITS or self.bits & (self.bits - 1):
            raise ValueError(f"{self.field}: bits must be a power of two >= {WORD_BITS}, got {self.bits}")
        if not 1 <= self.hashes * self.position_bits <= WORD_BITS:
            raise ValueError(f"{self.field}: {self.hashes} positions of {self.position_bits} bits exceed a 64-bit hash")

    @property
    def words(self) -> int:
        return self.bits // WORD_BITS

    @property
    def position_bits(self) -> int:
        return self.bits.bit_length() - 1


@dataclass(frozen=True)
class Banding:
    """LSH over the record's MinHash: ``bands`` bands of ``rows`` values (datasketch's ``params``)."""

    bands: int
    rows: int

    def __post_init__(self) -> None:
        if self.bands < 2 or self.rows < 1:
            raise ValueError(f"LSH needs at least 2 bands of at least 1 row, got {self.bands} x {self.rows}")

    @property
    def permutations(self) -> int:
        return self.bands * self.rows


# On Febrl a typical value sets 15-28% of its filter's bits (name 38 of 256): bits shared by several bigrams
# blur single bigrams a little (docs/fuzzy-privacy.md).
# Banding measured on Febrl 3 (bench/eval_fuzzy.py): 20 bands of 5, with the exact name, street and dob
# blocks, put 99.7% of true pairs among 1.4 candidates a row.
# Postcode and dob join the record MinHash as one element each: short values of a small alphabet, whose
# bigrams (" 1", "19", "-0", ...) most records share, would only make every record look alike there.
ENCODINGS = (
    FieldEncoding("name", 256, 3),
    FieldEncoding("street", 256, 3),
    FieldEncoding("city", 128, 3),
    FieldEncoding("postcode", 64, 2, whole=True),
    FieldEncoding("dob", 128, 2, whole=True),
)
FIELDS = tuple(e.field for e in ENCODINGS)
BANDING = Banding(20, 5)


def fold(values: pa.Array) -> pa.Array:
    """Accents folded, lowercase: "Jöhn" and "John" share every bigram. Works on normalized values."""
    decomposed = pc.utf8_normalize(values.cast(pa.string()), "NFKD")
    return pc.utf8_lower(pc.replace_substring_regex(decomposed, r"\p{Mn}+", ""))


def codepoints(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 strings → (flat uint32 code points, int64 offsets per value), decoded with numpy."""
    values = values.cast(pa.large_string())
    n = len(values)
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[values.offset : values.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    lead = (data & 0xC0) != 0x80
    padded = np.concatenate([data, np.zeros(3, np.uint8)]).astype(np.uint32)
    starts = np.flatnonzero(lead)
    b0, b1, b2, b3 = (padded[starts + i] for i in range(4))
    two = ((b0 & 0x1F) << 6) | (b1 & 0x3F)
    three = ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F)
    four = ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F)
    cps = np.where(b0 < 0x80, b0, np.where(b0 < 0xE0, two, np.where(b0 < 0xF0, three, four)))
    counted = np.concatenate([[0], np.cumsum(lead)])
    return cps.astype(np.uint32), counted[offsets].astype(np.int64)


def bigrams(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded code-point bigrams of each value: (first, second, offsets per value).

    A value of L code points has L + 1 bigrams; null or empty values have none.
    """
    cps, offsets = codepoints(fold(values).fill_null(""))
    lengths = np.diff(offsets)
    counts = np.where(lengths > 0, lengths + 1, 0)
    symbol_offsets = np.concatenate([[0], np.cumsum(np.where(lengths > 0, lengths + 2, 0))])
    symbols = np.full(int(symbol_offsets[-1]), _PAD, dtype=np.uint32)
    rows = np.repeat(np.arange(lengths.size), lengths)
    symbols[np.arange(cps.size) - offsets[rows] + symbol_offsets[rows] + 1] = cps
    bigram_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # A bigram starts at every symbol but the last of each value.
    bigram_rows = np.repeat(np.arange(counts.size), counts)
    starts = np.arange(int(bigram_offsets[-1])) - bigram_offsets[bigram_rows] + symbol_offsets[bigram_rows]
    return symbols[starts], symbols[starts + 1], bigram_offsets


def _messages(first: np.ndarray, second: np.ndarray) -> pa.Array:
    """Each bigram as an 8-byte message (two little-endian uint32 code points) for SipHash."""
    words = first.astype(np.uint64) | (second.astype(np.uint64) << np.uint64(32))
    offsets = np.arange(0, 8 * words.size + 1, 8, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_binary(), words.size, [None, pa.py_buffer(offsets), pa.py_buffer(words.astype("<u8").tobytes())]
    )


@lru_cache(maxsize=8)
def permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own permutations (a, b) for our seed and scheme."""
    a, b = MinHash(num_perm=num_perm, seed=MINHASH_SEED, scheme=MINHASH_SCHEME).permutations
    return a.astype(np.uint64), b.astype(np.uint64)


def minhash_signatures(mixed: np.ndarray, starts: np.ndarray, num_perm: int) -> np.ndarray:
    """(runs, num_perm) MinHash values: for each run of premixed bigram hashes starting at ``starts``,
    the min over the run of a·h + b mod 2^64 — datasketch's ``update_batch`` under affine64."""
    a, b = permutations(num_perm)
    with np.errstate(over="ignore"):
        return np.minimum.reduceat(mixed[:, None] * a[None, :] + b[None, :], starts, axis=0)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: one key per band of ``rows`` MinHash values. Equal keys mean equal bands (up to
    64-bit collisions), as datasketch's byte-string bucket keys do."""
    keys = np.zeros((signatures.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = np.full(signatures.shape[0], np.uint64(band + 1) * _BAND_MIX, dtype=np.uint64)
            for value in signatures[:, band * rows : (band + 1) * rows].T:
                key = _fmix(key ^ value, 64) + _BAND_MIX
            keys[:, band] = key
    return keys


def bit_counts(matrix: np.ndarray) -> np.ndarray:
    """Set bits per row of an (n, words) bit matrix."""
    return np.bitwise_count(matrix).sum(axis=1, dtype=np.int64)


def dice_pairs(
    a: np.ndarray, a_bits: np.ndarray, b: np.ndarray, b_bits: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Dice coefficient 2|A∧B| / (|A| + |B|) of rows ``a[left]`` and ``b[right]``, from the rows' bit counts
    counted once; 0 where both are empty."""
    common = bit_counts(a[left] & b[right])
    total = a_bits[left] + b_bits[right]
    return np.where(total > 0, 2.0 * common / np.maximum(total, 1), 0.0)


def dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dice coefficient of the rows of two (n, words) bit matrices, row by row."""
    rows = np.arange(a.shape[0])
    return dice_pairs(a, bit_counts(a), b, bit_counts(b), rows, rows)


class FieldCoder:
    """Encodes one field's values under one key; its ASCII tables are built on first use."""

    def __init__(self, key: hashing.Key, encoding: FieldEncoding) -> None:
        self.encoding = encoding
        self._sip_key = hashing.field_key(key, f"fuzzy:{encoding.field}")
        self._value_key = hashing.field_key(key, f"fuzzy-value:{encoding.field}")

    def minhash_elements(self, values: pa.Array) -> np.ndarray:
        """Keyed hashes of whole (folded) values: the record MinHash's elements for a ``whole`` field."""
        return siphash.siphash24(self._value_key, fold(values).fill_null(""))

    def bigram_hashes(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Keyed 64-bit hash of each bigram: SipHash-2-4 of its 8-byte message under the field key."""
        if first.size == 0:
            return np.zeros(0, np.uint64)
        return siphash.siphash24(self._sip_key, _messages(first, second))

    @cached_property
    def _ascii(self) -> tuple[np.ndarray, np.ndarray]:
        """(Bloom mask, MinHash input) of every ASCII bigram, at index first·128 + second."""
        first, second = np.divmod(np.arange(_ASCII * _ASCII, dtype=np.uint32), np.uint32(_ASCII))
        hashes = self.bigram_hashes(first, second)
        return self.masks(hashes), _fmix(hashes, 64)

    def masks(self, hashes: np.ndarray) -> np.ndarray:
        """(n, words) uint64: the Bloom bits each bigram sets, from independent slices of its keyed hash."""
        enc = self.encoding
        out = np.zeros((hashes.size, enc.words), dtype=np.uint64)
        width = np.uint64(enc.position_bits)
        rows = np.arange(hashes.size)
        for i in range(enc.hashes):
            pos = (hashes >> (width * np.uint64(i))) & np.uint64(enc.bits - 1)
            out[rows, (pos >> np.uint64(6)).astype(np.int64)] |= np.uint64(1) << (pos & np.uint64(63))
        return out

    def encode(self, values: pa.Array, num_perm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values → (Bloom filters (n, words), MinHash values (n, num_perm), bigram counts (n,))."""
        first, second, offsets = bigrams(values)
        masks_ascii, mixed_ascii = self._ascii
        ascii = (first < _ASCII) & (second < _ASCII)
        index = np.where(ascii, first * _ASCII + second, 0).astype(np.int64)
        masks, mixed = masks_ascii[index], mixed_ascii[index]
        if not ascii.all():
            other = np.flatnonzero(~ascii)
            hashes = self.bigram_hashes(first[other], second[other])
            masks[other] = self.masks(hashes)
            mixed[other] = _fmix(hashes, 64)
        counts = np.diff(offsets)
        bloom = np.zeros((counts.size, self.encoding.words), dtype=np.uint64)
        signatures = np.full((counts.size, num_perm), _EMPTY, dtype=np.uint64)
        present = counts > 0
        starts = offsets[:-1][present]
        if not starts.size:
            return bloom, signatures, counts
        bloom[present] = np.bitwise_or.reduceat(masks, starts, axis=0)
        a, b = permutations(num_perm)
        with np.errstate(over="ignore"):
            if self.encoding.whole:
                mixed_values = _fmix(self.minhash_elements(values)[present], 64)
                signatures[present] = mixed_values[:, None] * a[None, :] + b[None, :]
                return bloom, signatures, counts
            # Each distinct ASCII bigram of the batch is permuted once, then gathered: a few thousand rows
            # instead of one per bigram occurrence.
            used = np.zeros(_ASCII * _ASCII, dtype=bool)
            used[index[ascii]] = True
            ids = np.flatnonzero(used)
            slot = np.zeros(_ASCII * _ASCII, dtype=np.int64)
            slot[ids] = np.arange(ids.size)
            permuted = np.empty((index.size, num_perm), dtype=np.uint64)
            permuted[ascii] = (mixed_ascii[ids][:, None] * a[None, :] + b[None, :])[slot[index[ascii]]]
            permuted[~ascii] = mixed[~ascii][:, None] * a[None, :] + b[None, :]
        signatures[present] = np.minimum.reduceat(permuted, starts, axis=0)
        return bloom, signatures, counts


@dataclass
class Encoded:
    """A batch's fuzzy encodings: each field's Bloom filters, and the records' LSH band keys."""

    blooms: dict[str, np.ndarray]  # field → uint64 (n, words), all zero where the value is missing
    valid: dict[str, np.ndarray]  # field → bool (n,)
    bands: np.ndarray  # uint64 (n, bands), zero where the record has no fuzzy field
    has_bands: np.ndarray  # bool (n,)


class RecordCoder:
    """Encodes records under one key: per-field Bloom filters, and the LSH keys of one MinHash over all
    their fields' keyed bigrams together (so a typo or a blank in one field costs the record little)."""

    def __init__(
        self, key: hashing.Key, encodings: tuple[FieldEncoding, ...] = ENCODINGS, banding: Banding = BANDING
    ) -> None:
        self.banding = banding
        self.coders = {e.field: FieldCoder(key, e) for e in encodings}

    def encode(self, columns: dict[str, pa.Array], n: int) -> Encoded:
        """Encodes the fuzzy fields among ``columns`` (normalized strings); each distinct value once."""
        signature = np.full((n, self.banding.permutations), _EMPTY, dtype=np.uint64)
        blooms: dict[str, np.ndarray] = {}
        valid: dict[str, np.ndarray] = {}
        for field, coder in self.coders.items():
            if field not in columns:
                continue
            encoded = pc.dictionary_encode(columns[field].cast(pa.string()))
            # A null value is the empty string's slot at the end: no bits, an empty MinHash.
            distinct = pa.concat_arrays([encoded.dictionary, pa.array([""], pa.string())])
            bloom, signatures, counts = coder.encode(distinct, self.banding.permutations)
            indices = encoded.indices.fill_null(len(distinct) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
            blooms[field] = bloom[indices]
            valid[field] = counts[indices] > 0
            np.minimum(signature, signatures[indices], out=signature)
        has_bands = np.logical_or.reduce(list(valid.values())) if valid else np.zeros(n, dtype=bool)
        bands = np.where(has_bands[:, None], band_keys(signature, self.banding.bands, self.banding.rows), 0)
        return Encoded(blooms=blooms, valid=valid, bands=bands.astype(np.uint64), has_bands=has_bands)


# ---- Encodings as Arrow columns ---------------------------------------------------------------------

PREFIX = "fuzzy:"  # column-name prefix of encodings inside a prepared batch
LSH = "lsh"
BLOCKING_DIGESTS = ("name", "street", "dob")  # exact keyed digests that also find candidates


def column_name(part: str) -> str:
    return f"{PREFIX}{part}"


def to_column(matrix: np.ndarray, valid: np.ndarray) -> pa.Array:
    """(n, words) uint64 → fixed-size binary column, null where not valid."""
    n, words = matrix.shape
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    data = pa.py_buffer(np.ascontiguousarray(matrix, dtype="<u8").tobytes())
    return pa.Array.from_buffers(pa.binary(8 * words), n, [bitmap, data], null_count=int(n - valid.sum()))


def from_column(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-size binary column → ((n, words) uint64, valid); rows that are null come back all zero."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    words = column.type.byte_width // 8
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    data = column.buffers()[1]
    matrix = np.frombuffer(data, dtype="<u8", count=(column.offset + len(column)) * words)[column.offset * words :]
    matrix = matrix.reshape(len(column), words).astype(np.uint64)
    matrix[~valid] = 0
    return matrix, valid


def columns(encoded: Encoded) -> dict[str, pa.Array]:
    """A batch's encodings as named columns: one per fuzzy field present, and the LSH band keys."""
    out = {column_name(f): to_column(encoded.blooms[f], encoded.valid[f]) for f in encoded.blooms}
    out[column_name(LSH)] = to_column(encoded.bands, encoded.has_bands)
    return out


def exact_only(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch without its encodings: what every exact step sees, as if fuzzy matching were off."""
    keep = [name for name in batch.schema.names if not name.startswith(PREFIX)]
    return batch if len(keep) == batch.num_columns else batch.select(keep)
