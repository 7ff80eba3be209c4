"""Normalizers: table-driven cases from many locales, the same function for customers and dumps."""

from __future__ import annotations

import sys
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from transforms import fields, normalize, text
from transforms.errors import InputError


def _one(fn, value):  # type: ignore[no-untyped-def]
    return fn(pa.array([value], pa.string())).to_pylist()[0]


def _regional(fn, value: str | None, region: str | None):  # type: ignore[no-untyped-def]
    return fn(pa.array([value], pa.string()), pa.array([region], pa.string())).to_pylist()[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("john@example.com", "john@example.com"),
        ("  John@Example.COM ", "john@example.com"),
        ("ｊｏｈｎ@example.com", "john@example.com"),  # full-width (NFKC)
        ("<john@example.com>", "john@example.com"),
        ("mailto:John@Example.com", "john@example.com"),
        ("'john@example.com'", "john@example.com"),
        ("john@example.com.", "john@example.com"),  # the DNS root dot
        # Google: dots and +tags ignored, googlemail.com is gmail.com (US, GB, DE accounts)
        ("John.Smith+shop@GoogleMail.com", "johnsmith@gmail.com"),
        ("j.o.h.n@gmail.com", "john@gmail.com"),
        # Microsoft (US, GB, FR): +tags only; hotmail and outlook are separate namespaces
        ("j.doe+news@outlook.com", "j.doe@outlook.com"),
        ("Jean.Dupont+promo@hotmail.fr", "jean.dupont@hotmail.fr"),
        # Apple: one namespace under icloud.com
        ("anna+shop@me.com", "anna@icloud.com"),
        # Proton (CH): one namespace under proton.me
        ("max.muster+x@protonmail.ch", "max.muster@proton.me"),
        # Yandex (RU): one namespace, "." and "-" the same login
        ("Ivan.Petrov+ozon@ya.ru", "ivan-petrov@yandex.ru"),
        # Fastmail (AU): "anything@user.fastmail.com" is "user@fastmail.com"
        ("orders@kylie.fastmail.com", "kylie@fastmail.com"),
        # Zoho (IN): +tags
        ("rahul+bills@zohomail.com", "rahul@zohomail.com"),
        # Providers without alias rules keep the address (Yahoo "name-keyword", web.de, orange.fr, naver.com)
        ("mary-shop@yahoo.com", "mary-shop@yahoo.com"),
        ("john.smith+tag@example.com", "john.smith+tag@example.com"),
        ("lukas.mueller+x@web.de", "lukas.mueller+x@web.de"),
        ("minjun.kim@naver.com", "minjun.kim@naver.com"),
        # Internationalized domains → punycode (DE, JP, RU, GR, CN); Unicode local parts kept (RFC 6531)
        ("info@Bücher.de", "info@xn--bcher-kva.de"),
        ("info@xn--bcher-kva.de", "info@xn--bcher-kva.de"),
        ("taro@例え.jp", "taro@xn--r8jz45g.jp"),
        ("ivan@пример.рф", "ivan@xn--e1afmkfd.xn--p1ai"),
        ("Γιώργος@example.gr", "γιώργος@example.gr"),
        ("wang@中国移动.中国", "wang@xn--fiq02ib9d179b.xn--fiqs8s"),
        # Invalid → null (counted in the report's `invalid`)
        ("John <john@example.com>", None),  # ambiguous: which part is the address is not ours to guess
        ("not-an-email", None),
        ("a@b", None),
        ("a@localhost", None),
        ("two@@example.com", None),
        ("a..b@example.com", None),
        (".a@example.com", None),
        ("a@-example.com", None),
        ("a@example.c0m", None),
        ("a@[192.0.2.1]", None),
        ("+x@gmail.com", None),  # nothing before the tag
        (("x" * 65) + "@example.com", None),
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
    ("raw", "region", "name", "latin"),
    [
        ("John Smith", "US", "john smith", "jon smith"),  # "oh" → "o": see names._ROMAN_FOLDS
        ("SMITH, John", "GB", "john smith", "jon smith"),
        ("Mr. John Smith", "GB", "john smith", "jon smith"),
        ("Dr John  SMITH Jr.", "US", "john smith", "jon smith"),
        ("Jöhn Smith", "DE", "jöhn smith", "jon smith"),
        ("Müller, Hans-Jürgen", "DE", "hans jürgen müller", "hansjurgen muller"),
        ("Herr Dipl.-Ing. Lukas Weber", "DE", "lukas weber", "lukas weber"),
        ("Straße Groß", "DE", "gross strasse", "gross strasse"),
        ("Mme Chloé Dubois", "FR", "chloé dubois", "chlo dubois"),  # "oe" folded like a German ö
        ("Jean-Pierre Dupont", "FR", "dupont jean pierre", "dupont jeanpierre"),
        ("Sr. José García Pérez", "ES", "garcía josé pérez", "garcia jose perez"),
        ("Dott.ssa Giulia Rossi", "IT", "giulia rossi", "giulia rossi"),
        ("João Gonçalves", "PT", "gonçalves joão", "goncalves joao"),
        ("Sra. Ana Luíza Araújo", "BR", "ana araújo luíza", "ana araujo luiza"),
        ("Pan Łukasz Żółć", "PL", "łukasz żółć", "lukasz zolc"),
        ("dhr. Jan de Vries", "NL", "de jan vries", "de jan vries"),
        ("O'Brien, Seán", "IE", "obrien seán", "obrien sean"),
        ("Seán O’Brien", "IE", "obrien seán", "obrien sean"),
        ("山田 太郎", "JP", "太郎 山田", "taro yamada"),
        ("山田太郎 様", "JP", "山田太郎", "taro yamada"),
        ("ヤマダ タロウ", None, "タロウ ヤマダ", "taro yamada"),
        ("YAMADA Tarō", "JP", "tarō yamada", "taro yamada"),
        ("Yamada Tarou", "JP", "tarou yamada", "taro yamada"),
        ("Taroh Yamada", "JP", "taroh yamada", "taro yamada"),  # "oh" before a space as at the end
        ("Oohashi Yuuko", "JP", "oohashi yuuko", "ohashi yuko"),
        ("Tarou Taroh Taro", "JP", "taro taroh tarou", "taro taro taro"),  # three words folded to one
        ("Иван Петров", "RU", "иван петров", "ivan petrov"),
        ("ПЕТРОВ Иван", "RU", "иван петров", "ivan petrov"),
        ("Γιώργος Παπαδόπουλος", "GR", "γιώργοσ παπαδόπουλοσ", "giorgos papadopolos"),  # final sigma folded
        ("Giorgos Papadopoulos", "GR", "giorgos papadopoulos", "giorgos papadopolos"),
        ("王小明", "CN", "王小明", "wang xiaoming"),
        ("Xiaoming WANG", "CN", "wang xiaoming", "wang xiaoming"),
        ("김민준", "KR", "김민준", "kim minjun"),
        ("Kim Min-jun", "KR", "jun kim min", "kim minjun"),
        ("राहुल शर्मा", "IN", "राहुल शर्मा", "rahul srma"),  # vowel signs stay in the native key
        ("Priya Sharma", "IN", "priya sharma", "priya sharma"),
        ("N/A", None, None, None),
        ("Mr.", None, None, None),
        ("  ", None, None, None),
    ],
)
def test_name_keys(raw: str, region: str | None, name: str | None, latin: str | None) -> None:
    out = normalize.normalize_columns({"name": pa.array([raw]), "country": pa.array([region], pa.string())}, None)
    assert (out["name"][0].as_py(), out[fields.NAME_LATIN][0].as_py()) == (name, latin)


