"""Person names → two keys: ``name`` in the script it was written in, ``name_latin`` in Latin letters.

Both are casefolded, without titles or punctuation, tokens sorted ("SMITH, John" == "John Smith").
``name_latin`` also folds accents ("Jöhn" → "john"), transliterates other scripts ("Иван" → "ivan",
"山田太郎" → "yamada taro" with a Japanese reading) and folds romanization variants ("Tarou", "Tarō",
"Taroh" → "taro"), so "山田 太郎" meets "Yamada Taro".
"""

from __future__ import annotations

import re
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc
import pykakasi
from anyascii import anyascii

from transforms import text

# Titles and honorifics, as tokens after punctuation is removed (Portuguese shares the Spanish ones).
# Left out on purpose: "m" (a middle initial as often as "Monsieur"), "don" (a first name).
_TITLES_BY_LANGUAGE = {
    "en": "mr mrs ms miss mx dr prof sir rev jr",
    "de": "herr frau hr fr dipl ing",
    "fr": "mme mlle monsieur madame mademoiselle",
    "es": "sr sra srta senor senora senorita señor señora señorita",
    "it": "sig sigra signor signora signorina dott dottssa profssa avv",
    "pl": "pan pani",
    "nl": "dhr mevr",
}
TITLES = frozenset(title for titles in _TITLES_BY_LANGUAGE.values() for title in titles.split())
_FEMININE_TITLE = r"\b(dott|prof|sig)\.?(ssa|ra)\b"  # Italian "Dott.ssa", "Sig.ra": one title
_HONORIFIC = r"\s*(?:様|さま|さん|殿)$"  # Japanese: after the name, often written on it
_JAPANESE_SCRIPT = r"[\p{Hiragana}\p{Katakana}]"
_HAN_OR_HANGUL = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
# Korean surnames as passports and dumps spell them, from their Revised Romanization per syllable.
_KOREAN_SURNAMES = {
    "gim": "kim",
    "i": "lee",
    "bag": "park",
    "bak": "park",
    "choe": "choi",
    "jeong": "jung",
    "gang": "kang",
    "jo": "cho",
    "yun": "yoon",
    "im": "lim",
    "sin": "shin",
    "gwon": "kwon",
    "an": "ahn",
    "yu": "yoo",
    "o": "oh",
}
# Romanization variants of one sound, folded in order: Japanese long vowels (Hepburn "ou", "uu",
# Wapuro "oo", passport "oh": Tarou, Taroo, Taroh → taro), and German umlauts typed without them
# (Mueller → muller, as Müller folds). Applied to every name, Latin-born or not, so both sides agree;
# the cost is a few more shared keys ("Louis" and "Lois", "Michael" and "Michal" meet).
_LONG_OH = (r"oh([^aeiouy]|$)", r"o\1")
_ROMAN_FOLDS = (("ou", "o"), ("oo", "o"), ("uu", "u"), ("ae", "a"), ("oe", "o"), ("ue", "u"))
_ROMAN_PAIRS = "|".join(["oh", *(variant for variant, _ in _ROMAN_FOLDS)])  # a word some fold rewrites
_TITLE_TABLE = dict.fromkeys(TITLES, "")


def _folded(token: str) -> str:
    """A token as ``_latin`` folds it (the Arrow kernels' rules, in Python)."""
    token = re.sub(_LONG_OH[0], _LONG_OH[1], token)
    for variant, folded in _ROMAN_FOLDS:
        token = token.replace(variant, folded)
    return token


_LATIN_TITLE_TABLE = {_folded(title): "" for title in TITLES}  # the titles as they read after the folds


def name(values: pa.Array) -> pa.Array:
    """The native-script key: "SMITH, John" == "John Smith", "山田 太郎" == "太郎 山田"."""
    return text.sorted_tokens(text.words(_prepared(values)), _TITLE_TABLE)


def name_latin(values: pa.Array, regions: pa.Array) -> pa.Array:
    """The Latin key: accents folded, other scripts transliterated, romanization variants folded.

    ``regions`` (one ISO code per row, or null) decides how a name written in Chinese characters only
    is read: Japanese for JP, Chinese (pinyin) otherwise. Kana always read as Japanese.
    """
    return name_keys(values, regions)[1]


