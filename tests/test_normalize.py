"""Normalizers: table-driven cases, the same function for customers and dumps."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pytest

from transforms import normalize


def _one(fn, value):  # type: ignore[no-untyped-def]
    return fn(pa.array([value], pa.string())).to_pylist()[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("john@example.com", "john@example.com"),
        ("  John@Example.COM ", "john@example.com"),
        ("John.Smith+shop@GoogleMail.com", "johnsmith@gmail.com"),
        ("j.o.h.n@gmail.com", "john@gmail.com"),
        ("john.smith+tag@example.com", "john.smith+tag@example.com"),
        ("ｊｏｈｎ@example.com", "john@example.com"),  # full-width (NFKC)
        ("<john@example.com>", "john@example.com"),
        ("mailto:John@Example.com", "john@example.com"),
        ("'john@example.com'", "john@example.com"),
        ("John <john@example.com>", None),  # ambiguous: which part is the address is not ours to guess
        ("not-an-email", None),
        ("a@b", None),
        ("two@@example.com", None),
        ("+x@gmail.com", None),
        ("NULL", None),
        ("\\N", None),
        ("N/A", None),
        ("-", None),
        ("", None),
        (None, None),
    ],
)
def test_email(raw: str | None, expected: str | None) -> None:
    assert _one(normalize.email, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John Smith", "john smith"),
        ("SMITH, John", "john smith"),
        ("Mr. John Smith", "john smith"),
        ("Dr John  SMITH", "john smith"),
        ("Jöhn Smith", "jöhn smith"),
        ("Straße Groß", "gross strasse"),
        ("山田 太郎", "太郎 山田"),
        ("Иван Петров", "иван петров"),
        ("O'Brien, Seán", "brien o seán"),
        ("N/A", None),
        ("  ", None),
    ],
)
def test_name(raw: str | None, expected: str | None) -> None:
    assert _one(normalize.name, raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 7911 123456", None, "+447911123456"),
        ("07911 123456", "GB", "+447911123456"),
        ("0044-7911-123456", "GB", "+447911123456"),
        ("0044 7911 123456", "US", "+447911123456"),  # "00" is international even where 011 is the IDD
        ("(202) 555-0143", "US", "+12025550143"),
        ("+49 1512 3456789", None, "+4915123456789"),
        ("01512 3456789", "DE", "+4915123456789"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("123", "GB", None),
        ("not a number", "GB", None),
        ("07911 123456", None, None),  # national format without a region: no guess
    ],
)
def test_phone(raw: str, region: str | None, expected: str | None) -> None:
    regions = pa.array([region], pa.string())
    assert normalize.phone(pa.array([raw]), regions, None).to_pylist() == [expected]


def test_phone_default_region_applies_when_row_has_none() -> None:
    result = normalize.phone(pa.array(["07911 123456", "06 12 34 56 78"]), pa.array([None, "FR"]), "GB")
    assert result.to_pylist() == ["+447911123456", "+33612345678"]


def test_nfkc_composes_like_unicodedata() -> None:
    values = ["Jo\u0308hn", "ｊｏｈｎ", "ﬁle", "plain", None]
    expected = [None if v is None else unicodedata.normalize("NFKC", v) for v in values]
    assert (
        normalize.nfkc(pa.array(values, pa.string())).to_pylist() == expected == ["Jöhn", "john", "file", "plain", None]
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Germany", "DE"),
        ("de", "DE"),
        ("DEU", "DE"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("usa", "US"),
        ("Atlantis", None),
        (None, None),
    ],
)
def test_country(raw: str | None, expected: str | None) -> None:
    assert _one(normalize.country, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1990-01-02", "1990-01-02"), ("02.01.1990", "1990-01-02"), ("02/01/1990", "1990-01-02"), ("junk", None)],
)
def test_dob(raw: str, expected: str | None) -> None:
    assert _one(normalize.dob, raw) == expected


@pytest.mark.parametrize(
    ("fn", "raw", "expected"),
    [
        (normalize.postcode, "sw1a 1aa", "SW1A1AA"),
        (normalize.postcode, "10115", "10115"),
        (normalize.postcode, "-", None),
        (normalize.words, "1 High Street,", "1 high street"),
        (normalize.words, "  Hauptstraße   5 ", "hauptstraße 5"),
        (normalize.identifier, " ORD-123 ", "ord-123"),
    ],
)
def test_simple_fields(fn, raw: str, expected: str | None) -> None:  # type: ignore[no-untyped-def]
    assert _one(fn, raw) == expected


def test_full_name_derived_from_first_and_last() -> None:
    out = normalize.normalize_columns(
        {"first_name": pa.array(["John", None, "Ann"]), "last_name": pa.array(["SMITH", "Lee", None])}, None
    )
    assert out["name"].to_pylist() == ["john smith", "lee", "ann"]


def test_name_column_wins_over_parts_when_present() -> None:
    out = normalize.normalize_columns(
        {
            "name": pa.array(["Smith, John", None]),
            "first_name": pa.array(["X", "Ann"]),
            "last_name": pa.array(["Y", "Lee"]),
        },
        None,
    )
    assert out["name"].to_pylist() == ["john smith", "ann lee"]


def test_phone_region_comes_from_country_column() -> None:
    out = normalize.normalize_columns(
        {"phone": pa.array(["06 12 34 56 78", "07911 123456"]), "country": pa.array(["France", "GB"])}, "US"
    )
    assert out["phone"].to_pylist() == ["+33612345678", "+447911123456"]
