"""Addresses → keys: the street line with its words unified, postcodes per country, countries as ISO codes.

Street keys must meet across the ways one address is written: "12 Main Street" / "Main St. 12",
"Hauptstraße 5" / "Hauptstr. 5", "Calle Mayor, 3" / "C/ Mayor 3", "ul. Marszałkowska 10" /
"Marszałkowska 10". So the line is folded to Latin letters, every street-type word and its
abbreviations become one token, and the tokens are sorted, which puts the house number in one place.
"""

from __future__ import annotations

import functools
import gettext
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from transforms import text

# Street-type words and their abbreviations, after accents are folded: {canonical: "variants"}.
# Sources: USPS Publication 28 (C1), Royal Mail, and the postal abbreviations of Deutsche Post, La Poste,
# Correos, Poste Italiane, CTT, Poczta Polska and PostNL. One canonical token may serve several
# languages when the words mean the same ("pl": place, Platz, plaza, piazza, plac, praça, plein).
_STREET_WORDS = {
    "st": "street saint",
    "rd": "road",
    "av": "avenue ave avenida avda avd",
    "blvd": "boulevard bd boul bvd",
    "dr": "drive drv",
    "ln": "lane laan",
    "ct": "court crt",
    "pl": "place plaza pza piazza pzza platz plac praca pca plein ploshchad",  # "Marktplatz" → "markt platz"
    "sq": "square sqr",
    "ter": "terrace terr",
    "cres": "crescent cresc",
    "cl": "close",
    "hwy": "highway",
    "pkwy": "parkway",
    "cir": "circle",
    "gdns": "gardens",
    "mt": "mount",
    "n": "north",
    "s": "south",
    "e": "east",
    "w": "west",
    "str": "strasse straat strada",  # and the end of compounds: "Hauptstraße" → "haupt strasse"
    "al": "allee aleja aleje alameda",
    "r": "rue rua",
    "ch": "chemin",
    "imp": "impasse",
    "rte": "route",
    "fbg": "faubourg",
    "c": "calle cl",
    "po": "paseo",
    "ctra": "carretera",
    "cno": "camino",
    "rda": "ronda",
    "via": "v",
    "vle": "viale",
    "cso": "corso",
    "lgo": "largo",
    "vic": "vicolo",
    "tv": "travessa trav",
    "estr": "estrada",
    "os": "osiedle",
    "pr": "prospekt",
    "per": "pereulok",
    "sh": "shosse",
    "": "ulica ul ulitsa odos no nr num numero",  # "ulica", "улица", "οδός" are "street" itself; "No. 5" is 5
}
_STREET_TABLE = {v: canonical for canonical, variants in _STREET_WORDS.items() for v in variants.split()}
_INNER_ABBREVIATION = (r"\b([a-z])\.([a-z]{2,3})\b", r"\1\2")  # Italian "p.za", "v.le", "c.so" are one word
_COMPOUND = (r"([a-z]{3,})(strasse|straat|str|platz)\b", r"\1 \2")  # "Hauptstraße" == "Haupt-Str."
_HOUSE_LETTER = (r"\b(\d+) ([a-z])$", r"\1\2")  # "5 a" == "5a" at the end of the line


def street(values: pa.Array) -> pa.Array:
    """Street line key: Latin letters, one token per street type, house number in one place."""
    return text.by_distinct(values, _street)


def _street(values: pa.Array) -> pa.Array:
    latin = text.transliterate(text.fold_latin(text.clean_lower(values)))
    latin = pc.replace_substring(latin, "'", "")  # transliteration made every apostrophe this one
    for needle, (pattern, replacement) in ((".", _INNER_ABBREVIATION), ("str", _COMPOUND), ("platz", _COMPOUND)):
        rows = pc.fill_null(pc.match_substring(latin, needle), False)  # a literal scan: the regex on few rows
        latin = text.on_subset(
            latin, rows, functools.partial(pc.replace_substring_regex, pattern=pattern, replacement=replacement)
        )
    tokens = text.replace_matches(text.words(latin), *_HOUSE_LETTER)
    return text.sorted_tokens(tokens, _STREET_TABLE)


# Postcode rules by country: (digits a spreadsheet may have cut leading zeros from, pattern of a valid code).
# Patterns are the Universal Postal Union's formats (UPU POST*CODE), written without spaces or dashes.
_POSTCODES: dict[str, tuple[int, str]] = {
    "US": (5, r"^\d{5}$"),
    "DE": (5, r"^\d{5}$"),
    "FR": (5, r"^\d{5}$"),
    "ES": (5, r"^(?:0[1-9]|[1-4]\d|5[0-2])\d{3}$"),
    "IT": (5, r"^\d{5}$"),
    "MX": (5, r"^\d{5}$"),
    "FI": (5, r"^\d{5}$"),
    "PL": (5, r"^\d{5}$"),
    "KR": (5, r"^\d{5}$"),
    "BR": (8, r"^\d{8}$"),
    "JP": (7, r"^\d{7}$"),
    "PT": (0, r"^[1-9]\d{3}(?:\d{3})?$"),
    "GR": (0, r"^[1-8]\d{4}$"),
    "SE": (0, r"^[1-9]\d{4}$"),
    "TR": (5, r"^\d{5}$"),
    "NL": (0, r"^[1-9]\d{3}[A-Z]{2}$"),
    "GB": (0, r"^(?:[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}|GIR0AA)$"),
    "IE": (0, r"^[AC-FHKNPRTV-Y]\d[\dW][AC-FHKNPRTV-Y\d]{4}$"),
    "CA": (0, r"^[ABCEGHJ-NPRSTVXY]\d[A-Z]\d[A-Z]\d$"),
    "IN": (0, r"^[1-9]\d{5}$"),
    "CN": (0, r"^\d{6}$"),
    "RU": (0, r"^\d{6}$"),
    "AU": (4, r"^\d{4}$"),
    "AT": (0, r"^[1-9]\d{3}$"),
    "BE": (0, r"^[1-9]\d{3}$"),
    "CH": (0, r"^[1-9]\d{3}$"),
    "DK": (0, r"^[1-9]\d{3}$"),
    "NO": (4, r"^\d{4}$"),
}
# One pattern for all countries, over "CC:code", so validation is a single pass whatever the mix.
_POSTCODE_PATTERN = "|".join(f"(?:^{region}:{pattern[1:]})" for region, (_, pattern) in _POSTCODES.items())
_COUNTRY_PREFIX = (r"^[A-Z]{1,3}-\s?(\d)", r"\1")  # "D-10115", "CH-8000", "NL-1234 AB": old European style
_US_ZIP4 = 9