def name_keys(values: pa.Array, regions: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``name`` and ``name_latin`` of the same values, from one pass over their words: the Latin key
    joins hyphenated parts ("Min-jun" == "Minjun"), the native key splits them ("Jean-Pierre" ==
    "Jean Pierre"), and only the few hyphenated values are split again."""
    return text.by_distinct(values, _name_keys, regions)


def _name_keys(values: pa.Array, regions: pa.Array) -> tuple[pa.Array, pa.Array]:
    prepared = _prepared(values)
    joined = text.words(pc.replace_substring(prepared, "-", ""))
    hyphenated = pc.fill_null(pc.match_substring(prepared, "-"), False)
    split = joined
    if pc.any(hyphenated).as_py():
        split = pc.replace_with_mask(joined, hyphenated, text.words(prepared.filter(hyphenated)))
    return text.sorted_tokens(split, _TITLE_TABLE), _latin(joined, regions)


def _latin(words: pa.Array, regions: pa.Array) -> pa.Array:
    non_ascii = text.non_ascii(words)
    if pc.any(non_ascii).as_py():
        latin = _latin_letters(words.filter(non_ascii), regions.filter(non_ascii))
        latin = text.words(pc.replace_substring(latin, "'", ""))  # anyascii's soft sign: "Ольга" is "Ol'ga"
        words = pc.replace_with_mask(words, non_ascii, latin)
    return text.sorted_tokens(words, _LATIN_TITLE_TABLE, _romanization_folds)


def _romanization_folds(tokens: pa.Array) -> pa.Array:
    """The folds of ``_ROMAN_FOLDS`` on each distinct word, not on each name: no fold spans a space, and
    "oh" before a space is "oh" at a word's end (name keys of the all-distinct bench: 1770 → 1670 ns a row).
    Only words holding a pair some fold rewrites go through them (a word with none keeps it through all;
    127 → 40 ns a word)."""
    found = pc.fill_null(pc.match_substring_regex(tokens, _ROMAN_PAIRS), False)
    return text.on_subset(tokens, found, _fold_romanizations)


def _fold_romanizations(tokens: pa.Array) -> pa.Array:
    tokens = pc.replace_substring_regex(tokens, *_LONG_OH)
    for variant, folded in _ROMAN_FOLDS:
        tokens = pc.replace_substring(tokens, variant, folded)
    return tokens


def _latin_letters(values: pa.Array, regions: pa.Array) -> pa.Array:
    """Non-ASCII names in Latin letters: accents folded, Japanese read, other scripts transliterated."""
    values = text.fold_latin(values)
    other = pc.fill_null(pc.match_substring_regex(values, text.OTHER_SCRIPT), False)
    japanese = pc.or_(
        pc.fill_null(pc.equal(regions, "JP"), False),
        pc.fill_null(pc.match_substring_regex(values, _JAPANESE_SCRIPT), False),
    )
    latin = text.python_where(values, pc.and_(other, japanese), _japanese_reading)
    return pc.utf8_lower(text.python_where(latin, pc.and_(other, pc.invert(japanese)), _romanized))


def _prepared(values: pa.Array) -> pa.Array:
    """Casefolded text without apostrophes or a trailing Japanese honorific."""
    lowered = pc.replace_substring(text.clean_lower(values), "'", "")
    lowered = text.on_subset(lowered, pc.fill_null(pc.match_substring(lowered, "."), False), _feminine_titles)
    return text.on_subset(lowered, text.non_ascii(lowered), _non_ascii_steps)


def _feminine_titles(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(values, _FEMININE_TITLE, r"\1\2")


def _non_ascii_steps(values: pa.Array) -> pa.Array:
    """Casefold's extra cases (ß, final sigma), typographic apostrophes, Japanese honorifics."""
    values = pc.replace_substring(pc.replace_substring(values, "ß", "ss"), "ς", "σ")
    return text.replace_matches(text.replace_matches(values, text.APOSTROPHES, ""), _HONORIFIC, "")


@lru_cache(maxsize=1)
def _kakasi() -> pykakasi.kakasi:
    return pykakasi.kakasi()


@lru_cache(maxsize=1 << 16)
def _japanese_reading(value: str) -> str:
    """Hepburn reading from pykakasi's dictionary, segmented into words ("山田太郎" → "yamada tarou")."""
    return " ".join(part["hepburn"] or part["orig"] for part in _kakasi().convert(value))


@lru_cache(maxsize=1 << 16)
def _romanized(value: str) -> str:
    """``text.to_latin``, with Chinese and Korean names written as passports write them: a name in one
    run of characters becomes "surname given" (one syllable, then the rest joined: "王小明" → "wang
    xiaoming"); in a name already split by spaces each part is one word ("小明 王" → "xiaoming wang")."""
    whole = len(value.split()) == 1
    return text.to_latin(_HAN_OR_HANGUL.sub(_surname_given if whole else _one_word, value))


def _syllables(run: str, surname_first: bool) -> list[str]:
    """One Latin syllable per character; a Korean surname spelled as passports spell it."""
    syllables = [anyascii(char).lower() for char in run]
    if surname_first and _HANGUL.match(run):
        syllables[0] = _KOREAN_SURNAMES.get(syllables[0], syllables[0])
    return syllables


def _surname_given(run: re.Match[str]) -> str:
    syllables = _syllables(run.group(), surname_first=True)
    return f" {syllables[0]} {''.join(syllables[1:])} "


def _one_word(run: re.Match[str]) -> str:
    """A part of a spaced name; a lone Korean syllable is a surname."""
    return "".join(_syllables(run.group(), surname_first=len(run.group()) == 1))
