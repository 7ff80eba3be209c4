"""Vectorized phones: equal to the phonenumbers slow path value by value, and really used."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import phonenumbers
import pyarrow as pa
import pytest
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType

from tests import test_normalize
from transforms import normalize, phones

SEEDS = range(3)
VARIANTS = 2  # random digit variations of each example number, besides the example itself
ODD_REGIONS = ["", "gb", "ZZ", "001"]  # empty means "use the default"; the rest are unknown
CORRUPTIONS = 0.3
# Values only phonenumbers itself reads: vanity letters, extensions, RFC 3966 parameters, and
# "+" before an unknown code (re-read as a national number of the row's region).
LENIENT = [
    "1-800-FLOWERS",
    "+1 202 555 0143 ext. 12",
    "+44 20 7946 0958 x7",
    "tel:+1-202-555-0143;ext=1",
    "+0 202 555 0143",
]
# Rules the fast path reproduces, with what phonenumbers makes of them.
RULES = [
    ("06 1234 5678", "IT", "+390612345678"),  # Italian leading zero
    ("4123456", "BB", "+12464123456"),  # national prefix transform rule: the area code added
    ("456789", "JE", "+441534456789"),
    ("011 15 2345-6789", "AR", "+5491123456789"),
    ("0 15 21 2345-6789", "BR", "+552123456789"),  # carrier code
    ("03-1234-5678", "JP", "+81312345678"),
    ("447911123456", "GB", "+447911123456"),  # the region's own code without "+"
    ("1 (202) 555-0143", "CA", "+12025550143"),
    ("4915123456789", "DE", "+494915123456789"),  # ... unless the whole is a valid German number
    ("011 44 7911 123456", "US", "+447911123456"),  # the region's international prefix
    ("810 44 7911 123456", "RU", "+447911123456"),
    ("8 (912) 345-67-89", "RU", "+79123456789"),
    ("+1 268 464 1234", None, "+12684641234"),  # +1: Antigua by its leading digits
    ("01481 256789", "GG", "+441481256789"),
    ("+800 1234 5678", None, "+80012345678"),  # non-geographic
    ("+44 (0) 7911 123456", None, "+447911123456"),
    ("tel:+44-7911-123456", None, "+447911123456"),
]
# The cases of tests/test_normalize.py::test_phone, read from its parametrize mark.
NORMALIZE_CASES = next(
    mark.args[1]
    for mark in test_normalize.test_phone.pytestmark  # type: ignore[attr-defined]
    if mark.name == "parametrize"
)


def slow_path(
    values: Sequence[str | None], regions: Sequence[str | None], default_region: str | None
) -> list[str | None]:
    """What ``normalize.phone`` computed before the fast path: phonenumbers, value by value."""
    text = normalize.clean(pa.array(values, pa.string())).to_pylist()
    return [
        None if value is None else normalize._e164(value, region or default_region)
        for value, region in zip(text, regions, strict=True)
    ]


def _examples() -> Iterator[tuple[str | None, PhoneNumber]]:
    """Every example number phonenumbers has: each region and type, each non-geographic code."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                yield region, example
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            yield None, example


def _vary(rng: random.Random, digits: str) -> str:
    """A digit changed, dropped or added: valid neighbours and invalid ones."""
    chars = list(digits)
    position = rng.randrange(len(chars))
    change = rng.randrange(3)
    if change == 0:
        chars[position] = rng.choice("0123456789")
    elif change == 1 and len(chars) > 2:
        del chars[position]
    else:
        chars.insert(position, rng.choice("0123456789"))
    return "".join(chars)