def postcode(values: pa.Array, regions: pa.Array) -> pa.Array:
    """Uppercase postcode without spaces or dashes ("sw1a 1aa" == "SW1A1AA"), leading zeros restored
    and ZIP+4 cut to the ZIP where the row's country has rules; invalid for that country → null."""
    code = pc.replace_substring(pc.utf8_upper(text.clean(values)), "〒", "")
    code = text.replace_matches(text.replace_matches(code, *_COUNTRY_PREFIX), r"[\s\-.]", "")
    code = text.empty_to_null(code)
    rule = pc.index_in(regions, value_set=pa.array(list(_POSTCODES)))
    digits = pc.fill_null(pc.match_substring_regex(code, r"^\d+$"), False)
    length = pc.utf8_length(code)
    zip4 = pc.and_(pc.and_(digits, pc.equal(length, _US_ZIP4)), pc.fill_null(pc.equal(regions, "US"), False))
    code = pc.if_else(zip4, pc.utf8_slice_codeunits(code, 0, 5), code)
    width = pc.fill_null(pc.take(pa.array([w for w, _ in _POSTCODES.values()]), rule), 0)
    short = pc.and_(digits, pc.and_(pc.less(length, width), pc.greater_equal(length, pc.subtract(width, 2))))
    for pad in set(pc.unique(pc.filter(width, short)).to_pylist()):
        rows = pc.and_(short, pc.equal(width, pad))
        code = pc.if_else(rows, pc.utf8_lpad(code, pad, "0"), code)
    keyed = pc.binary_join_element_wise(regions, code, ":")
    valid = pc.or_(pc.is_null(rule), pc.fill_null(pc.match_substring_regex(keyed, _POSTCODE_PATTERN), False))
    return pc.if_else(valid, code, pa.scalar(None, pa.string()))


# Country names are looked up in these languages besides English (pycountry's translations).
_COUNTRY_LANGUAGES: tuple[str, ...] = ("de", "fr", "es", "it", "pt", "pt_BR", "pl", "nl", "ru", "uk", "el", "tr")
_COUNTRY_LANGUAGES += ("sv", "da", "nb_NO", "fi", "cs", "hu", "ro", "ja", "zh_CN", "zh_TW", "ko", "ar", "he", "hi")
_COUNTRY_EXTRA = {
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "america": "US",
    "holland": "NL",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "vietnam": "VN",
    "czech republic": "CZ",
    "turkey": "TR",
    "ivory coast": "CI",
    "macedonia": "MK",
    "burma": "MM",
    "swaziland": "SZ",
    "россия": "RU",
    "rossiya": "RU",
    "nippon": "JP",
    "zhongguo": "CN",
    "hellas": "GR",
    "turkiye": "TR",
}


def country(values: pa.Array) -> pa.Array:
    """Country names (in English and the languages above, accents optional) and ISO alpha-2 or
    alpha-3 codes → ISO-3166 alpha-2; unknown → null."""
    return text.by_distinct(text.clean(values), _codes)


def _codes(names: pa.Array) -> pa.Array:
    table = _country_table()
    key = _country_key(pc.utf8_lower(names))
    return pc.take(pa.array(list(table.values())), pc.index_in(key, value_set=pa.array(list(table))))


def _country_key(lowered: pa.Array) -> pa.Array:
    """ "U.S.A." == "usa", "The Netherlands" == "netherlands", "Österreich" == "osterreich"."""
    key = pc.replace_substring_regex(pc.replace_substring(lowered, ".", ""), r"^the\s+", "")
    return text.words(text.fold_latin(key))


@lru_cache(maxsize=1)
def _country_table() -> dict[str, str]:
    """Folded name → alpha-2. English and codes first; a translation never overrides an earlier entry."""
    names: dict[str, str] = {}
    for entry in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "common_name", "official_name"):
            value = getattr(entry, attr, None)
            if value:
                names.setdefault(value, entry.alpha_2)
    for extra, code in _COUNTRY_EXTRA.items():
        names.setdefault(extra, code)
    english = [(entry.name, entry.alpha_2) for entry in pycountry.countries]
    for language in _COUNTRY_LANGUAGES:
        translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
        for name, code in english:
            names.setdefault(translation.gettext(name), code)
    raw = list(names)
    keys = _country_key(pc.utf8_lower(text.nfkc(pa.array(raw, pa.string())))).to_pylist()
    table: dict[str, str] = {}
    for key, name in zip(keys, raw, strict=True):
        if key:
            table.setdefault(key, names[name])
    return table
