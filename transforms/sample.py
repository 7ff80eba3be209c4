"""Launch-time looks at an input's first rows: dominant region, row-count estimate."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from transforms import delimited, normalize, storage
from transforms.read import SAMPLE_BYTES, InputSpec

SAMPLE_ROWS = 10000


def sample_column(spec: InputSpec, field: str) -> list[str | None]:
    """Raw values of ``field`` from the start of an input (no full read)."""
    position = dict(spec.mapping).get(field)
    if position is None:
        return []
    with storage.open_raw(spec.path) as handle:
        if spec.format == "parquet":
            reader = pq.ParquetFile(handle)
            column = reader.read_row_group(0, columns=[spec.columns[position]]).column(0)
            return [None if v is None else str(v) for v in column.to_pylist()[:SAMPLE_ROWS]]
        data = handle.read(SAMPLE_BYTES)
    records = delimited.find_records(data, 1)
    complete = len(records.starts) - (0 if len(data) < SAMPLE_BYTES else 1)
    end = int(records.ends[complete - 1]) if complete > 0 else 0
    parsed = delimited.parse_range(data[:end], 1, spec.delimiter, len(spec.columns), {field: position}, has_header=True)
    return parsed.table.column(field).to_pylist()[:SAMPLE_ROWS]


def dominant_region(specs: list[InputSpec]) -> str | None:
    """The most common country in the inputs' first rows: the default phone region."""
    counts: Counter[str] = Counter()
    for spec in specs:
        countries = normalize.country(pa.array(sample_column(spec, "country"), pa.string()))
        counts.update(c for c in countries.to_pylist() if c)
    return counts.most_common(1)[0][0] if counts else None


def estimate_rows(spec: InputSpec) -> int:
    """Rows in an input: exact for Parquet, from the sample's mean record size for text."""
    with storage.open_raw(spec.path) as handle:
        if spec.format == "parquet":
            return pq.ParquetFile(handle).metadata.num_rows
        data = handle.read(SAMPLE_BYTES)
    records = delimited.find_records(data, 1)
    if len(data) >= spec.size:
        return len(records.starts)
    mean = len(data) / max(len(records.starts), 1)
    return int(spec.size / mean) + 1