@pytest.mark.parametrize(
    ("variants", "region"),
    [
        (["John Smith", "SMITH, John", "Mr John SMITH", "Jöhn Smith"], "GB"),
        (["山田 太郎", "山田太郎", "Yamada Taro", "TARO Yamada", "やまだ たろう", "Yamada Tarou", "Yamada Tarō"], "JP"),
        (["Иван Петров", "Ivan Petrov", "PETROV, Ivan"], "RU"),
        (["Ольга Смирнова", "Olga Smirnova"], "RU"),  # anyascii writes the soft sign as an apostrophe
        (["王小明", "小明 王", "Wang Xiaoming", "Xiaoming Wang"], "CN"),
        (["Jürgen Müller", "Juergen Mueller", "Jurgen Muller", "MÜLLER, Jürgen"], "DE"),
        (["Łukasz Żółć", "Lukasz Zolc", "ZÓŁĆ, Łukasz"], "PL"),
        (["François Lefèvre", "Francois LEFEVRE", "Lefèvre, François"], "FR"),
    ],
)
def test_spellings_of_one_person_meet_on_the_latin_key(variants: list[str], region: str) -> None:
    regions = pa.array([region] * len(variants))
    assert len(set(normalize.names.name_latin(pa.array(variants), regions).to_pylist())) == 1


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 7911 123456", None, "+447911123456"),
        ("07911 123456", "GB", "+447911123456"),
        ("0044-7911-123456", "GB", "+447911123456"),
        ("+44 (0) 7400 123456", None, "+447400123456"),
        ("07700 900123", "GB", None),  # Ofcom's drama range: never assigned, so not a valid number
        ("0044 7911 123456", "US", "+447911123456"),  # "00" is international even where 011 is the IDD
        ("(202) 555-0143", "US", "+12025550143"),
        ("201.555.0123", "US", "+12015550123"),
        ("+1-201-555-0123", None, "+12015550123"),
        ("+49 1512 3456789", None, "+4915123456789"),
        ("01512 3456789", "DE", "+4915123456789"),
        ("0151/23456789", "DE", "+4915123456789"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06.12.34.56.78", "FR", "+33612345678"),
        ("0033 6 12 34 56 78", "FR", "+33612345678"),
        ("612 34 56 78", "ES", "+34612345678"),
        ("+34 612-345-678", None, "+34612345678"),
        ("312 345 6789", "IT", "+393123456789"),
        ("912 345 678", "PT", "+351912345678"),
        ("(11) 96123-4567", "BR", "+5511961234567"),
        ("512-345-678", "PL", "+48512345678"),
        ("06-12345678", "NL", "+31612345678"),
        ("090-1234-5678", "JP", "+819012345678"),
        ("8 (912) 345-67-89", "RU", "+79123456789"),
        ("691 234 5678", "GR", "+306912345678"),
        ("081234 56789", "IN", "+918123456789"),
        ("131 2345 6789", "CN", "+8613123456789"),
        ("010-2000-0000", "KR", "+821020000000"),
        ("0412 345 678", "AU", "+61412345678"),
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


def _unstable(values: list[str]) -> list[bool]:
    return pc.match_substring_regex(pa.array(values, pa.string()), text.nfkc_unstable()).to_pylist()


def test_nfkc_skips_only_characters_it_cannot_change() -> None:
    """``nfkc`` leaves values without an "unstable" character alone: every character outside the class
    is NFKC on its own, and every pair that NFKC composes has its second character in the class."""
    chars = [chr(code) for code in range(0x80, sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF]
    outside = [char for char, unstable in zip(chars, _unstable(chars), strict=True) if not unstable]
    assert [char for char in outside if unicodedata.normalize("NFKC", char) != char] == []
    assert len(outside) > 1_000_000  # Latin letters with accents ("é", "ö") are among them
    pairs = [
        "".join(chr(int(code, 16)) for code in unicodedata.decomposition(char).split())
        for char in chars
        if unicodedata.decomposition(char)[:1] not in ("", "<") and len(unicodedata.decomposition(char).split()) == 2
    ]
    pairs += ["\u1100\u1161", "\uac00\u11a8"]  # Hangul: leading + vowel jamo, syllable + final jamo
    composed = [pair for pair in pairs if unicodedata.normalize("NFKC", pair) != pair]
    assert len(composed) > 900 and all(_unstable(composed))
    mixed = ["Müller", "Mu\u0308ller", "ＭÜLLER", "김민준", "\u1100\u1161", "Ørsted", "ﬀ", "山田", "Ἀθῆναι"]
    assert normalize.nfkc(pa.array(mixed)).to_pylist() == [unicodedata.normalize("NFKC", v) for v in mixed]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Germany", "DE"),
        ("de", "DE"),
        ("DEU", "DE"),
        ("Deutschland", "DE"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("Royaume-Uni", "GB"),
        ("usa", "US"),
        ("U.S.A.", "US"),
        ("Estados Unidos", "US"),
        ("Allemagne", "DE"),
        ("France", "FR"),
        ("España", "ES"),
        ("Espana", "ES"),
        ("Italia", "IT"),
        ("Brasil", "BR"),
        ("Polska", "PL"),
        ("The Netherlands", "NL"),
        ("Nederland", "NL"),
        ("Österreich", "AT"),
        ("日本", "JP"),
        ("Japón", "JP"),
        ("Россия", "RU"),
        ("Ελλάδα", "GR"),
        ("中国", "CN"),
        ("India", "IN"),
        ("South Korea", "KR"),
        ("Atlantis", None),
        (None, None),
    ],
)
def test_country(raw: str | None, expected: str | None) -> None:
    assert _one(normalize.country, raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("1990-01-02", None, "1990-01-02"),
        ("1990-01-02T00:00:00Z", None, "1990-01-02"),
        ("19900102", None, "1990-01-02"),
        ("02/01/1990", "GB", "1990-01-02"),  # day first
        ("01/02/1990", "US", "1990-01-02"),  # month first
        ("13/04/1990", "US", "1990-04-13"),  # unambiguous either way
        ("04/13/1990", "DE", "1990-04-13"),
        ("02.01.1990", "DE", "1990-01-02"),
        ("2. Januar 1990", "DE", "1990-01-02"),
        ("02/01/90", "FR", "1990-01-02"),
        ("1er janvier 1990", "FR", "1990-01-01"),
        ("2 de enero de 1990", "ES", "1990-01-02"),
        ("02-01-1990", "IT", "1990-01-02"),
        ("2 gennaio 1990", "IT", "1990-01-02"),
        ("02/01/1990", "PT", "1990-01-02"),
        ("2 de janeiro de 1990", "BR", "1990-01-02"),
        ("2 stycznia 1990", "PL", "1990-01-02"),
        ("02-01-1990", "NL", "1990-01-02"),
        ("1990/01/02", "JP", "1990-01-02"),
        ("1990年1月2日", "JP", "1990-01-02"),
        ("1990년 1월 2일", "KR", "1990-01-02"),
        ("02.01.1990", "RU", "1990-01-02"),
        ("2 января 1990 г.", "RU", "1990-01-02"),
        ("02/01/1990", "IN", "1990-01-02"),
        ("January 2, 1990", "US", "1990-01-02"),
        ("02-JAN-90", None, "1990-01-02"),
        ("01/02/1990", "PH", "1990-01-02"),
        ("02/01/05", "GB", "2005-01-02"),
        ("03/04/1990", None, "1990-04-03"),  # no region: day first, as most of the world
        ("29.02.1992", "DE", "1992-02-29"),
        ("29.02.1991", "DE", None),
        ("1990-02-30", None, None),
        ("00/00/0000", None, None),
        ("1066-10-14", None, None),  # no living customer
        ("junk", None, None),
        ("", None, None),
    ],
)
def test_dob(raw: str, region: str | None, expected: str | None) -> None:
    assert _regional(normalize.dob, raw, region) == expected


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        (["12 Main Street", "Main St. 12", "12 MAIN ST"], "12 main st"),  # US
        (["100 North Main Street", "100 N. Main St"], "100 main n st"),
        (["1 High Street", "High St, 1"], "1 high st"),  # GB
        (["Flat 3, 12 High St", "12 High Street, Flat 3"], "12 3 flat high st"),
        (["Hauptstraße 5", "Hauptstr. 5", "Haupt-Str. 5", "Hauptstrasse 5"], "5 haupt str"),  # DE
        (["Hauptstraße 5 a", "Hauptstr. 5a"], "5a haupt str"),
        (["Marktplatz 1", "Markt Platz 1"], "1 markt pl"),
        (["3 rue de l'Église", "3, R. de l'Eglise", "Rue de L’Église 3"], "3 de leglise r"),  # FR
        (["12 avenue Victor Hugo", "12 av. Victor-Hugo"], "12 av hugo victor"),
        (["Calle Mayor, 3", "C/ Mayor 3", "Calle Mayor nº 3"], "3 c mayor"),  # ES
        (["Avenida de España 10", "Avda. de España, 10"], "10 av de espana"),
        (["Via Roma 1", "V. Roma, 1"], "1 roma via"),  # IT
        (["Piazza Garibaldi 2", "P.za Garibaldi 2"], "2 garibaldi pl"),
        (["Viale Monza 5", "V.le Monza 5"], "5 monza vle"),
        (["Rua Augusta, 100", "R. Augusta 100"], "100 augusta r"),  # PT/BR
        (["Praça da Sé 1", "Pça da Sé, 1"], "1 da pl se"),
        (["ul. Marszałkowska 10", "Marszałkowska 10", "ulica Marszałkowska 10"], "10 marszalkowska"),  # PL
        (["al. Jerozolimskie 5", "Aleje Jerozolimskie 5"], "5 al jerozolimskie"),
        (["Dorpsstraat 5", "Dorpsstr. 5"], "5 dorps str"),  # NL
        (["улица Ленина 5", "ul. Lenina 5"], "5 lenina"),  # RU: Cyrillic is read in Latin letters
        (["Οδός Ερμού 10", "Odos Ermou 10", "Ερμού 10"], "10 ermou"),  # GR
    ],
)
def test_street(variants: list[str], expected: str) -> None:
    assert normalize.street(pa.array(variants)).to_pylist() == [expected] * len(variants)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("02134", "US", "02134"),
        ("2134", "US", "02134"),  # a spreadsheet's lost leading zero
        ("02134-1234", "US", "02134"),  # ZIP+4 → ZIP
        ("sw1a 1aa", "GB", "SW1A1AA"),
        ("SW1A1AA", "GB", "SW1A1AA"),
        ("12345", "GB", None),
        ("10115", "DE", "10115"),
        ("D-01067", "DE", "01067"),
        ("1067", "DE", "01067"),
        ("F-75001", "FR", "75001"),
        ("08001", "ES", "08001"),
        ("99999", "ES", None),
        ("00184", "IT", "00184"),
        ("1000-001", "PT", "1000001"),
        ("01310-100", "BR", "01310100"),
        ("00-950", "PL", "00950"),
        ("1234 ab", "NL", "1234AB"),
        ("〒100-0001", "JP", "1000001"),
        ("101000", "RU", "101000"),
        ("106 71", "GR", "10671"),
        ("110 001", "IN", "110001"),
        ("100000", "CN", "100000"),
        ("K1A 0B1", "CA", "K1A0B1"),
        ("2000", "AU", "2000"),
        ("ABC", "DE", None),
        ("12-345", None, "12345"),  # no region: the generic form
        ("-", "DE", None),
    ],
)
def test_postcode(raw: str, region: str | None, expected: str | None) -> None:
    assert _regional(normalize.postcode, raw, region) == expected


