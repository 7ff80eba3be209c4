"""Text steps every normalizer shares: Unicode NFKC, placeholders, accent folding, transliteration, tokens.

All work on whole Arrow string arrays with ``pyarrow.compute``; only values that need Python (non-ASCII
for NFKC, non-Latin scripts for transliteration) go through it, each distinct value once per batch and
remembered across batches.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import cache, lru_cache, partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from anyascii import anyascii

from transforms import arrays

PLACEHOLDERS = ["", "null", "none", "nil", "n/a", "na", "-", "--", "\\n", "nan", "undefined"]
NOT_WORD = r"[^\p{L}\p{M}\p{N}]+"  # marks are word: Devanagari vowel signs are part of a word
OTHER_SCRIPT = r"[^\p{Latin}\P{L}]"  # a letter of a script other than Latin
_NOT_WORDS = r"[^\p{L}\p{M}\p{N} ]|^ | $|  "  # a value ``words`` changes (other than "" → null)
APOSTROPHES = r"['’ʼ`´]"  # "O'Brien" is one word: OBrien, never "O Brien"
# Letters NFKD does not decompose into a base letter and a mark; lowercase only (callers lower first).
_LATIN_LETTERS = {"ß": "ss", "ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
_GREEK_DIGRAPHS = {"ου": "ou", "ού": "ou", "ΟΥ": "OU", "Ου": "Ou", "Ού": "Ou"}
_MOSTLY_DISTINCT = 0.9  # share of distinct rows above which ``by_distinct`` does not deduplicate
_UNSTABLE_PLANES_END = 0x30000  # see nfkc_unstable
_CACHE = 1 << 18  # distinct values remembered per Python step: a few tens of MB at most


def nfkc(values: pa.Array) -> pa.Array:
    """Unicode NFKC. pyarrow's utf8_normalize does not recompose (25.0: "ö" stays "o" +
    U+0308), so values holding a character NFKC may change go through Python's unicodedata; the rest
    ("Müller" written precomposed, as nearly all text is) already are NFKC, and a regex says so at
    ~70 ns a value instead of a Python call. The regex runs on the non-ASCII values only: ASCII never
    holds such a character (bench.distinct, all distinct: −50 ns a row over its seven fields)."""
    values = values.cast(pa.string())
    return on_subset(values, non_ascii(values), _nfkc_where_changing)


def _nfkc_where_changing(values: pa.Array) -> pa.Array:
    changing = pc.fill_null(pc.match_substring_regex(values, nfkc_unstable()), False)
    return python_where(values, changing, _nfkc_one)


@cache
def nfkc_unstable() -> str:
    """A regex class of every character NFKC may change in a string: those NFKC changes on their own
    ("ﬁ", "Ｍ"), combining marks (reordered or composed with the letter before them) and the starters
    a composition can absorb (the second character of a canonical pair, Hangul vowel and final jamo).
    A string without them is NFKC: each character decomposes and recomposes to itself and nothing joins
    its neighbour. Built from this Python's own Unicode tables, so it never disagrees with
    ``unicodedata.normalize``, once per process over the first three planes (0.02 s; all of Unicode took
    0.3 s, and planes 3–16 — CJK extensions, tags, private use — hold no such character: the test checks
    every code point)."""
    unstable = {*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)}
    for code in range(0x80, _UNSTABLE_PLANES_END):
        char = chr(code)
        if unicodedata.combining(char):
            unstable.add(code)
        elif decomposition := unicodedata.decomposition(char):
            if unicodedata.normalize("NFKC", char) != char:
                unstable.add(code)
            if not decomposition.startswith("<") and len(pair := decomposition.split()) == 2:
                unstable.add(int(pair[1], 16))
    starts = [code for code in sorted(unstable) if code - 1 not in unstable]
    ends = [code for code in sorted(unstable) if code + 1 not in unstable]
    return "[" + "".join(f"\\x{{{start:x}}}-\\x{{{end:x}}}" for start, end in zip(starts, ends, strict=True)) + "]"


@lru_cache(maxsize=_CACHE)
def _nfkc_one(value: str) -> str:
    return unicodedata.normalize("NFKC", value)


def clean(values: pa.Array) -> pa.Array:
    """NFKC, trimmed, with placeholder nulls ("NULL", "N/A", "-", …) made null."""
    text = pc.utf8_trim_whitespace(nfkc(values))
    return _unless_placeholder(text, pc.utf8_lower(text))


def clean_lower(values: pa.Array) -> pa.Array:
    """``clean``, lowercased: the placeholder test lowercases anyway, so once (−13 ns a row a field)."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(nfkc(values)))
    return _unless_placeholder(lowered, lowered)


