"""Phone numbers → E.164 on whole Arrow arrays, with exactly the answers of ``phonenumbers``.

``phonenumbers.parse`` + ``is_valid_number`` cost ~15 µs a value in pure Python, and dumps hold
tens of millions of distinct numbers, so no cache helps. Here the same steps — international
prefix, calling code, the region's own code written without "+", national prefix, validity for
the region the leading digits pick — are replayed with RE2 kernels, one call per region, on the
library's own metadata. Values of any other shape (letters, extensions, odd punctuation) and
regions whose rules the kernels cannot reproduce go to ``normalize._e164`` one by one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import REGION_CODE_FOR_NON_GEO_ENTITY, phonenumberutil
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import ValidationResult

from transforms import arrays, normalize
from transforms.text import row_regions

# The shapes handled here: an optional "tel:", an optional "+", digits and the punctuation
# phonenumbers ignores. No letters (vanity numbers, "ext"), no "#", ",", ";" (extensions,
# RFC 3966 parameters), no tabs (not punctuation to phonenumbers: such a value is no number).
_SHAPE = r"^(?:[Tt][Ee][Ll]:)?[ .()/-]*\+?[ .()/-]*[0-9][0-9 .()/-]*$"  # (?i) would fold Unicode
# Without a digit or "+" phonenumbers finds nothing to parse. Checked on ASCII values only:
# any Unicode decimal digit counts for it.
_DIGIT_OR_PLUS = r"[0-9+]"
# phonenumbers refuses inputs over 250 characters (the "00" retry is one shorter); real
# numbers are far shorter, so longer values simply go slow.
_MAX_FAST_CHARS = 64
# phonenumbers' viability rule: three digits or more, or exactly two and nothing else. Two
# digits go slow; fewer are never a number.
_VIABLE_DIGITS = 3
_MIN_NSN = phonenumberutil._MIN_LENGTH_FOR_NSN
_MAX_NSN = phonenumberutil._MAX_LENGTH_FOR_NSN
_MAX_CODE_DIGITS = phonenumberutil._MAX_LENGTH_COUNTRY_CODE  # <= _VIABLE_DIGITS: all are present
_IDD_RETRY = "00"  # normalize._e164 retries "00…" as "+…"
_NON_GEO = REGION_CODE_FOR_NON_GEO_ENTITY  # the region of +800, +870, … in phonenumbers' tables
# What _test_number_length says when parse keeps a stripped national prefix stripped.
_STRIP_REFUSED = [ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY, ValidationResult.INVALID_LENGTH]
# Validity patterns read the length before the number ("10" "7911123456"), so that a type's
# possible lengths are part of its pattern.
_LENGTH_KEY_WIDTH = 2
# The number types _number_type_helper recognises; "mobile" only when its pattern is not
# the fixed-line one (same_mobile_and_fixed_line_pattern).
_VALID_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)
# The metadata regex dialect in which Python's re and RE2 agree: digits, \d, classes, groups,
# alternation, ?, {m}, {m,n} and $. "{,n}" is left out: RE2 reads it literally.
_PORTABLE_PATTERN = re.compile(r"(?:\\d|[0-9\[\]\-?():|{},$])*")
_PORTABLE_REWRITE = re.compile(r"(?:[0-9]|\\[1-9](?![0-9]))*")  # Python reads "\\10" as group 10
# A national prefix rule with a transform applies it only when its last group took part; the
# probe rewrites a matching number to "<group>", which tells as long as the group is never "".
_PROBE_OPEN, _PROBE_CLOSE = "<", ">"


class Converted(NamedTuple):
    """E.164 phones (null: not a valid number), and how many values phonenumbers itself parsed."""

    phones: pa.Array
    slow: int


def e164(values: pa.Array, regions: pa.Array | None, default_region: str | None) -> pa.Array:
    """``normalize.phone``'s contract, vectorized: E.164 per value, or null when not valid."""
    return convert(values, regions, default_region).phones


