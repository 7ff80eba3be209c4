"""End to end: a dump spelling our customers another way (aliases, formats, other scripts) is matched.

sketch on a small international base, then match a dump that writes every identifier differently:
provider aliases, phone formats, "LAST, First", romanized Japanese and Russian names, abbreviated
streets, other date orders. The real pipelines on the in-process runner.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import match, sketch
from tests.conftest import write_csv

CUSTOMERS = pa.table(
    {
        "customer_id": ["c-gb", "c-jp", "c-ru", "c-de", "c-us", "c-fr"],
        "email": [
            "john.smith@gmail.com",
            "taro.yamada@icloud.com",
            "ivan.petrov@yandex.ru",
            "info@bücher.de",
            "mary.jones@outlook.com",
            "chloe.dubois@orange.fr",
        ],
        "phone": ["+447911123456", "+819012345678", "+79123456789", "+4915123456789", "+12015550123", "+33612345678"],
        "name": ["John Smith", "山田 太郎", "Иван Петров", "Jürgen Müller", "Mary Jones", "Chloé Dubois"],
        "street": [
            "12 High Street",
            "1-2-3 Ginza",
            "улица Ленина, 5",
            "Hauptstraße 5",
            "100 North Main Street",
            "3 rue de l'Église",
        ],
        "postcode": ["SW1A 1AA", "100-0001", "101000", "01067", "02134", "75001"],
        "country": ["GB", "JP", "RU", "DE", "US", "FR"],
        "dob": ["1980-04-03", "1975-01-02", "1990-12-31", "1969-07-20", "1985-02-01", "1992-11-05"],
    }
)
# Every field of every row written another way than the base writes it.
DUMP = pa.table(
    {
        "E-Mail": [
            "John.Smith+shop@GoogleMail.com",
            "Taro.Yamada+x@me.com",
            "Ivan-Petrov@ya.ru",
            "INFO@xn--bcher-kva.de",
            "<mary.jones+news@outlook.com>",
            "not an address",
        ],
        "Phone": ["07911 123456", "090-1234-5678", "8 (912) 345-67-89", "0049-1512-3456789", "(201) 555-0123", "06"],
        "Full Name": [
            "SMITH, John",
            "YAMADA Tarou",
            "Ivan Petrov",
            "Juergen Mueller",
            "Mrs. Mary JONES",
            "Dubois Chloe",
        ],
        "Address": ["High St. 12", "Ginza 1-2-3", "ul. Lenina 5", "Hauptstr. 5", "100 N Main St", "3, R. de l'Eglise"],
        "Zip": ["sw1a1aa", "〒100-0001", "101000", "D-1067", "02134-1234", "75001"],
        "Country": ["United Kingdom", "日本", "Россия", "Deutschland", "U.S.A.", "Frankreich"],
        "Birthday": ["03/04/1980", "1975年1月2日", "31.12.1990", "20. Juli 1969", "02/01/1985", "5 novembre 1992"],
    }
)
EXPECTED = {2: "c-gb", 3: "c-jp", 4: "c-ru", 5: "c-de", 6: "c-us", 7: "c-fr"}  # dump line → customer


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("international")
    key = folder / "k.key"
    key.write_text(secrets.token_hex(32))
    write_csv(folder / "customers.csv", CUSTOMERS)
    write_csv(folder / "dump.csv", DUMP)
    sketch.run(["--customers", str(folder / "customers.csv"), "--out", str(folder / "bundle"), "--key-file", str(key)])
    out = folder / "run"
    report = match.run(
        [
            "--bundle",
            str(folder / "bundle"),
            "--dump",
            str(folder / "dump.csv"),
            "--out",
            str(out),
            "--key-file",
            str(key),
        ]
    )
    return report, out


def _links(out: Path) -> dict[int, dict[str, list[str]]]:
    table = pq.read_table(out / "candidates" / "candidates-00000-of-00001.parquet").to_pydict()
    links: dict[int, dict[str, list[str]]] = {}
    for line, customer, fields in zip(table["line"], table["customer_id"], table["matched_fields"], strict=True):
        links.setdefault(line, {})[customer] = fields
    return links


def test_every_customer_is_found_under_its_other_spelling(run: tuple[dict, Path]) -> None:
    _, out = run
    links = _links(out)
    assert {line: sorted(customers) for line, customers in links.items()} == {
        line: [customer] for line, customer in EXPECTED.items()
    }


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        (2, ["dob", "email", "name", "name_latin", "phone", "street"]),  # gmail alias, national phone, LAST, First
        (3, ["dob", "email", "name_latin", "phone", "street"]),  # 山田 太郎 as YAMADA Tarou; iCloud alias; 年月日
        (4, ["dob", "email", "name_latin", "phone", "street"]),  # Иван Петров romanized; Yandex alias; ул.
        (5, ["dob", "email", "name_latin", "phone", "street"]),  # punycode domain, 00 prefix, Juergen, Hauptstr.
        (6, ["dob", "email", "name", "name_latin", "phone", "street"]),  # month-first date from the US row
        (7, ["dob", "name_latin", "street"]),  # invalid email and phone give no key; accents dropped
    ],
)
def test_each_field_meets_its_customer(run: tuple[dict, Path], line: int, fields: list[str]) -> None:
    _, out = run
    context = {"country", "postcode"}  # every row's, in some spelling: context, never a link alone
    assert _links(out)[line][EXPECTED[line]] == sorted([*fields, *context])


def test_the_report_counts_invalid_values_and_one_name_group(run: tuple[dict, Path]) -> None:
    report, out = run
    fields = report["fields"]
    assert {f: fields[f]["invalid"] for f in ("email", "phone", "postcode")} == {"email": 1, "phone": 1, "postcode": 0}
    assert (fields["name"]["matched"], fields["name_latin"]["matched"]) == (2, 6)
    assert report["records"]["cooccurring"] == 6
    # the best row agrees on 7 fields: email, phone, name (by both keys, counted once), street, dob,
    # postcode, country; the French row on all 5 of its usable fields, so its score is 1
    assert report["records"]["fields_matched"] == {"5": 1, "7": 5}
    scores = pq.read_table(out / "candidates").column("score").to_pylist()
    assert scores == [1.0] * 6
