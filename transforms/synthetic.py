"""Synthetic customer bases and dumps for the demo, tests and benchmarks (no downloads).

Vectorized with pyarrow so a million rows take seconds. A dump mixes rows copied
from the base with realistic noise (case, spacing, "LAST, First", phone formats)
and made-up rows, and records which customer each genuine row came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Locale:
    country: str
    calling_code: str
    mobile_prefix: str  # national significant number without its last 6 digits
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    streets: tuple[str, ...]
    number_first: bool
    cities: tuple[str, ...]
    domains: tuple[str, ...]
    syllables: str  # space-separated; coined names, street and town names: pools of tens of thousands
    street_kinds: tuple[str, ...]  # "{}" is a coined name: "{} Road", "Rue {}", "{}straße"


LOCALES = (
    Locale(
        "GB",
        "44",
        "7400",
        ("Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Jack", "Emily"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas"),
        ("High Street", "Station Road", "Church Lane", "Victoria Road"),
        True,
        ("London", "Leeds", "Bristol", "York"),
        ("gmail.com", "outlook.com", "btinternet.com"),
        "ash ber brad bur by carl ches dal ton ford ham hol ley mer "
        "mor ris sel shaw stan wick win wood wel ing kin lan ridge ster",
        ("{} Road", "{} Street", "{} Lane", "{} Close", "{} Avenue", "{} Way"),
    ),
    Locale(
        "US",
        "1",
        "2015",
        ("James", "Mary", "Robert", "Linda", "Michael", "Sarah", "David", "Karen"),
        ("Johnson", "Miller", "Davis", "Garcia", "Rodriguez", "Martinez", "Moore", "Clark"),
        ("Main Street", "Oak Avenue", "Maple Drive", "Park Boulevard"),
        True,
        ("Springfield", "Denver", "Austin", "Portland"),
        ("gmail.com", "yahoo.com", "aol.com"),
        "bar ben cal car den el fer gan har jen kel lan ley mad "
        "mar mon nel per quin ray ros son ston ter van wal well zer",
        ("{} Street", "{} Avenue", "{} Drive", "{} Boulevard", "{} Court", "{} Place"),
    ),
    Locale(
        "DE",
        "49",
        "15123",
        ("Lukas", "Anna", "Jonas", "Lea", "Felix", "Sophie", "Paul", "Marie"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"),
        ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schulstraße"),
        False,
        ("Berlin", "München", "Köln", "Hamburg"),
        ("web.de", "gmx.de", "gmail.com"),
        "bach berg brü dorf eich feld fuß gär hau hof kel kö kraus lin "
        "mann mül ner rath ro schä schul sen stein ter wal wein zel ler",
        ("{}straße", "{}weg", "{}allee", "{}platz", "{}ring", "{}gasse"),
    ),
    Locale(
        "FR",
        "33",
        "612",
        ("Louis", "Chloé", "Gabriel", "Léa", "Hugo", "Manon", "Jules", "Camille"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
        ("Rue de la Paix", "Avenue Victor Hugo", "Rue du Moulin", "Boulevard Voltaire"),
        True,
        ("Paris", "Lyon", "Marseille", "Lille"),
        ("orange.fr", "free.fr", "gmail.com"),
        "beau bel bou cha ché court dé du fon gar lam lau lé mar "
        "mont nier ol pré rac ré rou sau tel ti val vé vil ville",
        ("Rue {}", "Avenue {}", "Boulevard {}", "Impasse {}", "Place {}", "Allée {}"),
    ),
    Locale(
        "ES",
        "34",
        "612",
        ("Hugo", "Lucía", "Mateo", "Martina", "Pablo", "Sofía", "Álvaro", "Julia"),
        ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez"),
        ("Calle Mayor", "Calle Real", "Avenida de España", "Calle del Sol"),
        False,
        ("Madrid", "Sevilla", "Valencia", "Bilbao"),
        ("gmail.com", "hotmail.es", "yahoo.es"),
        "al ba ca cía do dri fer gar guez lo ma mar mén mon nán nez pe quez ra rí ro san ta tí va var ve zá",
        ("Calle {}", "Avenida de {}", "Plaza {}", "Paseo {}", "Camino de {}", "Ronda {}"),
    ),
)
# Real customers are mostly distinct people: per locale, a quarter of first names, surnames, streets and
# towns are the few common ones above, the rest coined from syllables out of pools this large. A 65,536-row
# batch then holds about as many distinct full names and street lines as a real export (most of them).
COMMON_SHARE = 0.25
POOL_SIZES = {"first_names": 500, "last_names": 20_000, "streets": 5_000, "cities": 1_000}
HOUSE_NUMBERS = 300
PHONE_STRIDE = 7919  # coprime with 10^6: distinct ids within a block of 10^6 get distinct suffixes
PHONE_BLOCKS = 8  # the digit before the suffix (2..9) counts blocks of 10^6 ids
DUMP_HEADERS = {
    "email": "E-Mail",
    "name": "Full Name",
    "phone": "Mobile",
    "street": "Address",
    "city": "City",
    "postcode": "Zip",
    "country": "Country",
}


def _pick(options: pa.Array, index: np.ndarray) -> pa.Array:
    return options.take(pa.array(index))


def _join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    length = next(len(p) for p in parts if not isinstance(p, str))
    arrays = [pa.array(np.full(length, p)) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*arrays, sep)


@cache
def _coined(locale: Locale, pool: str) -> pa.Array:
    """``POOL_SIZES[pool]`` distinct words of two or three of the locale's syllables, the same on every call
    (a fixed shuffle per pool: the pools differ); streets are worded by the locale's street kinds."""
    syllables = locale.syllables.split()
    words = [a + b for a in syllables for b in syllables] + [
        a + b + c for a in syllables for b in syllables for c in syllables
    ]
    shuffle = np.random.default_rng(list(POOL_SIZES).index(pool)).permutation(len(words))
    coined = [words[i].capitalize() for i in shuffle[: POOL_SIZES[pool]]]
    if pool == "streets":
        kinds = locale.street_kinds
        coined = [kinds[i % len(kinds)].format(word) for i, word in enumerate(coined)]
    return pa.array(coined)


