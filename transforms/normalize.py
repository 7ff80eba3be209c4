"""Normalizers: pure functions over Arrow string arrays, shared by customers and dumps.

Each returns a string array where null means "no usable value" (missing,
placeholder or invalid), so a garbage value never becomes a key.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from transforms import phones

PLACEHOLDERS = ["", "null", "none", "nil", "n/a", "na", "-", "--", "\\n", "nan", "undefined"]
_EMAIL = r"^(?P<local>[^@\s]+)@(?P<domain>[^@\s]+\.[^@\s]+)$"
_WRAPPED = r"^(?:mailto:)?[<\"'(\[\s]*([^<>\"'()\[\]\s]+)[>\"')\]\s]*$"
_GMAIL_DOMAINS = ["gmail.com", "googlemail.com"]
_TITLES = r"\b(mr|mrs|ms|miss|mx|dr|prof|sir|herr|frau|mme|mlle|sr|sra|srta)\b"
_PUNCT = r"[^\p{L}\p{N}\s]+"
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d", "%Y%m%d")


def nfkc(values: pa.Array) -> pa.Array:
    """Unicode NFKC. pyarrow's utf8_normalize does not recompose (25.0: "ö" stays "o" +
    U+0308), so non-ASCII values go through Python's unicodedata; ASCII is already NFKC."""
    values = values.cast(pa.string())
    non_ascii = pc.invert(pc.fill_null(pc.string_is_ascii(values), True))
    if not pc.any(non_ascii).as_py():
        return values
    composed = [unicodedata.normalize("NFKC", v) for v in values.filter(non_ascii).to_pylist()]
    return pc.replace_with_mask(values, non_ascii, pa.array(composed, pa.string()))


def clean(values: pa.Array) -> pa.Array:
    """NFKC, trimmed, with placeholder nulls ("NULL", "N/A", "-", …) made null."""
    text = pc.utf8_trim_whitespace(nfkc(values))
    placeholder = pc.is_in(pc.utf8_lower(text), value_set=pa.array(PLACEHOLDERS))
    return pc.if_else(placeholder, pa.scalar(None, pa.string()), text)


def email(values: pa.Array) -> pa.Array:
    """Lowercased address with gmail dots and +tags removed; invalid → null.

    Wrappers dumps put around an address ("<a@b.com>", "mailto:a@b.com", quotes) are removed.
    """
    text = pc.replace_substring_regex(pc.utf8_lower(clean(values)), _WRAPPED, r"\1")
    parts = pc.extract_regex(text, _EMAIL)
    local, domain = pc.struct_field(parts, "local"), pc.struct_field(parts, "domain")
    gmail = pc.is_in(domain, value_set=pa.array(_GMAIL_DOMAINS))
    gmail_local = pc.replace_substring(pc.replace_substring_regex(local, r"\+.*$", ""), ".", "")
    local = pc.if_else(gmail, gmail_local, local)
    domain = pc.if_else(gmail, "gmail.com", domain)
    joined = pc.binary_join_element_wise(local, domain, "@")
    return _null_if_empty_local(joined)


def _null_if_empty_local(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.starts_with(values, "@"), pa.scalar(None, pa.string()), values)


def words(values: pa.Array) -> pa.Array:
    """Lowercase words without punctuation, single-spaced (streets, cities)."""
    text = pc.utf8_lower(clean(values))
    text = pc.replace_substring_regex(text, _PUNCT, " ")
    return _empty_to_null(pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " ")))


def name(values: pa.Array) -> pa.Array:
    """Casefolded name tokens without titles, sorted: "SMITH, John" == "John Smith"."""
    text = pc.replace_substring(pc.utf8_lower(clean(values)), "ß", "ss")
    text = pc.replace_substring_regex(pc.replace_substring_regex(text, _PUNCT, " "), _TITLES, " ")
    return sorted_tokens(_empty_to_null(pc.utf8_trim_whitespace(text)))