@pytest.mark.parametrize(
    ("fn", "raw", "expected"),
    [
        (normalize.words, "  São   Paulo ", "são paulo"),
        (normalize.words, "Frankfurt a.M.", "frankfurt a m"),
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
    assert out[fields.NAME_LATIN].to_pylist() == ["jon smith", "lee", "ann"]


def test_a_row_without_first_and_last_name_has_no_name_key() -> None:
    """pyarrow 25's binary_join_element_wise(null_handling="skip") drops rows whose parts are all null."""
    out = normalize.normalize_columns(
        {"first_name": pa.array(["John", None, None], pa.string()), "last_name": pa.array(["Smith", None, "Lee"])}, None
    )
    assert out["name"].to_pylist() == ["john smith", None, "lee"]
    assert out[fields.NAME_LATIN].to_pylist() == ["jon smith", None, "lee"]


def test_name_column_wins_over_parts_when_present() -> None:
    out = normalize.normalize_columns(
        {
            "name": pa.array(["Smith, John", None, "Mr."]),
            "first_name": pa.array(["X", "Ann", "Eve"]),
            "last_name": pa.array(["Y", "Lee", "Ito"]),
        },
        None,
    )
    assert out["name"].to_pylist() == ["john smith", "ann lee", "eve ito"]


def test_region_aware_fields_read_the_country_column_else_the_default() -> None:
    out = normalize.normalize_columns(
        {
            "phone": pa.array(["06 12 34 56 78", "07911 123456", "(202) 555-0143"]),
            "dob": pa.array(["03/04/1990"] * 3),
            "postcode": pa.array(["1067", "sw1a 1aa", "2134"]),
            "country": pa.array(["France", "GB", None]),
        },
        "US",
    )
    assert out["phone"].to_pylist() == ["+33612345678", "+447911123456", "+12025550143"]
    assert out["dob"].to_pylist() == ["1990-04-03", "1990-04-03", "1990-03-04"]
    assert out["postcode"].to_pylist() == ["01067", "SW1A1AA", "02134"]


def test_the_latin_name_key_is_derived_never_mapped() -> None:
    assert fields.NAME_LATIN not in fields.CANONICAL_FIELDS
    assert fields.spec(fields.NAME_LATIN).group == fields.spec("name").group
    with pytest.raises(InputError, match="derived from name"):
        fields.parse_mapping("name_latin=Romaji", "--columns")


def test_by_distinct_runs_once_per_distinct_row_and_equals_every_row() -> None:
    values = pa.array(["a", None, "b", "a", "a", "b"])
    regions = pa.array(["JP", "JP", None, "CN", "JP", None])
    sizes = []

    def tagged(v: pa.Array, r: pa.Array) -> tuple[pa.Array, pa.Array]:
        sizes.append(len(v))
        return pc.binary_join_element_wise(v, pc.fill_null(r, "-"), ":"), pc.utf8_upper(v)

    once = text.by_distinct(values, tagged, regions)
    assert sizes == [3]  # (a, JP), (b, none), (a, CN); the null value is null without a call
    assert [x.to_pylist() for x in once] == [x.to_pylist() for x in tagged(values, regions)]


def test_by_distinct_runs_mostly_distinct_rows_as_they_are_and_keeps_null_rows_null() -> None:
    values = pa.array([f"v{i}" for i in range(20)] + [None])
    sizes = []

    def filled(v: pa.Array) -> tuple[pa.Array, pa.Array]:
        sizes.append(len(v))
        return pc.fill_null(v, "x"), pc.utf8_upper(pc.fill_null(v, "x"))

    plain, upper = text.by_distinct(values, filled)
    assert sizes == [21]  # 20 distinct of 21: no deduplication
    assert plain.to_pylist() == [f"v{i}" for i in range(20)] + [None]
    assert upper.to_pylist() == [f"V{i}" for i in range(20)] + [None]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("john smith", "john smith"),  # nothing to replace: the value itself
        ("müller straße 5", "müller straße 5"),
        ("नमस्ते जी", "नमस्ते जी"),  # vowel signs are marks, part of the word
        ("  john   smith ", "john smith"),
        ("a  b", "a b"),
        (" a", "a"),
        ("a ", "a"),
        ("\tjohn\nsmith\r\n", "john smith"),
        ("a\u00a0b", "a b"),
        ("o'brien", "o brien"),
        ("jöhn, smith", "jöhn smith"),
        ("12 main st.", "12 main st"),
        ("...", None),
        (" ", None),
        ("", None),
        (None, None),
    ],
)
def test_words(raw: str | None, expected: str | None) -> None:
    assert _one(text.words, raw) == expected


