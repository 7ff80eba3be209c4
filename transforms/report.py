"""The run report: row accounting, column mapping, per-field overlap, record evidence."""

from __future__ import annotations

from typing import Any

from datasketch import HyperLogLogPlusPlus, MinHash

from transforms import bundle, estimate, sketches, storage
from transforms.errors import InputError
from transforms.probe import BLOOM, DUMP, MATCHED
from transforms.read import InputSpec

REPORT = "report.json"
REPORT_HTML = "report.html"
RECORD_KEYS = ("rows", "matched_any", "candidates", "candidate_pairs", "cooccurring", "strong", "conflicting", "canary")


class AccountingError(AssertionError):
    """Rows were lost: read != parsed + dead-lettered + headers. Always a bug."""


COUNT_KEYS = ("rows_read", "rows_parsed", "rows_dead_lettered", "headers")


def checked_counts(counts: dict[str, Any], where: str) -> dict[str, int]:
    """An input's row counts, after checking that none was lost: read = parsed + dead-lettered + headers."""
    rows = {key: counts.get(key, 0) for key in COUNT_KEYS}
    if rows["rows_read"] != rows["rows_parsed"] + rows["rows_dead_lettered"] + rows["headers"]:
        raise AccountingError(f"row accounting broken for {where}: {rows}")
    return rows


def _accounting(counts: dict[str, Any], where: str) -> dict[str, int]:
    """The checked counts under the report's short names (read, parsed, dead_lettered, headers)."""
    return {key.removeprefix("rows_"): value for key, value in checked_counts(counts, where).items()}