def sorted_tokens(values: pa.Array) -> pa.Array:
    """Sorts the whitespace-separated tokens of each value, vectorized."""
    tokens = pc.utf8_split_whitespace(values)
    flat = pc.list_flatten(tokens)
    order = pa.table({"row": pc.list_parent_indices(tokens), "token": flat}).sort_by(
        [("row", "ascending"), ("token", "ascending")]
    )
    rebuilt = pa.ListArray.from_arrays(tokens.offsets, order["token"].combine_chunks(), mask=tokens.is_null())
    return pc.binary_join(rebuilt, " ")


def postcode(values: pa.Array) -> pa.Array:
    """Uppercase postcode without spaces or dashes ("sw1a 1aa" == "SW1A1AA")."""
    return _empty_to_null(pc.replace_substring_regex(pc.utf8_upper(clean(values)), r"[\s\-.]", ""))


def identifier(values: pa.Array) -> pa.Array:
    """Customer numbers, order ids: trimmed and lowercased."""
    return pc.utf8_lower(clean(values))


def country(values: pa.Array) -> pa.Array:
    """Country names and codes → ISO-3166 alpha-2; unknown → null."""
    text = pc.utf8_lower(clean(values))
    table = _country_table()
    keys = pa.array(list(table))
    codes = pa.array(list(table.values()))
    return pc.take(codes, pc.index_in(text, value_set=keys))


@lru_cache(maxsize=1)
def _country_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for entry in pycountry.countries:
        code = entry.alpha_2
        for attr in ("alpha_2", "alpha_3", "name", "common_name", "official_name"):
            value = getattr(entry, attr, None)
            if value:
                table[value.lower()] = code
    table.update({"uk": "GB", "england": "GB", "usa": "US", "america": "US", "deutschland": "DE"})
    return table


def dob(values: pa.Array) -> pa.Array:
    """Dates in common formats → ISO ``YYYY-MM-DD``; unparseable → null."""
    text = clean(values)
    result = pa.nulls(len(text), pa.string())
    for fmt in _DATE_FORMATS:
        parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        result = pc.coalesce(result, pc.strftime(parsed, format="%Y-%m-%d"))
    return result


def phone(values: pa.Array, regions: pa.Array | None, default_region: str | None) -> pa.Array:
    """E.164 via ``phonenumbers``, region from the row's country, else the default.

    Whole arrays go through ``phones`` (tables built from phonenumbers' metadata); only values it
    cannot settle reach ``_e164`` one by one. Results are identical (tests/test_phones.py).
    """
    return phones.e164(values, regions, default_region)


@lru_cache(maxsize=1 << 16)
def _e164(value: str, region: str | None) -> str | None:
    """A "00" prefix is the international prefix in most of the world, even where the
    row's region dials another (011 in the US), so it is retried as "+"."""
    number = _parse_valid(value, region)
    if number is None and value.lstrip().startswith("00"):
        number = _parse_valid("+" + value.lstrip()[2:], None)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_valid(value: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _empty_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


SIMPLE: dict[str, Callable[[pa.Array], pa.Array]] = {
    "email": email,
    "name": name,
    "first_name": name,
    "last_name": name,
    "street": words,
    "city": words,
    "postcode": postcode,
    "country": country,
    "dob": dob,
}


def normalize_columns(columns: dict[str, pa.Array], default_region: str | None) -> dict[str, pa.Array]:
    """Normalizes raw field columns; derives ``name`` from first + last when needed."""
    out: dict[str, pa.Array] = {}
    for field, values in columns.items():
        if field in SIMPLE:
            out[field] = SIMPLE[field](values)
        elif field != "phone":
            out[field] = identifier(values)
    if "first_name" in columns or "last_name" in columns:
        length = len(next(iter(columns.values())))
        parts = [columns.get(f, pa.nulls(length, pa.string())).cast(pa.string()) for f in ("first_name", "last_name")]
        full = name(pc.binary_join_element_wise(*parts, " ", null_handling="skip"))
        out["name"] = pc.coalesce(out["name"], full) if "name" in out else full
    if "phone" in columns:
        out["phone"] = phone(columns["phone"], out.get("country"), default_region)
    return out
