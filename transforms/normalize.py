"""Normalizers: pure functions over Arrow string arrays, shared by customers and dumps.

Each returns a string array where null means "no usable value" (missing, placeholder or
invalid), so a garbage value never becomes a key. One module per kind of value does the work
(``emails``, ``phones``, ``names``, ``addresses``, ``dates``); this one maps fields to them and
derives the fields made from others (``name`` from first + last name, ``name_latin`` from ``name``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from transforms import addresses, dates, emails, names, phones, text
from transforms.fields import NAME_LATIN
from transforms.text import PLACEHOLDERS, clean, nfkc, sorted_tokens

__all__ = ["PLACEHOLDERS", "clean", "nfkc", "normalize_columns", "sorted_tokens"]

email = emails.email
name = names.name
street = addresses.street
country = addresses.country
postcode = addresses.postcode
dob = dates.dob


def words(values: pa.Array) -> pa.Array:
    """Lowercase words without punctuation, single-spaced (cities: once per distinct city of a batch)."""
    return text.by_distinct(values, lambda distinct: text.words(text.clean_lower(distinct)))


def identifier(values: pa.Array) -> pa.Array:
    """Customer numbers, order ids: trimmed and lowercased."""
    return text.clean_lower(values)


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


SIMPLE: dict[str, Callable[[pa.Array], pa.Array]] = {
    "email": email,
    "first_name": name,
    "last_name": name,
    "street": street,
    "city": words,
    "country": country,
}
# Fields whose reading depends on the row's region (its country, else the base's default).
REGIONAL: dict[str, Callable[[pa.Array, pa.Array], pa.Array]] = {"postcode": postcode, "dob": dob}


def normalize_columns(columns: dict[str, pa.Array], default_region: str | None) -> dict[str, pa.Array]:
    """Normalizes raw field columns; derives ``name`` from first + last when needed, and ``name_latin``."""
    if not columns:
        return {}
    length = len(next(iter(columns.values())))
    out: dict[str, pa.Array] = {}
    if "country" in columns:
        out["country"] = country(columns["country"])
    regions = text.row_regions(out.get("country"), default_region, length)
    for field, values in columns.items():
        if field == "country":
            continue  # done first: every regional field reads it
        if field in SIMPLE:
            out[field] = SIMPLE[field](values)
        elif field in REGIONAL:
            out[field] = REGIONAL[field](values, regions)
        elif field not in ("phone", "name"):
            out[field] = identifier(values)
    full = _full_name(columns, length)
    if full is not None:
        out["name"], out[NAME_LATIN] = names.name_keys(full, regions)
    if "phone" in columns:
        out["phone"] = phone(columns["phone"], out.get("country"), default_region)
    return out


def _full_name(columns: dict[str, pa.Array], length: int) -> pa.Array | None:
    """The raw full name: the name column where it holds a name, else first + last name."""
    given = columns.get("name")
    if "first_name" not in columns and "last_name" not in columns:
        return given
    parts = [columns.get(f, pa.nulls(length, pa.string())).cast(pa.string()) for f in ("first_name", "last_name")]
    # "replace", not "skip": pyarrow 25 drops the rows whose parts are all null under "skip". The
    # stray space of a single part is trimmed with the rest of the name.
    joined = pc.binary_join_element_wise(*parts, " ", null_handling="replace", null_replacement="")
    if given is None:
        return joined
    return pc.if_else(pc.is_valid(name(given)), given.cast(pa.string()), joined)