def test_words_of_a_mixed_batch_equal_each_value_alone() -> None:
    """Values that need the replace and values that do not, in one array (``words`` splits them)."""
    raw = ["john smith", "jöhn,  smith ", "", None, "a  b", "müller", "-", "x\ty"]
    assert text.words(pa.array(raw, pa.string())).to_pylist() == [_one(text.words, value) for value in raw]


SORTED_TOKENS_CASES = [
    ("b a", "a b"),
    ("main street st", "main st st"),  # mapped tokens sort with the rest
    ("street avenue", "avenue st"),
    ("mr smith", "smith"),  # mapped to "": dropped
    ("mr", None),  # no token left
    ("  b \t a\n", "a b"),
    ("x", "x"),
    ("", None),
    (None, None),
]
NON_ASCII_SORTED_TOKENS_CASES = [("b\u00a0a", "a b"), ("z\u3000y x", "x y z"), ("ö o", "o ö")]


@pytest.mark.parametrize("cases", [SORTED_TOKENS_CASES, SORTED_TOKENS_CASES + NON_ASCII_SORTED_TOKENS_CASES])
def test_sorted_tokens(cases: list[tuple[str | None, str | None]]) -> None:
    """All-ASCII and mixed batches (split by different kernels) give the same keys."""
    values = pa.array([raw for raw, _ in cases], pa.string())
    expected = [key for _, key in cases]
    assert text.sorted_tokens(values, {"street": "st", "mr": ""}).to_pylist() == expected


