"""Mapping columns by their values when headers say nothing (header-less dumps)."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from transforms import normalize

SHARE = 0.8  # a column is a field when this share of its non-empty sample values look like one
_PHONE = r"^\+?[\d\s().\-]{7,20}$"


def looks_like(field: str, values: pa.Array) -> bool:
    present = normalize.clean(values).drop_null()
    if len(present) == 0:
        return False
    hits = normalize.email(present).is_valid() if field == "email" else pc.match_substring_regex(present, _PHONE)
    return pc.sum(pc.cast(hits, pa.int64())).as_py() >= SHARE * len(present)


def sniff_fields(sample: pa.Table, accepts: Callable[[str, str], bool] = lambda field, column: True) -> dict[str, str]:
    """{field: column} for the columns whose sample values are clearly emails or phones, among the
    (field, column) pairs ``accepts``."""
    found: dict[str, str] = {}
    for field in ("email", "phone"):
        for name in sample.column_names:
            if name in found.values() or not accepts(field, name):
                continue
            if looks_like(field, sample.column(name).combine_chunks()):
                found[field] = name
                break
    return found