def _drawn(rng: np.random.Generator, locale: Locale, pool: str, n: int) -> pa.Array:
    """``n`` values: ``COMMON_SHARE`` of them the locale's common ones, the rest from its coined pool."""
    common = getattr(locale, pool)
    coined = _coined(locale, pool)
    index = np.where(
        rng.random(n) < COMMON_SHARE,
        rng.integers(0, len(common), n),
        len(common) + rng.integers(0, len(coined), n),
    )
    return _pick(pa.concat_arrays([pa.array(common), coined]), index)


def _digits(rng: np.random.Generator, n: int, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(rng.integers(0, 10**width, n).astype(str)), width, "0")


def _phone_numbers(locale: Locale, ids: np.ndarray) -> pa.Array:
    """National numbers unique for the first 8·10^6 ids: prefix, block digit, 6-digit suffix."""
    suffix = pc.utf8_lpad(pa.array(((ids * PHONE_STRIDE) % 10**6).astype(str)), 6, "0")
    block = pa.array((2 + (ids // 10**6) % PHONE_BLOCKS).astype(str))
    return _join(locale.mobile_prefix[:-1], block, suffix)


def customers(n: int, seed: int = 7, first_id: int = 0) -> pa.Table:
    """``n`` customers over several locales; ids, emails and (for the first 8·10^6 ids) phones unique."""
    rng = np.random.default_rng(seed)
    locale_of = rng.integers(0, len(LOCALES), n)
    columns: dict[str, list[pa.Array | pa.ChunkedArray]] = {
        k: []
        for k in ("customer_id", "email", "phone", "first_name", "last_name", "street", "city", "postcode", "country")
    }
    order = np.argsort(locale_of, kind="stable")
    ids = np.arange(first_id, first_id + n)[order]
    for li, locale in enumerate(LOCALES):
        rows = ids[locale_of[order] == li]
        m = rows.size
        if m == 0:
            continue
        first = _drawn(rng, locale, "first_names", m)
        last = _drawn(rng, locale, "last_names", m)
        ascii_first = pc.utf8_lower(pc.replace_substring_regex(pc.utf8_normalize(first, "NFKD"), r"[^A-Za-z]", ""))
        ascii_last = pc.utf8_lower(pc.replace_substring_regex(pc.utf8_normalize(last, "NFKD"), r"[^A-Za-z]", ""))
        domain = _pick(pa.array(locale.domains), rng.integers(0, len(locale.domains), m))
        number = pa.array(rng.integers(1, HOUSE_NUMBERS, m).astype(str))
        street = _drawn(rng, locale, "streets", m)
        columns["customer_id"].append(_join("C", pc.utf8_lpad(pa.array(rows.astype(str)), 8, "0")))
        columns["email"].append(_join(ascii_first, ".", ascii_last, pa.array(rows.astype(str)), "@", domain))
        columns["phone"].append(_join("+", locale.calling_code, _phone_numbers(locale, rows)))
        columns["first_name"].append(first)
        columns["last_name"].append(last)
        columns["street"].append(_join(number, " ", street) if locale.number_first else _join(street, " ", number))
        columns["city"].append(_drawn(rng, locale, "cities", m))
        columns["postcode"].append(_digits(rng, m, 5))
        columns["country"].append(pa.array(np.full(m, locale.country)))
    table = pa.table({k: _chunked(v) for k, v in columns.items()})
    return table.sort_by("customer_id")


def _chunked(parts: list[pa.Array | pa.ChunkedArray]) -> pa.ChunkedArray:
    """Parts as one column; pyarrow hands back a ChunkedArray for some large inputs, so chunks are taken."""
    chunks = [c for part in parts for c in (part.chunks if isinstance(part, pa.ChunkedArray) else [part])]
    return pa.chunked_array(chunks, pa.string())


@dataclass(frozen=True)
class Dump:
    table: pa.Table  # dump columns, headers as a seller would name them
    source_customer: pa.Array  # customer_id each row was copied from, null for made-up rows


def dump(base: pa.Table, rows: int, genuine_fraction: float, seed: int = 11) -> Dump:
    """A dump of ``rows`` rows: a share copied (with noise) from ``base``, the rest made up."""
    rng = np.random.default_rng(seed)
    n_genuine = min(int(rows * genuine_fraction), base.num_rows)
    picked = base.take(pa.array(np.sort(rng.choice(base.num_rows, n_genuine, replace=False))))
    fakes = customers(rows - n_genuine, seed=seed + 1, first_id=base.num_rows)
    fake_email = pc.replace_substring(fakes.column("email"), "@", "@mail-")
    noisy = _noisy(rng, picked)
    made_up = {
        "email": fake_email,
        "name": _join(fakes.column("first_name"), fakes.column("last_name"), sep=" "),
        "phone": fakes.column("phone"),
        "street": fakes.column("street"),
        "city": fakes.column("city"),
        "postcode": fakes.column("postcode"),
        "country": fakes.column("country"),
    }
    table = pa.concat_tables(
        [
            pa.table({DUMP_HEADERS[k]: noisy[k] for k in DUMP_HEADERS}),
            pa.table({DUMP_HEADERS[k]: made_up[k].combine_chunks() for k in DUMP_HEADERS}),
        ]
    )
    source = pa.concat_arrays([picked.column("customer_id").combine_chunks(), pa.nulls(rows - n_genuine, pa.string())])
    shuffle = pa.array(rng.permutation(table.num_rows))
    return Dump(table.take(shuffle), source.take(shuffle))


def _noisy(rng: np.random.Generator, picked: pa.Table) -> dict[str, pa.Array]:
    """Same people, spelled the way dumps spell them."""
    n = picked.num_rows
    email = picked.column("email").combine_chunks()
    email = pc.if_else(pa.array(rng.random(n) < 0.3), pc.utf8_upper(email), email)
    email = pc.if_else(pa.array(rng.random(n) < 0.2), _join(" ", email, " "), email)
    first, last = picked.column("first_name").combine_chunks(), picked.column("last_name").combine_chunks()
    name = pc.if_else(pa.array(rng.random(n) < 0.4), _join(pc.utf8_upper(last), ", ", first), _join(first, " ", last))
    phone = picked.column("phone").combine_chunks()
    spaced = pc.replace_substring_regex(phone, r"^\+(\d{2})(\d{4})", r"+\1 \2 ")
    phone = pc.if_else(pa.array(rng.random(n) < 0.5), pc.replace_substring(spaced, "+", "00"), spaced)
    return {
        "email": email,
        "name": name,
        "phone": phone,
        "street": picked.column("street").combine_chunks(),
        "city": picked.column("city").combine_chunks(),
        "postcode": picked.column("postcode").combine_chunks(),
        "country": picked.column("country").combine_chunks(),
    }