def _formats(rng: random.Random, number: PhoneNumber, regions: list[str]) -> list[tuple[str, str | None]]:
    """The ways dumps write a number, each with the region it is written for (if any)."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    dialled_from = rng.choice(regions)
    written = [
        e164,
        international,
        national,
        phonenumbers.format_number(number, PhoneNumberFormat.RFC3966),
        "00" + international[1:],
        e164[1:],  # the calling code without "+"
        national.replace(" ", "-"),
        phonenumbers.national_significant_number(number),
        e164[-rng.randint(5, 8) :],  # a local number, without the area code
        phonenumbers.format_national_number_with_carrier_code(number, rng.choice(["15", "21", "0"])),
    ]
    return [(value, None) for value in written] + [
        (phonenumbers.format_out_of_country_calling_number(number, dialled_from), dialled_from)
    ]


def _corrupt(rng: random.Random, value: str) -> str:
    """Damage dumps show: letters, extensions, tabs, stray prefixes and suffixes, truncation."""
    position = rng.randrange(len(value) + 1)
    return rng.choice(
        [
            value[:position] + rng.choice("abxTE") + value[position:],
            value + rng.choice([" ext. 12", " x123", "#", ";ext=5", ",,12"]),
            value.replace(" ", "\t", 1),
            rng.choice(["Tel: ", "tel:", "(", "++", "+0", "0", "+"]) + value.lstrip("+"),
            value + rng.choice(["-", ")", " /"]),
            value.replace(" ", "")[: rng.randint(1, 6)],
            value.replace(" ", rng.choice([".", "/", "", "  "])),
        ]
    )


def generated_cases(seed: int) -> tuple[list[str | None], list[str | None]]:
    """Values with the right region, a wrong one, none, or an odd one, for every example."""
    rng = random.Random(seed)
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    values: list[str | None] = []
    row_regions: list[str | None] = []
    for home, example in _examples():
        example_digits = phonenumbers.national_significant_number(example)
        for digits in [example_digits] + [_vary(rng, example_digits) for _ in range(VARIANTS)]:
            try:
                number = phonenumbers.parse(f"+{example.country_code}{digits}")
            except phonenumbers.NumberParseException:
                continue
            for value, written_for in _formats(rng, number, regions):
                values.append(_corrupt(rng, value) if rng.random() < CORRUPTIONS else value)
                right = written_for or home
                row_regions.append(rng.choice([right, right, None, rng.choice(regions), rng.choice(ODD_REGIONS)]))
    return values, row_regions


@pytest.mark.parametrize("seed", SEEDS)
def test_fast_path_equals_slow_path_for_generated_numbers(seed: int) -> None:
    values, regions = generated_cases(seed)
    default_region = [None, "GB", "DE"][seed]
    assert len(values) > 20000
    converted = phones.convert(pa.array(values, pa.string()), pa.array(regions, pa.string()), default_region)
    expected = slow_path(values, regions, default_region)
    got = converted.phones.to_pylist()
    differences = [(v, r, g, e) for v, r, g, e in zip(values, regions, got, expected, strict=True) if g != e]
    assert not differences, differences[:20]
    assert sum(e is not None for e in expected) > len(values) / 4  # valid numbers too, not just junk
    assert converted.slow < len(values) * CORRUPTIONS  # only damaged values and odd regions go slow


@pytest.mark.parametrize(("raw", "region", "expected"), NORMALIZE_CASES)
def test_normalize_cases(raw: str, region: str | None, expected: str | None) -> None:
    assert phones.e164(pa.array([raw]), pa.array([region], pa.string()), None).to_pylist() == [expected]


@pytest.mark.parametrize(("raw", "region", "expected"), RULES)
def test_rules_are_reproduced_on_the_fast_path(raw: str, region: str | None, expected: str) -> None:
    converted = phones.convert(pa.array([raw]), pa.array([region], pa.string()), None)
    assert converted.phones.to_pylist() == [expected] == slow_path([raw], [region], None)
    assert converted.slow == 0


def test_default_region_applies_when_row_has_none() -> None:
    result = phones.e164(pa.array(["07911 123456", "06 12 34 56 78"]), pa.array([None, "FR"]), "GB")
    assert result.to_pylist() == ["+447911123456", "+33612345678"]


def test_null_and_empty_regions_fall_back_to_the_default() -> None:
    result = phones.e164(pa.array(["07911 123456", "07911 123456", None]), pa.array([None, "", "GB"]), "GB")
    assert result.to_pylist() == ["+447911123456", "+447911123456", None]
    assert phones.e164(pa.array(["07911 123456"]), None, "GB").to_pylist() == ["+447911123456"]


def test_well_formed_numbers_take_the_fast_path() -> None:
    values = [raw for raw, _, _ in NORMALIZE_CASES] * 100
    regions = [region for _, region, _ in NORMALIZE_CASES] * 100
    converted = phones.convert(pa.array(values), pa.array(regions, pa.string()), None)
    assert converted.slow == 0
    assert converted.phones.to_pylist() == slow_path(values, regions, None)


def test_lenient_values_take_the_slow_path_and_match_it() -> None:
    regions = ["US"] * len(LENIENT)
    converted = phones.convert(pa.array(LENIENT), pa.array(regions), None)
    assert converted.slow == len(LENIENT)
    assert converted.phones.to_pylist() == slow_path(LENIENT, regions, None)
