"""Dates of birth in any common spelling → ISO ``YYYY-MM-DD``, with day/month order from the row's country.

"03/04/1990" is 3 April in Germany and March 4 in the US; "13/04/1990" and "04/13/1990" are the same
day everywhere. Numeric dates are read with array kernels; dates with month names ("2 Jan 1990",
"2. Januar 1990", "1990年1月2日") go through Python once per distinct value.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms import text

# Where numeric dates put the month first (CLDR short date patterns M/d/y): the US and the places
# using its conventions. Everywhere else writes the day first; a four-digit year first means Y-M-D.
MONTH_FIRST = frozenset({"US", "PH", "FM", "MH", "PW", "AS", "GU", "MP", "PR", "VI", "UM", "CA"})
TWO_DIGIT_PIVOT = 30  # "90" is 1990, "05" is 2005: a birth date two-digit year below this is 20xx
EARLIEST, LATEST = 1880, 2100  # a "date of birth" outside these years is a typo or garbage
_TIME = r"(?:[T\s]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp][Mm])?\s*(?:Z|[+-]\d{2}:?\d{2})?)$"
_NUMERIC = r"^(?P<a>\d{1,4})[./\-\s]+(?P<b>\d{1,2})[./\-\s]+(?P<c>\d{1,4})\.?$"
_COMPACT = r"^(?P<a>(?:18|19|20)\d{2})(?P<b>\d{2})(?P<c>\d{2})$"  # YYYYMMDD
_CJK = r"^(?P<a>\d{4})\s*[年년]\s*(?P<b>\d{1,2})\s*[月월]\s*(?P<c>\d{1,2})\s*[日일]?$"

# Month names and abbreviations (folded to Latin): EN, DE, FR, ES, IT, PT, PL (also genitive), NL, RU
# (transliterated, nominative and genitive), SV, TR.
_MONTHS = (
    "january jan januar janvier janv enero ene gennaio gen janeiro styczen stycznia januari yanvar yanvarya ocak",
    "february feb februar fevrier fevr fev febrero febbraio fevereiro luty lutego februari fevral fevralya subat",
    "march mar marz maerz mars marzo marco marzec marca maart mart marta",
    "april apr avril abril aprile kwiecien kwietnia aprel aprelya nisan",
    "may mai mayo maggio maio mag maj maja mei maya mayis",
    "june jun juni juin junio giugno junho czerwiec czerwca iyun iyunya haziran",
    "july jul juli juillet juil julio luglio julho lipiec lipca iyul iyulya temmuz",
    "august aug aout agosto ago sierpien sierpnia augustus avgust avgusta agustos",
    "september sep sept septembre septiembre settembre set setembro wrzesien wrzesnia sentyabr sentyabrya eylul",
    "october oct oktober octobre octubre ottobre ott outubro out pazdziernik pazdziernika oktyabr oktyabrya ekim",
    "november nov novembre noviembre novembro listopad listopada noyabr noyabrya kasim",
    "december dec dezember decembre diciembre dic dicembre dezembro dez grudzien grudnia desember dekabr "
    "dekabrya aralik",
)
_MONTH_NUMBER = {word: number for number, words in enumerate(_MONTHS, 1) for word in words.split()}
_WORD = re.compile(r"[a-z]+|\d+")


def dob(values: pa.Array, regions: pa.Array) -> pa.Array:
    """ISO date or null. ``regions`` (ISO code per row, or null) orders ambiguous day/month pairs.

    A base or dump holds a few tens of thousands of distinct birth dates, so each distinct spelling is
    read once, both ways, and each row takes the reading its country asks for.
    """
    encoded = pc.dictionary_encode(text.clean(values))
    day_first, month_first = _readings(encoded.dictionary)
    wants_month_first = pc.fill_null(pc.is_in(regions, value_set=pa.array(sorted(MONTH_FIRST))), False)
    return pc.if_else(wants_month_first, month_first.take(encoded.indices), day_first.take(encoded.indices))


def _readings(spellings: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Each distinct spelling as an ISO date, read day-first and month-first (equal unless ambiguous)."""
    bare = text.on_subset(spellings, pc.fill_null(pc.match_substring(spellings, ":"), False), _without_time)
    day_first, month_first = _from_parts(pc.extract_regex(bare, _NUMERIC))
    for pattern in (_COMPACT, _CJK):  # rarer shapes, tried on what is left
        left = pc.and_(pc.is_null(day_first), pc.is_valid(bare))
        if pc.any(left).as_py():
            found = _from_parts(pc.extract_regex(bare.filter(left), pattern))[0]  # never ambiguous
            day_first, month_first = (pc.replace_with_mask(r, left, found) for r in (day_first, month_first))
    named = pc.and_(pc.is_null(day_first), pc.fill_null(pc.match_substring_regex(bare, r"\p{L}"), False))
    if pc.any(named).as_py():
        latin = text.transliterate(text.fold_latin(pc.utf8_lower(bare.filter(named))))
        parsed = text.python_where(latin, pc.is_valid(latin), _named_month)
        day_first, month_first = (pc.replace_with_mask(r, named, parsed) for r in (day_first, month_first))
    return day_first, month_first