def convert(values: pa.Array, regions: pa.Array | None, default_region: str | None) -> Converted:
    """Like ``e164``, and counts the slow values, so that a fast path gone idle shows."""
    text = normalize.clean(values)
    region = row_regions(regions, default_region, len(text))
    tables = _tables()
    region_ids = _ids(pc.index_in(region, value_set=tables.regions))
    known_region = ~_mask(pc.is_valid(region)) | (region_ids >= 0)
    shaped = _mask(pc.match_substring_regex(text, _SHAPE)) & (_lengths(text) <= _MAX_FAST_CHARS) & known_region
    slow = _mask(pc.is_valid(text)) & ~shaped
    others = text.filter(pa.array(slow))
    nothing = _mask(pc.string_is_ascii(others)) & ~_mask(pc.match_substring_regex(others, _DIGIT_OR_PLUS))
    slow[np.flatnonzero(slow)[nothing]] = False

    candidates = np.flatnonzero(shaped)
    found, undecided = _fast(tables, text.take(candidates), region_ids[candidates])
    slow[candidates[undecided]] = True
    phones = _scatter(pa.nulls(len(text), pa.string()), candidates, found)
    rows = np.flatnonzero(slow)
    pairs = zip(text.take(rows).to_pylist(), region.take(rows).to_pylist(), strict=True)
    parsed = pa.array([normalize._e164(value, row_region) for value, row_region in pairs], pa.string())
    return Converted(_scatter(phones, rows, parsed), len(rows))


