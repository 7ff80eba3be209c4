"""Canonical fields, how much each one identifies a person, and header mapping.

A field is data: its evidence group and whether one match alone identifies a
customer. Context fields (city, country, …) are reported but never link a row.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from transforms.errors import InputError

ID_PREFIX = "id:"
NAME_LATIN = "name_latin"  # the name in Latin letters: a second key of the name group


@dataclass(frozen=True)
class FieldSpec:
    """How one canonical field counts as evidence."""

    name: str
    group: str | None  # independent evidence group; None = context only
    strong: bool  # one match alone identifies a customer
    derived: bool = False  # made by normalization from another field of its group, never read from a column


_SPECS = {
    "email": FieldSpec("email", "email", True),
    "phone": FieldSpec("phone", "phone", True),
    "name": FieldSpec("name", "name", False),
    NAME_LATIN: FieldSpec(NAME_LATIN, "name", False, derived=True),
    "first_name": FieldSpec("first_name", None, False),
    "last_name": FieldSpec("last_name", None, False),
    "street": FieldSpec("street", "street", False),
    "city": FieldSpec("city", None, False),
    "postcode": FieldSpec("postcode", None, False),
    "country": FieldSpec("country", None, False),
    "dob": FieldSpec("dob", "dob", False),
}
CANONICAL_FIELDS = tuple(name for name, s in _SPECS.items() if not s.derived)  # what columns can map to
CUSTOMER_ID = "customer_id"

# Header synonyms, as folded by ``fold_header``: dumps come in many languages and scripts.
_SYNONYMS = {
    "email": "email e mail mail emailaddress mailaddress courriel correo correoelectronico posta "
    "epost emailadresse adresseemail useremail emailadres adresemail eposta "
    "почта электроннаяпочта емейл имейл 邮箱 电子邮件 电子邮箱 邮件 郵箱 電子郵件 "
    "メール メールアドレス 電子メール 이메일 메일 البريدالإلكتروني بريدإلكتروني",
    "phone": "phone phonenumber telephone tel mobile mobilephone cell cellphone msisdn telefon "
    "telefono telefone numero handy portable celular telefoon telefoonnummer mobiel nrtelefonu "
    "телефон номертелефона мобильный 电话 电话号码 手机 手机号 手机号码 電話 電話號碼 手機 "
    "電話番号 携帯電話 携帯 전화 전화번호 휴대폰 휴대전화 هاتف الهاتف جوال",
    "name": "name fullname customername nom nombre nomcomplet vollername naam nomecompleto adsoyad "
    "фио 姓名 氏名 名前 이름 성명 الاسم",
    "first_name": "firstname first givenname forename prenom vorname nombrepila primeironome voornaam "
    "imie nome имя 名 الاسمالأول",
    "last_name": "lastname last surname familyname nomdefamille nachname apellido apellidos sobrenome "
    "achternaam nazwisko cognome soyad soyadı фамилия 姓 성 اسمالعائلة",
    "street": "street address address1 addressline1 streetaddress adresse strasse calle rua via "
    "direccion endereco indirizzo adres straat ulica адрес улица 地址 住址 街道 住所 주소 العنوان",
    "city": "city town locality ville stadt ciudad cidade citta ort stad plaats woonplaats miasto şehir "
    "город 城市 市区町村 都市 도시 المدينة",
    "postcode": "postcode postalcode zip zipcode plz codepostal cp cep cap kodpocztowy postakodu "
    "индекс почтовыйиндекс 邮编 邮政编码 郵便番号 우편번호 الرمزالبريدي",
    "country": "country countrycode pays land pais paese nation kraj ülke страна 国家 国 국가 البلد الدولة",
    "dob": "dob dateofbirth birthdate birthday geburtsdatum datedenaissance fechanacimiento geboortedatum "
    "dataurodzenia doğumtarihi датарождения 出生日期 生日 生年月日 생년월일 تاريخالميلاد",
    CUSTOMER_ID: "customerid customer_id clientid userid",
}


_ID_LABEL = re.compile(r"[a-z0-9_]+")


def spec(field: str) -> FieldSpec:
    """The spec of a canonical field or of an ``id:<label>`` identifier."""
    if field.startswith(ID_PREFIX):
        if not _ID_LABEL.fullmatch(field[len(ID_PREFIX) :]):
            raise InputError(f"field {field!r}: an id label is lowercase letters, digits and _ (example: id:order)")
        return FieldSpec(field, field, True)
    try:
        return _SPECS[field]
    except KeyError:
        raise InputError(f"unknown field {field!r}: use one of {', '.join(CANONICAL_FIELDS)}, or id:<label>") from None


def fold_header(header: str) -> str:
    """Folds a header so "E-Mail", "e_mail" and "Email " compare equal, and "Straße" and "STRASSE":
    accents dropped, case folded, only letters and digits kept, of any script ("Телефон", "手机号")."""
    text = "".join(c for c in unicodedata.normalize("NFKD", header) if not unicodedata.combining(c))
    return "".join(c for c in text.casefold() if c.isalnum())


_HEADER_TO_FIELD = {fold_header(syn): field for field, syns in _SYNONYMS.items() for syn in syns.split()}


def parse_mapping(text: str | None, option: str) -> dict[str, str]:
    """Parses ``field=Header,...`` into {field: header}."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for item in text.split(","):
        field, sep, header = item.partition("=")
        field, header = field.strip(), header.strip()
        if not sep or not field or not header:
            raise InputError(f"{option}: {item!r} is not field=Header (example: {option} email=E-Mail,phone=Mobile)")
        if field != CUSTOMER_ID and spec(field).derived:
            raise InputError(f"{option}: {field} is derived from name, not read from a column; map name instead")
        mapping[field] = header
    return mapping


def map_columns(headers: list[str], overrides: dict[str, str], source: str) -> dict[str, str]:
    """Maps canonical fields to source columns: overrides first, then header synonyms."""
    mapping: dict[str, str] = {}
    for field, header in overrides.items():
        if header not in headers:
            raise InputError(f"{source}: column {header!r} given for {field} is not in the header {headers}")
        mapping[field] = header
    taken = set(mapping.values())
    for header in headers:
        # Flattened JSON names ("contact.E-Mail") are matched by their last part too.
        guess = _guess(header) or _guess(header.rsplit(".", 1)[-1])
        if guess and guess not in mapping and header not in taken:
            mapping[guess] = header
            taken.add(header)
    return mapping


def _guess(header: str) -> str | None:
    """The field a header names: folded whole, else by its ASCII letters alone, so that a header in two
    scripts ("E-Mail (邮箱)") still reads as its Latin part."""
    folded = fold_header(header)
    return _HEADER_TO_FIELD.get(folded) or _HEADER_TO_FIELD.get(re.sub(r"[^a-z0-9]", "", folded))


def file_name(field: str) -> str:
    """A field's name in bundle paths ("id:order" → "id-order"; canonical names have no "-")."""
    return field.replace(":", "-")
