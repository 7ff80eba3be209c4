"""``match --show-samples``: the dump's own values of a few candidate rows, for the HTML report.

Shown only on request: the dump is the user's data, but a report travels. The first candidate rows in
input order are chosen, which is deterministic and cheap: each input is read again only from its start
to its last chosen line. Customer records are never read; a sample is the dump's row next to the id of
the customer it links to.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc

from transforms.read import LINE, RANGE_BYTES, InputSpec, parse_task, whole_tasks

DEFAULT_SAMPLES = 5
Chosen = tuple[str, int, str, tuple[str, ...], float, bool]  # source_file, line, customer_id, fields, score, canary


def first_candidates(table: pa.Table, n: int) -> list[Chosen]:
    """The n earliest candidate rows (by file, line, customer) of one candidates table."""
    keys = [("source_file", "ascending"), ("line", "ascending"), ("customer_id", "ascending")]
    first = table.sort_by(keys).slice(0, n).to_pylist()
    return [
        (r["source_file"], r["line"], r["customer_id"], tuple(r["matched_fields"]), r["score"], r["canary"])
        for r in first
    ]


def rows_at(spec: InputSpec, lines: set[int]) -> dict[int, dict[str, str]]:
    """The mapped fields' values of the given lines of one input, read from its start to the last of them."""
    found: dict[int, dict[str, str]] = {}
    wanted = pa.array(sorted(lines), pa.int64())
    last = max(lines)
    for task in whole_tasks(spec):
        for parsed in parse_task(task, RANGE_BYTES):
            table = parsed.table
            for row in table.filter(pc.is_in(table.column(LINE), value_set=wanted)).to_pylist():
                line = row.pop(LINE)
                found[line] = {name: str(value) for name, value in row.items() if value not in (None, "")}
            if table.num_rows and pc.max(table.column(LINE)).as_py() >= last:
                return found
    return found


def dump_values(chosen: list[Chosen], specs: list[InputSpec]) -> list[dict[str, Any]]:
    """The chosen candidates, each with the dump's values of its row."""
    by_label = {spec.label: spec for spec in specs}
    lines: dict[str, set[int]] = {}
    for source, line, *_ in chosen:
        lines.setdefault(source, set()).add(line)
    values = {
        (source, line): row
        for source, wanted in sorted(lines.items())
        if source in by_label
        for line, row in rows_at(by_label[source], wanted).items()
    }
    return [
        {
            "source_file": source,
            "line": line,
            "customer_id": customer,
            "matched_fields": list(fields),
            "score": score,
            "canary": canary,
            "values": values.get((source, line), {}),
        }
        for source, line, customer, fields, score, canary in chosen
    ]


class SampleRows(beam.PTransform):
    """Candidate tables → one list: the first ``n`` candidate rows with their dump-side values."""

    def __init__(self, specs: list[InputSpec], n: int) -> None:
        super().__init__()
        self._specs = specs
        self._n = n

    def expand(self, candidates: beam.PCollection) -> beam.PCollection:
        return (
            candidates
            | "FirstPerTable" >> beam.FlatMap(first_candidates, self._n)
            | "First" >> beam.combiners.Top.Smallest(self._n)
            | "DumpValues" >> beam.Map(dump_values, self._specs)
        )