def _unless_placeholder(text: pa.Array, lowered: pa.Array) -> pa.Array:
    placeholder = pc.is_in(lowered, value_set=pa.array(PLACEHOLDERS))
    return pc.if_else(placeholder, pa.scalar(None, pa.string()), text)


def fold_latin(values: pa.Array) -> pa.Array:
    """Lowercase text with Latin accents folded ("müller" → "muller", "łódź" → "lodz"), vectorized:
    NFKD, combining marks dropped, and the few letters NFKD keeps whole spelled out. Other
    scripts pass through whole (see ``transliterate``): NFKD would also strip the marks of Cyrillic "й" or
    Japanese "ダ", which change their sound."""
    return on_subset(values, non_ascii(values), _fold_accents)


def _fold_accents(values: pa.Array) -> pa.Array:
    """Folds each distinct word once, not each value: names and streets are mostly distinct, their words
    are not, and a space splits nothing NFKD or the folds join (non-ASCII names of the all-distinct
    bench: 630 → 275 ns a value)."""
    latin = pc.invert(pc.fill_null(pc.match_substring_regex(values, OTHER_SCRIPT), True))
    return on_subset(values, latin, partial(by_word, fn=_fold_non_ascii_words))


def _fold_non_ascii_words(words: pa.Array) -> pa.Array:
    return on_subset(words, non_ascii(words), _fold_latin_accents)


def _fold_latin_accents(values: pa.Array) -> pa.Array:
    folded = pc.replace_substring_regex(pc.utf8_normalize(values, "NFKD"), r"\p{Mn}+", "")
    for letter, spelled in _LATIN_LETTERS.items():
        folded = pc.replace_substring(folded, letter, spelled)
    return folded


def on_subset(values: pa.Array, mask: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``fn`` (array → array of the same length) run on the rows under ``mask`` only: the work most
    values (plain ASCII) never need costs nothing for them."""
    if not pc.any(mask).as_py():
        return values
    return pc.replace_with_mask(values, mask, fn(values.filter(mask)))


def replace_matches(values: pa.Array, pattern: str, replacement: str) -> pa.Array:
    """``replace_substring_regex`` run only on the values ``pattern`` matches: RE2 tests a match at about
    half the cost of a replace, and most values hold none (all-distinct bench: about −70 ns a row)."""
    found = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    return on_subset(values, found, partial(pc.replace_substring_regex, pattern=pattern, replacement=replacement))


def by_word(values: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``fn`` (array → array of the same length) run once per distinct space-separated word of ``values``,
    the words joined again by their spaces: for a ``fn`` that treats a space as a border, the same as
    ``fn(values)``."""
    words = pc.split_pattern(values, " ")
    encoded = pc.dictionary_encode(pc.list_flatten(words))
    mapped = fn(encoded.dictionary).take(encoded.indices)
    return pc.binary_join(pa.ListArray.from_arrays(words.offsets, mapped, mask=words.is_null()), " ")


def transliterate(values: pa.Array) -> pa.Array:
    """Latin letters for every value still holding another script (Cyrillic, Greek, CJK, …), lowercased."""
    return pc.utf8_lower(python_where(values, non_ascii(values), to_latin))


@lru_cache(maxsize=_CACHE)
def to_latin(value: str) -> str:
    """anyascii, except Greek "ου", which is "ou" (ELOT 743, and how Greeks write it) where anyascii says "oy"."""
    for greek, latin in _GREEK_DIGRAPHS.items():
        value = value.replace(greek, latin)
    return anyascii(value)


def python_where(values: pa.Array, mask: pa.Array, fn: Callable[[str], str | None]) -> pa.Array:
    """``fn`` applied to the values under ``mask`` only, once per distinct value."""
    if not pc.any(mask).as_py():
        return values
    subset = values.filter(mask).dictionary_encode()
    mapped = pa.array([fn(v) for v in subset.dictionary.to_pylist()], pa.string())
    return pc.replace_with_mask(values, mask, mapped.take(subset.indices))


def non_ascii(values: pa.Array) -> pa.Array:
    """The rows holding a non-ASCII character (null rows: no): the few most Python steps must see."""
    return pc.invert(pc.fill_null(pc.string_is_ascii(values), True))


def words(values: pa.Array) -> pa.Array:
    """Punctuation and whitespace runs to one space, trimmed; "" → null.

    Only values holding something to replace (a character other than a word character or a space, or a
    space at an end or beside another) run the replace: finding them costs 60 ns a value, the replace
    350 (bench.distinct, all distinct: 5.95 → 5.1 µs/row)."""
    return empty_to_null(on_subset(values, pc.fill_null(pc.match_substring_regex(values, _NOT_WORDS), False), _words))


def _words(values: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(values, NOT_WORD, " "))


def sorted_tokens(
    values: pa.Array, table: dict[str, str] | None = None, fold: Callable[[pa.Array], pa.Array] | None = None
) -> pa.Array:
    """The whitespace-separated tokens of each value, rewritten by ``fold`` (array → array of the same
    length) and then replaced by ``table`` where it has them (a token mapped to "" is dropped), and sorted,
    in one vectorized pass; a value left without tokens → null.

    Tokens are sorted through their dictionary: the distinct tokens once as strings, then every token
    by (row, rank) as integers, several times faster than sorting strings row by row. ``fold`` and ``table``
    map the dictionary, so each distinct token is rewritten and looked up once (names and streets are
    mostly distinct, their words are not; the table alone: 383 → 339 ns a value). An all-ASCII array
    is split by the ASCII kernel: 54 ns a value instead of 96.
    """
    any_non_ascii = pc.any(non_ascii(values)).as_py()
    tokens = pc.utf8_split_whitespace(values) if any_non_ascii else pc.ascii_split_whitespace(values)
    rows = pc.list_parent_indices(tokens).to_numpy()
    encoded = pc.dictionary_encode(pc.list_flatten(tokens))
    dictionary, indices = encoded.dictionary, encoded.indices.to_numpy()
    if fold:
        dictionary = fold(dictionary)
    if table:
        keys = pc.index_in(dictionary, pa.array(list(table)))
        # Two tokens mapped to one word ("street", "st") rank apart but side by side: the same order.
        dictionary = pc.coalesce(pc.take(pa.array(list(table.values())), keys), dictionary)
        kept = pc.not_equal(dictionary, "").to_numpy(zero_copy_only=False)[indices]
        rows, indices = rows[kept], indices[kept]
    rank = np.empty(len(dictionary), np.int64)
    rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary))
    order = np.argsort(rows * len(rank) + rank[indices], kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(values)))])
    rebuilt = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), dictionary.take(indices[order]), mask=tokens.is_null()
    )
    return empty_to_null(pc.binary_join(rebuilt, " "))