def test_emails_of_a_mixed_batch_equal_each_value_alone() -> None:
    """Providers with and without alias rules, subdomain users, invalid and null values in one array:
    the per-provider rewrites run on row subsets and domains once per distinct domain."""
    raw = [
        "John.Smith+shop@GoogleMail.com",
        "john.smith+tag@example.com",
        None,
        "Ivan.Petrov+ozon@ya.ru",
        "orders+x@kylie.fastmail.com",
        "j.doe+news@outlook.com",
        "a.b@gmail.com",
        "a@b",
        "info@Bücher.de",
        "",
        "x.y@example.com",
        "x.y+z@gmail.com.",
        "two@@example.com",
    ]
    keys = normalize.email(pa.array(raw, pa.string())).to_pylist()
    assert keys == [_one(normalize.email, value) for value in raw]
    assert keys[:2] == ["johnsmith@gmail.com", "john.smith+tag@example.com"]


def test_fold_latin_folds_word_by_word_and_keeps_the_spaces() -> None:
    raw = ["müller  straße ", " łódź", "e \u0301x", "", None, "иван müller", "plain", "ǆ", "½ café", "café café"]
    folded = ["muller  strasse ", " lodz", "e x", "", None, "иван müller", "plain", "dz", "1⁄2 cafe", "cafe cafe"]
    assert text.fold_latin(pa.array(raw, pa.string())).to_pylist() == folded


