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

# Titles and honorifics, as tokens after punctuation is removed (EN, DE, FR, ES, IT, PT, PL, NL).
# Left out on purpose: "m" (a middle initial as often as "Monsieur"), "don" (a first name).
TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir rev jr "
    "herr frau fr hr dipl ing "
    "mme mlle monsieur madame mademoiselle "
    "sr sra srta senor senora senorita señor señora señorita "
    "sig sigra signor signora signorina dott dottssa prof profssa avv "
    "pan pani dhr mevr".split()
)
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
# Wapuro "oo", passport "oh": Tarou, Taroo, Taroh → taro). Applied to every name, Latin-born or not,
# so both sides agree; the cost is a few more shared keys ("Louis" and "Lois" meet).
_ROMAN_FOLDS = ((r"oh([^aeiouy]|$)", r"o\1"), ("ou|oo", "o"), ("uu", "u"))


def name(values: pa.Array) -> pa.Array:
    """The native-script key: "SMITH, John" == "John Smith", "山田 太郎" == "太郎 山田"."""
    return text.sorted_tokens(_without_titles(text.words(_prepared(values))))


def name_latin(values: pa.Array, regions: pa.Array) -> pa.Array:
    """The Latin key: accents folded, other scripts transliterated, romanization variants folded.

    ``regions`` (one ISO code per row, or null) decides how a name written in Chinese characters only
    is read: Japanese for JP, Chinese (pinyin) otherwise. Kana always read as Japanese.
    """
    prepared = text.fold_latin(pc.replace_substring(_prepared(values), "-", ""))
    other = pc.fill_null(pc.match_substring_regex(prepared, text.OTHER_SCRIPT), False)
    japanese = pc.or_(
        pc.fill_null(pc.equal(regions, "JP"), False),
        pc.fill_null(pc.match_substring_regex(prepared, _JAPANESE_SCRIPT), False),
    )
    latin = text.python_where(prepared, pc.and_(other, japanese), _japanese_reading)
    latin = pc.utf8_lower(text.python_where(latin, pc.and_(other, pc.invert(japanese)), _romanized))
    tokens = _without_titles(text.words(latin))
    for pattern, replacement in _ROMAN_FOLDS:
        tokens = pc.replace_substring_regex(tokens, pattern, replacement)
    return text.sorted_tokens(tokens)


def _prepared(values: pa.Array) -> pa.Array:
    """Casefolded text without apostrophes or a trailing Japanese honorific."""
    lowered = pc.utf8_lower(text.clean(values))
    lowered = pc.replace_substring(pc.replace_substring(lowered, "ß", "ss"), "ς", "σ")  # casefold's extra cases
    lowered = pc.replace_substring_regex(lowered, text.APOSTROPHES, "")
    lowered = pc.replace_substring_regex(lowered, _FEMININE_TITLE, r"\1\2")
    return pc.replace_substring_regex(lowered, _HONORIFIC, "")


def _without_titles(words: pa.Array) -> pa.Array:
    return text.map_tokens(words, dict.fromkeys(TITLES, ""))


@lru_cache(maxsize=1)
def _kakasi() -> pykakasi.kakasi:
    return pykakasi.kakasi()


@lru_cache(maxsize=1 << 16)
def _japanese_reading(value: str) -> str:
    """Hepburn reading from pykakasi's dictionary, segmented into words ("山田太郎" → "yamada tarou")."""
    return " ".join(part["hepburn"] or part["orig"] for part in _kakasi().convert(value))


@lru_cache(maxsize=1 << 16)
def _romanized(value: str) -> str:
    """``text.to_latin``, except that a run of Chinese or Korean characters, written without spaces,
    becomes "surname given" (one syllable, then the rest joined: "王小明" → "wang xiaoming", as
    passports write it)."""
    return text.to_latin(_HAN_OR_HANGUL.sub(_surname_given, value))


def _surname_given(run: re.Match[str]) -> str:
    syllables = [anyascii(char).lower() for char in run.group()]
    if _HANGUL.match(run.group()):
        syllables[0] = _KOREAN_SURNAMES.get(syllables[0], syllables[0])
    return f" {syllables[0]} {''.join(syllables[1:])} "