def by_distinct(values: pa.Array, fn: Callable[..., Any], *context: pa.Array) -> Any:
    """``fn(values, *context)`` run once per distinct row of its arguments, its result (an array or a
    tuple of arrays) spread back to every row: a field pays for its distinct values (a batch holds a few
    dozen countries, and names and streets repeat), and a batch of all-distinct values one hash pass more.

    A batch more than ``_MOSTLY_DISTINCT`` distinct runs ``fn`` on its rows as they are (null rows null):
    taking the rows there and back costs more than the few repeats save (all-distinct bench names:
    about −120 ns a row)."""
    key = values.cast(pa.string())
    if context:
        key = pc.binary_join_element_wise(key, *(pc.fill_null(c.cast(pa.string()), "") for c in context), "\x1f")
    encoded = pc.dictionary_encode(key)
    spread: Callable[[pa.Array], pa.Array]
    if len(encoded.dictionary) > _MOSTLY_DISTINCT * len(key):
        result = fn(values, *context)
        valid = pc.is_valid(key)
        spread = (lambda r: r) if key.null_count == 0 else (lambda r: pc.if_else(valid, r, pa.scalar(None, r.type)))
    else:
        rows = pa.array(arrays.first_appearances(pc.fill_null(encoded.indices, -1).to_numpy()))
        result = fn(values.take(rows), *(c.take(rows) for c in context))
        spread = partial(pc.take, indices=encoded.indices)
    return tuple(spread(r) for r in result) if isinstance(result, tuple) else spread(result)


def empty_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def row_regions(regions: pa.Array | None, default_region: str | None, length: int) -> pa.Array:
    """Each row's ISO region: its own country, else the base's default (null when neither)."""
    default = pa.scalar(default_region, pa.string())
    if regions is None:
        return pa.array(np.full(length, default_region, dtype=object), pa.string())
    regions = regions.cast(pa.string())
    return pc.if_else(pc.fill_null(pc.equal(regions, ""), True), default, regions)
