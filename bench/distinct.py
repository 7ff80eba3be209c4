"""How much repeated names and streets in a batch speed normalization up.

Names, streets and cities are normalized once per distinct value of a batch, so a dump that repeats them
normalizes faster. This times ``normalize.normalize_columns`` on the first rows of a bench dump
(``bench/run.py`` writes it; ``transforms.synthetic`` makes about 90% of a batch's names and 83% of its
street lines distinct, as in a real export) as generated, and again with a row number appended to every
name and street so that each is distinct; it prints the share of distinct values per batch and the CPU
time per row of both, after one untimed batch (the first builds per-process tables).

    .venv/bin/python -m bench.distinct --dump bench-out/dump.csv
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from transforms import normalize, synthetic

COLUMNS = {header: field for field, header in synthetic.DUMP_HEADERS.items()}
BATCH = 65_536  # transforms.read.BATCH_ROWS
MADE_DISTINCT = ("name", "street")


def batches(path: Path, rows: int) -> Iterator[dict[str, pa.Array]]:
    types = {column: pa.string() for column in COLUMNS}
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types)).slice(0, rows)
    for start in range(0, table.num_rows, BATCH):
        batch = table.slice(start, BATCH)
        yield {field: batch.column(column).combine_chunks() for column, field in COLUMNS.items()}


def distinct_shares(columns: dict[str, pa.Array]) -> dict[str, float]:
    return {field: len(pc.unique(values)) / max(len(values), 1) for field, values in columns.items()}


def cpu_per_row(all_batches: list[dict[str, pa.Array]]) -> float:
    """CPU µs per row of normalizing every batch."""
    rows = sum(len(b["email"]) for b in all_batches)
    start = time.process_time()
    for columns in all_batches:
        normalize.normalize_columns(columns, None)
    return (time.process_time() - start) / max(rows, 1) * 1e6


def made_distinct(columns: dict[str, pa.Array], first_row: int) -> dict[str, pa.Array]:
    tags = pa.array([f" {first_row + i}" for i in range(len(columns["email"]))])
    return {f: pc.binary_join_element_wise(v, tags, "") if f in MADE_DISTINCT else v for f, v in columns.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dump", type=Path, required=True, help="a dump written by bench/run.py (dump.csv)")
    p.add_argument("--rows", type=int, default=10 * BATCH, help="rows timed (default %(default)s)")
    args = p.parse_args()
    generated = list(batches(args.dump, args.rows))
    distinct = [made_distinct(columns, i * BATCH) for i, columns in enumerate(generated)]
    cpu_per_row(generated[:1])
    shares = distinct_shares(generated[0])
    print("distinct values in the first batch: " + ", ".join(f"{f} {s:.1%}" for f, s in shares.items()))
    print(f"as generated: {cpu_per_row(generated):.2f} CPU µs/row")
    print(f"{' and '.join(MADE_DISTINCT)} all distinct: {cpu_per_row(distinct):.2f} CPU µs/row")


if __name__ == "__main__":
    main()
