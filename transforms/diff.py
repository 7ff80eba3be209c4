"""What changed between two runs of one dump: diff.json, its plain-language reasons and materiality.

    {"format": "dumpmatch-diff", "format_version": 1, "dump": NAME,
     "previous_run": PATH | null, "current_run": PATH,
     "bundle": {"previous": {"path", "version", "key_fingerprint", "content_sha256"} | null, "current": {...}},
     "inputs": {"changed": [paths], "missing": [paths], "unchanged": [paths]},
     "verdict": {"previous": {"label", "confidence"} | null, "current": {...} | null, "changed": bool},
     "fields": {FIELD: {"matched": {"previous", "current", "delta"}, "estimate": {"previous", "current", "delta"}}},
     "customers": {"newly_matched": N, "no_longer_matched": N, "file": "customer_changes.parquet"},
     "canaries": {"previous": N, "current": N, "new": N},
     "material": bool, "reasons": [plain-language strings], "cached": bool, "error": null | string}

Customers are compared by customer id over the runs' candidates; the ids go to
``customer_changes.parquet`` beside diff.json (customer_id, change), never into logs. ``current`` verdict
is null, and ``error`` says why, only when the dump could not be rerun at all.

Material: a verdict change, a canary customer not matched before, an input changed or missing since
registration, or a field's matched rows (its Bloom estimate without an index) or the matched customers
moving by at least ``Thresholds.rows`` and ``Thresholds.share`` of the previous number. A first run is
the baseline: material only for canary hits and input problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from transforms import storage
from transforms.probe import CANDIDATE_SCHEMA
from transforms.registry import FileStatus
from transforms.report import REPORT

FORMAT = "dumpmatch-diff"
FORMAT_VERSION = 1
DIFF = "diff.json"
CUSTOMER_CHANGES = "customer_changes.parquet"
RUN_MANIFEST = "manifest.json"  # a run folder's (pipelines/match.py)
CANDIDATES = "candidates"
NEWLY, NO_LONGER = "newly_matched", "no_longer_matched"
CHANGES_SCHEMA = pa.schema([("customer_id", pa.string()), ("change", pa.string())])
MIN_DELTA_ROWS = 10
MIN_DELTA_SHARE = 0.01


@dataclass(frozen=True)
class Thresholds:
    """A count moves materially when it moves by at least ``rows`` and ``share`` of its previous value."""

    rows: int = MIN_DELTA_ROWS
    share: float = MIN_DELTA_SHARE

    def exceeded(self, delta: float, previous: float) -> bool:
        return delta != 0 and abs(delta) >= self.rows and abs(delta) >= self.share * abs(previous)


@dataclass(frozen=True)
class RunView:
    """What a diff reads of a finished run folder."""

    path: str
    report: dict[str, Any]
    manifest: dict[str, Any]
    customers: pa.Array  # distinct customer ids among the candidates
    canaries: pa.Array  # distinct canary customer ids among the candidates


def read_run(path: str) -> RunView:
    """Report, manifest and matched customers of a run folder (match's layout)."""
    parts = [storage.read_parquet(m.path) for m in storage.match(storage.join(path, CANDIDATES, "*.parquet"))]
    candidates = pa.concat_tables([CANDIDATE_SCHEMA.empty_table(), *parts])
    ids = candidates.column("customer_id")
    return RunView(
        path=path,
        report=storage.read_json(storage.join(path, REPORT)),
        manifest=storage.read_json(storage.join(path, RUN_MANIFEST)),
        customers=_unique(ids),
        canaries=_unique(ids.filter(candidates.column("canary"))),
    )


def _unique(values: pa.ChunkedArray) -> pa.Array:
    return pc.unique(values.combine_chunks()).sort()


def _only_in(first: pa.Array, second: pa.Array) -> pa.Array:
    return first.filter(pc.invert(pc.is_in(first, value_set=second)))


def bundle_of(run: RunView) -> dict[str, Any]:
    bundle = run.manifest["bundle"]
    return {
        "path": bundle["path"],
        "version": bundle.get("version"),
        "key_fingerprint": bundle["key_fingerprint"],
        "content_sha256": bundle.get("content_sha256"),
    }


def _verdict(run: RunView | None) -> dict[str, Any] | None:
    return None if run is None else {k: run.report["verdict"][k] for k in ("label", "confidence")}


def _number(run: RunView | None, name: str, key: str) -> float | None:
    return None if run is None else run.report["fields"].get(name, {}).get(key)


def _change(previous: float | None, current: float | None) -> dict[str, Any]:
    delta = None if previous is None or current is None else round(current - previous, 1)
    return {"previous": previous, "current": current, "delta": delta}


def _signed(value: float) -> str:
    return f"{value:+,g}"


class _Reasons:
    """Plain-language reasons, each marked material or not."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.material = False

    def add(self, text: str, material: bool) -> None:
        self.lines.append(text)
        self.material |= material


def compare(
    name: str,
    previous: RunView | None,
    current: RunView,
    files: FileStatus,
    thresholds: Thresholds,
    cached: bool,
) -> tuple[dict[str, Any], pa.Table]:
    """diff.json for two runs of one dump, and its customer_changes table."""
    reasons = _Reasons()
    _input_reasons(reasons, files, cached)
    if previous is None:
        reasons.add("first run of this dump: its numbers are the baseline for the next runs", False)
    verdict: dict[str, Any] = {"previous": _verdict(previous), "current": _verdict(current)}
    verdict["changed"] = previous is not None and verdict["previous"] != verdict["current"]
    if verdict["changed"]:
        before, after = verdict["previous"], verdict["current"]
        assert before is not None and after is not None
        reasons.add(
            f"verdict changed: {before['label']} ({before['confidence']:g}) → {after['label']} "
            f"({after['confidence']:g})",
            True,
        )
    fields = _fields(reasons, previous, current, thresholds)
    newly = _only_in(current.customers, previous.customers) if previous else current.customers.slice(0, 0)
    gone = _only_in(previous.customers, current.customers) if previous else current.customers.slice(0, 0)
    base = len(previous.customers) if previous else 0
    for count, what in ((len(newly), "newly matched"), (len(gone), "no longer matched")):
        if count:
            reasons.add(f"{count:,} customers {what} (of {base:,} before)", thresholds.exceeded(count, base))
    new_canaries = _only_in(current.canaries, previous.canaries) if previous else current.canaries
    if len(new_canaries):
        reasons.add(f"{len(new_canaries)} canary customers matched that were not before: a planted record leaked", True)
    _bundle_reasons(reasons, previous, current)
    diff = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dump": name,
        "previous_run": previous.path if previous else None,
        "current_run": current.path,
        "bundle": {"previous": bundle_of(previous) if previous else None, "current": bundle_of(current)},
        "inputs": {"changed": files.changed, "missing": files.missing, "unchanged": files.unchanged},
        "verdict": verdict,
        "fields": fields,
        "customers": {"newly_matched": len(newly), "no_longer_matched": len(gone), "file": CUSTOMER_CHANGES},
        "canaries": {
            "previous": len(previous.canaries) if previous else 0,
            "current": len(current.canaries),
            "new": len(new_canaries),
        },
        "cached": cached,
        "material": reasons.material,
        "reasons": reasons.lines,
        "error": None,
    }
    changes = pa.table(
        {
            "customer_id": pa.concat_arrays([newly, gone]),
            "change": pa.array([NEWLY] * len(newly) + [NO_LONGER] * len(gone), pa.string()),
        },
        schema=CHANGES_SCHEMA,
    )
    return diff, changes


def _input_reasons(reasons: _Reasons, files: FileStatus, cached: bool) -> None:
    source = "this run probed the digests cached from the registered files" if cached else "this run read them as now"
    if files.changed:
        reasons.add(f"{len(files.changed)} input files changed since registration (SHA-256 differs); {source}", True)
    if files.missing:
        reasons.add(f"{len(files.missing)} input files are missing; {source}", True)


def _fields(
    reasons: _Reasons, previous: RunView | None, current: RunView, thresholds: Thresholds
) -> dict[str, dict[str, Any]]:
    names = sorted(set(current.report["fields"]) | set(previous.report["fields"] if previous else ()))
    fields = {}
    for field in names:
        matched = _change(_number(previous, field, "matched"), _number(current, field, "matched"))
        estimate = _change(_number(previous, field, "estimate"), _number(current, field, "estimate"))
        fields[field] = {"matched": matched, "estimate": estimate}
        judged, what = (matched, "matched rows") if matched["current"] is not None else (estimate, "estimated overlap")
        if judged["delta"]:
            reasons.add(
                f"{field}: {what} {judged['previous']:,g} → {judged['current']:,g} ({_signed(judged['delta'])})",
                thresholds.exceeded(judged["delta"], judged["previous"]),
            )
    return fields


def _bundle_reasons(reasons: _Reasons, previous: RunView | None, current: RunView) -> None:
    if previous is None:
        return
    before, after = bundle_of(previous), bundle_of(current)
    if before["key_fingerprint"] != after["key_fingerprint"]:
        reasons.add(
            f"key rotated: the previous run used key fingerprint {before['key_fingerprint']}, this one "
            f"{after['key_fingerprint']}; counts and customer ids do not depend on the key",
            False,
        )
    elif (before["version"], before["content_sha256"]) != (after["version"], after["content_sha256"]):
        reasons.add(f"customer base re-sketched: bundle version {before['version']} → {after['version']}", False)


def unrunnable(name: str, previous: str | None, current: str, files: FileStatus, error: str) -> dict[str, Any]:
    """diff.json for a dump that could not be rerun (its inputs are gone and nothing is cached): material."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dump": name,
        "previous_run": previous,
        "current_run": current,
        "bundle": {"previous": None, "current": None},
        "inputs": {"changed": files.changed, "missing": files.missing, "unchanged": files.unchanged},
        "verdict": {"previous": None, "current": None, "changed": False},
        "fields": {},
        "customers": {"newly_matched": 0, "no_longer_matched": 0, "file": None},
        "canaries": {"previous": 0, "current": 0, "new": 0},
        "cached": False,
        "material": True,
        "reasons": [f"could not be rerun: {error}"],
        "error": error,
    }


def write(folder: str, diff: dict[str, Any], changes: pa.Table | None) -> str:
    """diff.json (and customer_changes.parquet) into the run folder; returns diff.json's path."""
    if changes is not None:
        storage.write_parquet(storage.join(folder, CUSTOMER_CHANGES), changes.sort_by([("customer_id", "ascending")]))
    path = storage.join(folder, DIFF)
    storage.write_json(path, diff)
    return path