def _without_time(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(values, _TIME, "")


def _from_parts(parts: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Three numbers a, b, c → ISO dates read day-first and month-first: year first when ``a`` has four
    digits, else year last, with day and month told apart by a value over 12 when one is."""
    a, b, c = (pc.struct_field(parts, name) for name in "abc")
    ok = pc.is_valid(a).to_numpy(zero_copy_only=False)
    first, second, third = (pc.cast(pc.fill_null(part, "0"), pa.int64()).to_numpy() for part in (a, b, c))
    year_first = pc.fill_null(pc.greater_equal(pc.utf8_length(a), 3), False).to_numpy(zero_copy_only=False)
    year_digits = np.where(year_first, 4, pc.utf8_length(pc.fill_null(c, "")).to_numpy(zero_copy_only=False))
    year = np.where(year_first, first, third)
    year = np.where(year_digits == 2, np.where(year < TWO_DIGIT_PIVOT, 2000, 1900) + year, year)
    ok &= (year_digits == 2) | (year_digits == 4)
    readings = []
    for month_first in (False, True):
        swap = (second > 12) | ((first <= 12) & month_first)
        month = np.where(year_first, second, np.where(swap, first, second))
        day = np.where(year_first, third, np.where(swap, second, first))
        readings.append(_iso(year, month, day, ok))
    return readings[0], readings[1]


def _iso(year: np.ndarray, month: np.ndarray, day: np.ndarray, ok: np.ndarray) -> pa.Array:
    """Formats real calendar dates within [EARLIEST, LATEST]; anything else → null."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
    month_days = month_days + ((month == 2) & leap)
    ok = ok & (year >= EARLIEST) & (year <= LATEST) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    stamps = (year - 1970).astype("datetime64[Y]") + (month - 1).astype("timedelta64[M]")
    dates = stamps.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    return pa.array(dates, pa.date32(), mask=~ok).cast(pa.string())  # Arrow writes dates as ISO 8601


@lru_cache(maxsize=1 << 16)
def _named_month(value: str) -> str | None:
    """ "2 jan 1990", "january 2, 1990", "2 stycznia 1990", "02-jan-90": one month word, a day, a year."""
    words = _WORD.findall(value)
    months = [_MONTH_NUMBER[w] for w in words if w in _MONTH_NUMBER]
    numbers = [w for w in words if w.isdigit()]
    if len(months) != 1 or len(numbers) != 2:
        return None
    long_year = [w for w in numbers if len(w) == 4]
    if long_year:
        year = int(long_year[0])
        day = int(next(w for w in numbers if w is not long_year[0]))
    elif len(numbers[1]) == 2:
        day, year = int(numbers[0]), int(numbers[1])
        year += 2000 if year < TWO_DIGIT_PIVOT else 1900
    else:
        return None
    if not EARLIEST <= year <= LATEST:
        return None
    try:
        return datetime.date(year, months[0], day).isoformat()
    except ValueError:
        return None