def _fast(tables: _Tables, text: pa.Array, region_ids: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """``normalize._e164`` for well-shaped values, "00" → "+" retry included; and the rows
    it could not decide."""
    digits = _digits(text)
    plus = _mask(pc.match_substring(text, "+"))  # the shape has at most one, before the digits
    count = _lengths(digits)
    found, slow = _parse(tables, digits, plus, region_ids)
    undecided = (slow & (count >= _VIABLE_DIGITS)) | (count == _VIABLE_DIGITS - 1)
    retry = np.flatnonzero(~undecided & ~_mask(pc.is_valid(found)) & _mask(pc.starts_with(text, _IDD_RETRY)))
    rest = _drop_prefix(digits.take(retry), np.full(len(retry), len(_IDD_RETRY)))
    again, slow = _parse(tables, rest, np.ones(len(retry), bool), np.full(len(retry), -1))
    undecided[retry[slow]] = True
    return _scatter(found, retry, again), undecided


_NATIONAL_TYPES = (pa.bool_(), pa.string(), pa.bool_())  # what _Tables.from_national returns


def _parse(tables: _Tables, digits: pa.Array, plus: np.ndarray, region_ids: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """``parse(number, region)`` then ``is_valid_number`` on digit strings; region id -1 is None.

    Returns E.164 or null, and the rows that met a rule not reproduced here.
    """
    size = len(digits)
    slow = np.zeros(size, bool)
    code_ids = np.full(size, -1)  # calling code; -1 leaves the row null
    strip_plans = np.full(size, -1)  # whose national prefix rule applies
    numbers = digits

    # Without "+": a region is required, and its international prefix or its own code may lead.
    national = np.flatnonzero(~plus & (region_ids >= 0))
    slow[national] = ~tables.fast[region_ids[national]]
    national = national[~slow[national]]
    idd, number, own = _by_group(region_ids[national], [digits.take(national)], tables.from_national, _NATIONAL_TYPES)
    idd, own = _mask(idd), _mask(own)
    numbers = _scatter(numbers, national, number)
    domestic, plans = national[~idd], region_ids[national[~idd]]
    code_ids[domestic] = tables.plan_code[plans]
    strip_plans[domestic] = np.where(own[~idd], tables.code_main[tables.plan_code[plans]], plans)

    # "+" or an international prefix: the calling code leads.
    international = np.sort(np.concatenate([np.flatnonzero(plus), national[idd]]))
    found_codes, rest = _split_calling_code(tables, numbers.take(international))
    # "+" and no known code: phonenumbers retries the digits as the region's national ones.
    slow[international[(found_codes < 0) & plus[international] & (region_ids[international] >= 0)]] = True
    numbers = _scatter(numbers, international, rest)
    coded = international[found_codes >= 0]
    code_ids[coded] = found_codes[found_codes >= 0]
    strip_plans[coded] = tables.code_main[code_ids[coded]]

    # The national prefix goes if what remains has a length the plan accepts.
    live = (code_ids >= 0) & (_lengths(numbers) >= _MIN_NSN) & ~slow
    slow[live] = ~tables.fast[strip_plans[live]]
    rows = np.flatnonzero(live & ~slow)
    (stripped,) = _by_group(strip_plans[rows], [numbers.take(rows)], tables.strip_national_prefix, [pa.string()])
    kept = ~np.isin(tables.length_result(strip_plans[rows], _lengths(stripped)), _STRIP_REFUSED)
    numbers = _scatter(numbers, rows[kept], stripped.filter(pa.array(kept)))

    live &= (_lengths(numbers) <= _MAX_NSN) & ~slow
    slow[live] = ~tables.code_fast[code_ids[live]]
    rows = np.flatnonzero(live & ~slow)
    (valid,) = _by_group(code_ids[rows], [numbers.take(rows)], tables.valid, [pa.bool_()])
    rows = rows[_mask(valid)]
    e164 = pc.binary_join_element_wise("+", tables.codes.take(code_ids[rows]), numbers.take(rows), "")
    return _scatter(pa.nulls(size, pa.string()), rows, e164), slow


def _split_calling_code(tables: _Tables, digits: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """``_extract_country_code``: the id of the first 1, 2 or 3 digits that are a calling code
    (-1 when none is, or when too few digits follow the international prefix), and the rest."""
    offsets, data = _bytes(digits)
    code_ids = np.full(len(digits), -1)
    widths = np.zeros(len(digits), np.int64)
    rows = np.flatnonzero(np.diff(offsets) > _MIN_NSN)
    prefix = np.zeros(len(rows), np.int64)
    for width, code_at in enumerate(tables.code_at_prefix, start=1):
        prefix = prefix * 10 + data[offsets[rows] + width - 1] - ord("0")
        hit = (code_at[prefix] >= 0) & (code_ids[rows] < 0)
        code_ids[rows[hit]] = code_at[prefix[hit]]
        widths[rows[hit]] = width
    return code_ids, _drop_prefix(digits, widths)


@dataclass(frozen=True)
class _Transform:
    """A national prefix transform rule (``national_prefix_transform_rule``) for RE2."""

    rewrite: str  # the rule, e.g. "268\\1"
    probe: str  # the prefix pattern followed by the rest of the number
    probe_rewrite: str  # "<\\N>" for the last group N


@dataclass(frozen=True)
class _Plan:
    """One PhoneMetadata as anchored RE2 patterns; ``fast`` False when a rule is beyond them."""

    code: str
    international_prefix: str | None
    national_prefix: str | None
    transform: _Transform | None
    general: str | None
    valid_general: str | None
    valid_types: str | None
    leading_digits: str | None
    fast: bool

    def strip_national_prefix(self, values: pa.Array) -> pa.Array:
        """``_maybe_strip_national_prefix_carrier_code``'s number: the prefix removed (or the
        transform applied), unless that turns a viable number into a non-viable one."""
        if self.national_prefix is None:
            return values
        stripped = pc.replace_substring_regex(values, self.national_prefix, "")
        if self.transform is not None:
            probe = pc.replace_substring_regex(values, self.transform.probe, self.transform.probe_rewrite)
            took_part = pc.and_(pc.starts_with(probe, _PROBE_OPEN), pc.greater(pc.binary_length(probe), 2))
            transformed = pc.replace_substring_regex(values, self.national_prefix, self.transform.rewrite)
            stripped = pc.if_else(took_part, transformed, stripped)
        spoiled = pc.and_(_matches(self.general, values), pc.invert(_matches(self.general, stripped)))
        return pc.if_else(spoiled, values, stripped)

    def valid(self, numbers: pa.Array) -> np.ndarray:
        """``_number_type_helper(...) != UNKNOWN``: the general pattern and some type's, each
        within its possible lengths."""
        length = pc.utf8_lpad(pc.cast(pc.binary_length(numbers), pa.string()), _LENGTH_KEY_WIDTH, "0")
        keyed = pc.binary_join_element_wise(length, numbers, "")
        return _mask(_matches(self.valid_general, keyed)) & _mask(_matches(self.valid_types, keyed))


@dataclass(frozen=True)
class _Tables:
    """Every region and non-geographic calling code as a plan, and calling code ↔ plans."""

    plans: tuple[_Plan, ...]
    regions: pa.Array  # region codes; a region's plan id is its index here
    codes: pa.Array  # calling codes as strings; a code id is its index here
    code_at_prefix: tuple[np.ndarray, ...]  # per code width, code id by numeric prefix, or -1
    code_plans: tuple[tuple[int, ...], ...]  # per code id, its plans in phonenumbers' order
    code_main: np.ndarray  # per code id, the plan parse uses once it knows the code
    plan_code: np.ndarray  # per plan id, its code id
    fast: np.ndarray  # per plan id
    code_fast: np.ndarray  # per code id: all its plans are fast
    length_results: np.ndarray  # per plan id and length up to _MAX_FAST_CHARS, _test_number_length

    def length_result(self, plan_ids: np.ndarray | int, lengths: np.ndarray) -> np.ndarray:
        """``_test_number_length`` per row; past the table every length is too long."""
        return self.length_results[plan_ids, np.minimum(lengths, _MAX_FAST_CHARS)]

    def from_national(self, plan_id: int, columns: list[pa.Array]) -> list[pa.Array]:
        """``_maybe_extract_country_code`` without "+": the region's international prefix
        (not before a 0), else the region's own code written without "+" when the number
        is better without it.

        Returns (international prefix found, the digits after it or the national number,
        own code found).
        """
        plan, (digits,) = self.plans[plan_id], columns
        idd = np.zeros(len(digits), bool)
        number = digits
        if plan.international_prefix is not None:
            after = pc.replace_substring_regex(digits, plan.international_prefix, "")
            idd = (_lengths(after) < _lengths(digits)) & ~_mask(pc.starts_with(after, "0"))
            number = pc.if_else(pa.array(idd), after, digits)
        own = np.zeros(len(digits), bool)
        rows = np.flatnonzero(_mask(pc.starts_with(digits, plan.code)) & ~idd)
        if len(rows):
            candidates = digits.take(rows)
            stripped = plan.strip_national_prefix(_drop_prefix(candidates, np.full(len(rows), len(plan.code))))
            better = ~_mask(_matches(plan.general, candidates)) & _mask(_matches(plan.general, stripped))
            too_long = self.length_result(plan_id, _lengths(candidates)) == ValidationResult.TOO_LONG
            own[rows] = better | too_long
            number = _scatter(number, rows[own[rows]], stripped.filter(pa.array(own[rows])))
        return [pa.array(idd), number, pa.array(own)]

    def strip_national_prefix(self, plan_id: int, columns: list[pa.Array]) -> list[pa.Array]:
        return [self.plans[plan_id].strip_national_prefix(columns[0])]

    def valid(self, code_id: int, columns: list[pa.Array]) -> list[pa.Array]:
        """``is_valid_number``: valid for the region ``_region_code_for_number_from_list`` picks,
        the first whose leading digits match or, without leading digits, that validates it."""
        (numbers,) = columns
        plan_ids = self.code_plans[code_id]
        if len(plan_ids) == 1:  # region_code_for_number takes a code's only region as it is
            return [pa.array(self.plans[plan_ids[0]].valid(numbers))]
        valid = np.zeros(len(numbers), bool)
        open_rows = np.arange(len(numbers))
        for plan_id in plan_ids:
            plan = self.plans[plan_id]
            candidates = numbers if len(open_rows) == len(numbers) else numbers.take(open_rows)
            if plan.leading_digits is None:
                claimed = ok = plan.valid(candidates)
            else:
                claimed = _mask(pc.match_substring_regex(candidates, plan.leading_digits))
                ok = np.zeros(len(candidates), bool)
                if claimed.any():  # spares compiling the region's patterns
                    ok[claimed] = plan.valid(candidates.filter(pa.array(claimed)))
            valid[open_rows[ok]] = True
            open_rows = open_rows[~claimed]
            if not len(open_rows):
                break
        return [pa.array(valid)]


def _by_group(
    keys: np.ndarray,
    columns: Sequence[pa.Array],
    step: Callable[[int, list[pa.Array]], list[pa.Array]],
    types: Sequence[pa.DataType],
) -> list[pa.Array]:
    """Runs ``step`` once per distinct key on that key's rows, outputs back in row order: each
    region has its own patterns, and small per-region RE2 programs stay fast DFAs."""
    if not len(keys):
        return [pa.array([], type_) for type_ in types]
    order = np.argsort(keys, kind="stable")
    ordered_keys = keys[order]
    ordered = [column.take(order) for column in columns]
    starts = arrays.run_starts(ordered_keys)
    ends = np.append(starts[1:], len(keys))
    parts = [
        step(int(ordered_keys[start]), [column.slice(start, end - start) for column in ordered])
        for start, end in zip(starts, ends, strict=True)
    ]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return [pa.concat_arrays([part[i] for part in parts]).take(inverse) for i in range(len(types))]


def _matches(pattern: str | None, values: pa.Array) -> pa.Array:
    """Pattern match, where no pattern matches nothing (as ``_match_national_number``)."""
    if pattern is None:
        return pa.array(np.zeros(len(values), bool))
    return pc.match_substring_regex(values, pattern)


def _mask(values: pa.Array) -> np.ndarray:
    return _numpy(values, False, bool)


def _ids(values: pa.Array) -> np.ndarray:
    return _numpy(values, -1, np.int64)


def _lengths(values: pa.Array) -> np.ndarray:
    """Byte lengths: characters, for the ASCII strings measured here."""
    return _numpy(pc.binary_length(values), 0, np.int64)


def _numpy(values: pa.Array, null: bool | int, dtype: type) -> np.ndarray:
    if values.null_count:
        values = pc.fill_null(values, null)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype)


def _bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (from 0) and bytes of a string array without nulls."""
    offsets = np.frombuffer(values.buffers()[1], np.int32)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(values.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def _keep_bytes(values: pa.Array, keep: np.ndarray) -> pa.Array:
    """The strings made of the kept bytes: numpy on the buffer beats RE2 replaces ~10×."""
    offsets, data = _bytes(values)
    kept_before = np.zeros(len(data) + 1, np.int32)
    np.cumsum(keep, out=kept_before[1:])
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(kept_before[offsets]), pa.py_buffer(data[keep]))


def _digits(text: pa.Array) -> pa.Array:
    """The ASCII digits of each (non-null) value."""
    _, data = _bytes(text)
    return _keep_bytes(text, (data >= ord("0")) & (data <= ord("9")))


def _drop_prefix(values: pa.Array, widths: np.ndarray) -> pa.Array:
    """Each (non-null, ASCII) value without its first ``widths`` characters."""
    offsets, data = _bytes(values)
    lengths = np.diff(offsets)
    position = np.arange(len(data)) - np.repeat(offsets[:-1], lengths)
    return _keep_bytes(values, position >= np.repeat(widths, lengths))


def _scatter(values: pa.Array, rows: np.ndarray, replacements: pa.Array) -> pa.Array:
    """``values`` with ``rows`` set to ``replacements`` (a concat and a take: ~4× faster than
    ``replace_with_mask`` on strings)."""
    index = np.arange(len(values))
    index[rows] = len(values) + np.arange(len(rows))
    return pa.concat_arrays([values, replacements]).take(index)


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    """Built once per process from phonenumbers' metadata."""
    by_code = sorted(phonenumberutil.COUNTRY_CODE_TO_REGION_CODE.items())
    geographic = [(code, region) for code, regions in by_code for region in regions if region != _NON_GEO]
    region_ids = {region: plan_id for plan_id, (_, region) in enumerate(geographic)}
    metadata = [_metadata(code, region) for code, region in geographic]
    code_plans: list[tuple[int, ...]] = []
    for code, regions in by_code:
        if regions == (_NON_GEO,):
            code_plans.append((len(metadata),))
            metadata.append(_metadata(code, _NON_GEO))
        else:
            code_plans.append(tuple(region_ids[region] for region in regions))
    plans = [_plan(entry) for entry in metadata]
    plan_code = np.zeros(len(plans), np.int64)
    code_at_prefix = [np.full(10**width, -1) for width in range(1, _MAX_CODE_DIGITS + 1)]
    for code_id, (code, _) in enumerate(by_code):
        plan_code[list(code_plans[code_id])] = code_id
        code_at_prefix[len(str(code)) - 1][code] = code_id
    fast = np.array([plan.fast for plan in plans])
    return _Tables(
        plans=tuple(plans),
        regions=pa.array(list(region_ids), pa.string()),
        codes=pa.array([str(code) for code, _ in by_code], pa.string()),
        code_at_prefix=tuple(code_at_prefix),
        code_plans=tuple(code_plans),
        code_main=np.array([plan_ids[0] for plan_ids in code_plans]),
        plan_code=plan_code,
        fast=fast,
        code_fast=np.array([fast[list(plan_ids)].all() for plan_ids in code_plans]),
        length_results=np.array(
            [[_length_result(length, entry) for length in range(_MAX_FAST_CHARS + 1)] for entry in metadata]
        ),
    )


def _metadata(code: int, region: str) -> PhoneMetadata:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    assert metadata is not None, f"phonenumbers maps +{code} to {region}, so it has its metadata"
    return metadata


def _plan(metadata: PhoneMetadata) -> _Plan:
    general = metadata.general_desc
    assert general is not None, f"phonenumbers metadata for {metadata.id} has a general description"
    national_prefix = metadata.national_prefix_for_parsing or None
    transform_rule = metadata.national_prefix_transform_rule or None
    raw = [
        metadata.international_prefix,
        national_prefix,
        general.national_number_pattern,
        metadata.leading_digits,
        *(pattern for _, pattern in _type_descs(metadata)),
    ]
    plan = _Plan(
        code=str(metadata.country_code),
        international_prefix=_prefix(metadata.international_prefix),
        national_prefix=_prefix(national_prefix),
        transform=_transform(national_prefix, transform_rule),
        general=f"^(?:{general.national_number_pattern})$" if general.national_number_pattern else None,
        valid_general=_keyed([(general.possible_length, general.national_number_pattern)]),
        valid_types=_keyed(_type_descs(metadata)),
        leading_digits=_prefix(metadata.leading_digits),
        fast=True,
    )
    fast = (
        all(pattern is None or _PORTABLE_PATTERN.fullmatch(pattern) for pattern in raw)
        and all(_compiles(pattern) for pattern in _patterns(plan))
        and bool(general.possible_length)  # else _test_number_length raises
        and not (metadata.international_prefix is not None and re.match(metadata.international_prefix, ""))
        and (national_prefix is None or transform_rule is None or plan.transform is not None)
    )
    return plan if fast else replace(plan, fast=False)


def _length_result(length: int, metadata: PhoneMetadata) -> int:
    """``_test_number_length``, which depends on the length alone (and fails without any
    possible length: such plans are not fast)."""
    if not metadata.general_desc or not metadata.general_desc.possible_length:
        return ValidationResult.INVALID_LENGTH
    return phonenumberutil._test_number_length("0" * length, metadata)


def _type_descs(metadata: PhoneMetadata) -> list[tuple[tuple[int, ...], str | None]]:
    """(possible lengths, pattern) of each type that can make a number valid."""
    types = list(_VALID_TYPES)
    if not metadata.same_mobile_and_fixed_line_pattern:
        types.append("mobile")
    descs = [getattr(metadata, name) for name in types]
    return [(desc.possible_length, desc.national_number_pattern) for desc in descs if desc is not None]


def _keyed(descs: list[tuple[tuple[int, ...], str | None]]) -> str | None:
    """One pattern over "length + number" accepting what any desc accepts; no lengths listed
    means any length (``_is_number_matching_desc``)."""
    alternatives = []
    for lengths, pattern in descs:
        if not pattern:
            continue
        if not lengths:
            alternatives.append(rf"\d{{{_LENGTH_KEY_WIDTH}}}(?:{pattern})")
        elif listed := [f"{length:0{_LENGTH_KEY_WIDTH}d}" for length in lengths if length > 0]:
            alternatives.append(f"(?:{'|'.join(listed)})(?:{pattern})")
    return f"^(?:{'|'.join(alternatives)})$" if alternatives else None


def _prefix(pattern: str | None) -> str | None:
    return None if pattern is None else f"^(?:{pattern})"


def _transform(national_prefix: str | None, rule: str | None) -> _Transform | None:
    """The transform for RE2, or None when there is none or the probe could not tell when it
    applies (phonenumbers raises on a prefix rule without groups)."""
    if national_prefix is None or rule is None:
        return None
    if not (_PORTABLE_PATTERN.fullmatch(national_prefix) and _PORTABLE_REWRITE.fullmatch(rule)):
        return None
    last = re.compile(national_prefix).groups
    if not last or re.fullmatch(_group(national_prefix, last), ""):
        return None
    return _Transform(
        rewrite=rule, probe=f"^(?:{national_prefix}).*$", probe_rewrite=rf"{_PROBE_OPEN}\{last}{_PROBE_CLOSE}"
    )


def _group(pattern: str, number: int) -> str:
    """The text of capturing group ``number`` of a pattern in the portable dialect."""
    opened: list[tuple[int, bool]] = []
    count = 0
    in_class = False
    for index, char in enumerate(pattern):
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            capturing = not pattern.startswith("(?", index)
            count += capturing
            opened.append((index, capturing and count == number))
        elif char == ")":
            start, wanted = opened.pop()
            if wanted:
                return pattern[start + 1 : index]
    raise ValueError(f"no group {number} in {pattern!r}")


def _patterns(plan: _Plan) -> list[str]:
    patterns = [
        plan.international_prefix,
        plan.national_prefix,
        plan.general,
        plan.valid_general,
        plan.valid_types,
        plan.leading_digits,
    ]
    if plan.transform is not None:
        patterns.append(plan.transform.probe)
    return [pattern for pattern in patterns if pattern is not None]


def _compiles(pattern: str) -> bool:
    """Whether RE2 takes the pattern (Arrow compiles it on every call)."""
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except pa.ArrowInvalid:
        return False
    return True
