"""Launch-time looks at an input's first rows: dominant region, row-count estimate."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from transforms import formats, normalize, storage
from transforms.read import InputSpec, sample_text

SAMPLE_ROWS = 10000
ASSUMED_COMPRESSION_RATIO = 5  # for row estimates of compressed inputs (Bloom sizing only)


def sample_column(spec: InputSpec, field: str) -> list[str | None]:
    """Raw values of ``field`` from the start of an input (no full read)."""
    position = dict(spec.mapping).get(field)
    if position is None:
        return []
    if spec.format == "parquet":
        with storage.open_raw(spec.path) as handle:
            column = pq.ParquetFile(handle).read_row_group(0, columns=[spec.columns[position]]).column(0)
        return [None if v is None else str(v) for v in column.to_pylist()[:SAMPLE_ROWS]]
    text = sample_text(spec)
    parsed = formats.FORMATS[spec.format].parse(
        text[: formats.complete_end(text)], 1, spec.layout, {field: position}, True, False
    )
    return parsed.table.column(field).to_pylist()[:SAMPLE_ROWS]


def dominant_region(specs: list[InputSpec]) -> str | None:
    """The most common country in the inputs' first rows: the default phone region."""
    counts: Counter[str] = Counter()
    for spec in specs:
        countries = normalize.country(pa.array(sample_column(spec, "country"), pa.string()))
        counts.update(c for c in countries.to_pylist() if c)
    return counts.most_common(1)[0][0] if counts else None


def estimate_rows(spec: InputSpec) -> int:
    """Rows in an input: exact for Parquet, from the sample's mean record size otherwise."""
    if spec.format == "parquet":
        with storage.open_raw(spec.path) as handle:
            return pq.ParquetFile(handle).metadata.num_rows
    text = sample_text(spec)
    lines = max(text.count(b"\n"), 1)
    total = spec.size * (1 if spec.compression == "none" else ASSUMED_COMPRESSION_RATIO)
    return max(lines, int(total / max(len(text), 1) * lines) + 1)