def test_replace_matches_replaces_where_the_pattern_matches_and_leaves_the_rest() -> None:
    values = pa.array(["5 a", "main st 5", None, "", "5 a 7 b", "x\t5 b"], pa.string())
    replaced = text.replace_matches(values, r"(\d+)\s([a-z])\b", r"\1\2")
    assert replaced.to_pylist() == ["5a", "main st 5", None, "", "5a 7b", "x\t5b"]


def test_latin_name_keys_of_a_mixed_batch() -> None:
    """Words some romanization fold rewrites and words none does, in one batch (folded by subset)."""
    raw = ["Tarou Smith", "Anna Berg", None, "Taroh Yamada", "Jöhn Kim", "Ooh"]
    regions = pa.array(["JP", None, None, "JP", "DE", None], pa.string())
    latin = normalize.names.name_latin(pa.array(raw, pa.string()), regions).to_pylist()
    assert latin == ["smith taro", "anna berg", None, "taro yamada", "jon kim", "o"]


def test_clean_lower_is_clean_lowercased() -> None:
    values = pa.array(["NULL", " N/A ", "ＮＵＬＬ", "Jöhn SMITH ", "İstanbul", "", None, "-", "nil x"], pa.string())
    assert text.clean_lower(values).to_pylist() == pc.utf8_lower(text.clean(values)).to_pylist()
    assert text.clean_lower(values).to_pylist()[:4] == [None, None, None, "jöhn smith"]