def input_entries(
    specs: list[InputSpec], stats: dict[str, Any], checksums: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Per input: format, encoding, compression, mapping, completeness and its own checked accounting."""
    entries = []
    for spec in specs:
        counts = stats.get("inputs", {}).get(spec.label, {})
        rows = _accounting(counts, spec.label)
        reasons = counts.get("incomplete", [])
        entries.append(
            {
                "path": spec.label,
                "size": spec.size,
                "sha256": (checksums or {}).get(spec.path),
                "format": spec.format,
                "encoding": spec.encoding if spec.format != "parquet" else None,
                "compression": spec.compression,
                "delimiter": spec.layout.delimiter if spec.format == "csv" else None,
                "header": spec.layout.has_header if spec.format == "csv" else None,
                "columns": spec.field_columns(),
                "rows_read": rows["read"],
                "rows_parsed": rows["parsed"],
                "rows_dead_lettered": rows["dead_lettered"],
                "headers": rows["headers"],
                "complete": not reasons,
                "incomplete_reason": "; ".join(reasons) or None,
            }
        )
    return entries


def check_inputs(entries: list[dict[str, Any]], allow_truncated: bool, max_dead_fraction: float) -> None:
    """A short read or a mostly-garbage input must not pass as a result: stop with the reason."""
    for entry in entries:
        if not entry["complete"] and not allow_truncated:
            raise InputError(
                f"{entry['path']} is incomplete ({entry['incomplete_reason']}): results cover only the rows "
                "before the fault; rerun with --allow-truncated to accept that"
            )
        read = entry["rows_read"] - entry["headers"]
        if read and entry["rows_dead_lettered"] > max_dead_fraction * read:
            share = entry["rows_dead_lettered"] / read
            raise InputError(
                f"{entry['path']}: {share:.0%} of rows could not be parsed (see dead_letter/); check --format and "
                f"--columns, or raise --max-dead-letter-fraction (now {max_dead_fraction:g}) to accept"
            )


def total_rows(entries: list[dict[str, Any]]) -> dict[str, int]:
    total = {key: sum(e[key] for e in entries) for key in ("rows_read", "rows_parsed", "rows_dead_lettered", "headers")}
    return _accounting(total, "all inputs")


def build_report(
    specs: list[InputSpec],
    stats: dict[str, Any],
    distinct: dict[tuple[str, str], HyperLogLogPlusPlus],
    dump_minhash: dict[str, MinHash],
    bundle_path: str,
    manifest: dict[str, Any],
    checksums: dict[str, str],
    customers: int,
    use_index: bool = True,
) -> dict[str, Any]:
    """Assembles report.json; raises AccountingError if any row is unaccounted for. ``customers``: how many
    distinct customers the exact candidates name (``CustomersNamedFn``).

    Without the index nothing is exact: matched counts and record links are null, estimates remain.
    """
    entries = input_entries(specs, stats, checksums)
    columns: dict[str, str] = {}
    for input_entry in entries:
        for field, column in input_entry["columns"].items():
            columns.setdefault(field, column)

    def count(kind: str, field: str, most: int) -> int:
        """A HyperLogLog estimate (within ~1%) of distinct digests, never above what is known to bound it:
        1,008 distinct values in 1,000 rows is an estimate's error, not a finding."""
        return min(round(distinct[kind, field].count()), most) if (kind, field) in distinct else 0

    fields = {}
    for field, counts in sorted(stats.get("fields", {}).items()):
        if "values" not in counts:
            continue  # parsed but never probed: no rows of it reached the probe
        base = manifest["fields"].get(field)
        dump_distinct = count(DUMP, field, counts["values"])
        entry: dict[str, Any] = {
            "values": counts["values"],
            "distinct": dump_distinct,
            "matched": counts["matched"] if use_index else None,
            "matched_distinct": count(MATCHED, field, min(counts["matched"], dump_distinct)) if use_index else None,
            "in_bundle": base is not None,
            # Plausibility: values normalization rejected (bad emails, impossible phones), and repeats.
            "invalid": counts.get("raw", counts["values"]) - counts["values"],
            "duplicate_share": round(max(1 - dump_distinct / counts["values"], 0.0), 4) if counts["values"] else 0.0,
        }
        if base is not None and field in dump_minhash:
            base_mh = sketches.decode(
                storage.read_bytes(bundle.sketch_path(bundle_path, "minhash", field)),
                "minhash",
                field,
                manifest["key_fingerprint"],
            )
            assert isinstance(base_mh, MinHash)
            entry["base_distinct"] = base["distinct"]
            # Plausibility: how varied the dump's values are next to ours. Generators give tell-tale
            # diversity (every name unique, or a few dozen names over thousands of rows).
            entry["diversity"] = {
                "dump": round(dump_distinct / counts["values"], 4) if counts["values"] else None,
                "base": round(base["distinct"] / base["values"], 4) if base.get("values") else None,
            }
            passed = count(BLOOM, field, dump_distinct)
            entry.update(estimate.bloom_overlap(passed, dump_distinct, base["bloom"]["fpr"]).as_dict())
            entry["minhash"] = estimate.minhash_overlap(
                float(dump_minhash[field].jaccard(base_mh)),
                sketches.MINHASH_PERMUTATIONS,
                dump_distinct,
                base["distinct"],
            )
        fields[field] = entry
    return {
        "format": "dumpmatch-report",
        "format_version": 1,
        "rows": total_rows(entries),
        "inputs": entries,
        "columns": columns,
        "fields": fields,
        "records": {**_records(stats, use_index), "customers": customers if use_index else None},
        "bundle": {
            "path": bundle_path,
            "key_fingerprint": manifest["key_fingerprint"],
            "customers": manifest["customers"]["parsed"],
            "canaries": len(manifest.get("canaries", [])),
            "index": use_index,
        },
    }


def _records(stats: dict[str, Any], use_index: bool) -> dict[str, Any]:
    """Record-level evidence; without the index rows cannot be linked, so those numbers are null."""
    records = stats.get("records", {})
    linked = {key: records.get(key, 0) for key in RECORD_KEYS if key != "rows"}
    linked["chance_cooccurring"] = round(records.get("chance_cooccurring", 0.0), 2)
    linked["fields_matched"] = dict(sorted(stats.get("fields_matched", {}).items(), key=lambda kv: int(kv[0])))
    return {"rows": records.get("rows", 0), **{k: v if use_index else None for k, v in linked.items()}}
