"""Registered dumps: what ``dumpmatch reverify`` reruns, their runs and their digest caches.

They live in the library folder (``library.py``) and its index, so one lock or compare-and-swap
(``jsonstore.py``) guards everything:

    LIBRARY/
      index.json                          "entries" (library.py) and "dumps" (below)
      dumps/<name>/runs/<run-id>/         a run folder as match writes it, plus diff.json and
                                          customer_changes.parquet (reverify)
      dumps/<name>/cache/<run-id>/        the digest cache that run wrote (digest_cache.py)

    "dumps": {"forum-a": {
        "registered": "20250101T120000.123456Z",
        "inputs": [{"path": "gs://b/dumps/a.csv.gz", "size": 123456, "sha256": "<64 hex digits>"}],
        "options": {"columns": "email=Mail", "format": "auto", ...},   how match reads them
        "key_fingerprint": "<32 hex>" | null,   the key of its runs, cache and library entry (null: never run)
        "library_entries": ["dump-forum-a-<registered>-<fingerprint[:8]>"],   excluded from its own containment
        "cache": {"path": "dumps/forum-a/cache/<run-id>", "key_fingerprint": ..., "default_region": ...} | null,
        "runs": [{"id": "<run-id>", "path": "dumps/forum-a/runs/<run-id>", "diff": ".../diff.json",
                  "bundle": {"path", "version", "key_fingerprint"}, "cached": true,
                  "verdict": {"label", "confidence"}, "material": false}]}}

Run ids are UTC times to the microsecond (``versions.new_version``), so folders sort by age and two
concurrent reverifications never share one. Inputs are fixed at registration: globs are expanded and
every file's size and SHA-256 recorded, so a file that changes or vanishes is noticed, never skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from transforms import library, storage, versions
from transforms.errors import InputError

DUMPS = "dumps"
RUNS = "runs"
CACHE = "cache"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ENTRY_FINGERPRINT_HEX = 8


def check_name(name: str) -> None:
    """Names become folder names and library entry ids."""
    if not NAME.fullmatch(name):
        raise InputError(f"dump name {name!r}: use 1-64 of A-Z a-z 0-9 . _ - (first not . _ -)")


def registered(index: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return index.get(DUMPS, {})


def run_folder(name: str, run_id: str) -> str:
    return f"{DUMPS}/{name}/{RUNS}/{run_id}"


def cache_folder(name: str, run_id: str) -> str:
    return f"{DUMPS}/{name}/{CACHE}/{run_id}"


def entry_id(name: str, registration: dict[str, Any], fingerprint: str) -> str:
    """One library entry per registration and key: a rerun finds it and adds nothing."""
    return f"dump-{name}-{registration['registered']}-{fingerprint[:ENTRY_FINGERPRINT_HEX]}"


def describe(paths: list[str]) -> list[dict[str, Any]]:
    """Each file's path, size and SHA-256 (as stored: a compressed file is hashed compressed)."""
    return [{"path": path, "size": storage.size(path), "sha256": storage.sha256(path)} for path in paths]


def register(
    library_path: str, name: str, inputs: list[dict[str, Any]], options: dict[str, Any], replace: bool
) -> str | None:
    """Adds a dump to the index (``replace``: registers it again, keeping its runs, dropping its cache).
    Returns the folder of a cache no longer named, for the caller to delete."""
    check_name(name)
    dropped: list[str | None] = [None]
    now = versions.new_version()

    def with_dump(index: dict[str, Any]) -> dict[str, Any]:
        dumps = index.setdefault(DUMPS, {})
        old = dumps.get(name)
        if old is not None and not replace:
            raise InputError(f"library {library_path}: dump {name} is registered already; add --replace to replace it")
        old = old or {}
        dropped[0] = (old.get("cache") or {}).get("path")
        dumps[name] = {
            "registered": now,
            "inputs": inputs,
            "options": options,
            "key_fingerprint": old.get("key_fingerprint"),
            "library_entries": old.get("library_entries", []),
            "cache": None,
            "runs": old.get("runs", []),
        }
        return index

    library.update_index(library_path, with_dump)
    return storage.join(library_path, dropped[0]) if dropped[0] else None


@dataclass(frozen=True)
class FileStatus:
    """The registered inputs as found now; ``checksums`` holds those that could be read."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        return not self.changed and not self.missing


def file_status(registration: dict[str, Any]) -> FileStatus:
    """Compares every registered input with what is stored now: size first, then SHA-256."""
    status = FileStatus()
    for entry in registration["inputs"]:
        path = entry["path"]
        try:
            size = storage.size(path)
            checksum = storage.sha256(path) if size == entry["size"] else None
        except FileNotFoundError:
            status.missing.append(path)
            continue
        if checksum is not None:
            status.checksums[path] = checksum
        (status.unchanged if checksum == entry["sha256"] else status.changed).append(path)
    return status


def record_run(
    library_path: str,
    name: str,
    run: dict[str, Any],
    fingerprint: str,
    entry: str | None,
    cache: dict[str, Any] | None,
) -> list[str]:
    """Adds a finished run to its dump, under the key it ran with; a new cache replaces one under another
    key or region, while of two equivalent caches the one named first stays. Returns the cache folders no
    longer named (the caller deletes them)."""
    orphans: list[str] = []

    def with_run(index: dict[str, Any]) -> dict[str, Any]:
        orphans.clear()
        registration = registered(index).get(name)
        if registration is None:
            raise InputError(f"library {library_path}: dump {name} was removed while it was reverified")
        registration["runs"] = sorted([*registration["runs"], run], key=lambda r: r["id"])
        registration["key_fingerprint"] = fingerprint
        if entry and entry not in registration["library_entries"]:
            registration["library_entries"] = [*registration["library_entries"], entry]
        old = registration.get("cache")
        if cache is not None:
            if old is not None and _same_cache(old, cache):
                orphans.append(cache["path"])
            else:
                orphans.extend([old["path"]] if old else [])
                registration["cache"] = cache
        return index

    library.update_index(library_path, with_run)
    return [storage.join(library_path, folder) for folder in orphans]


def _same_cache(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("key_fingerprint", "default_region", "tool_version")
    return all(old.get(k) == new.get(k) for k in keys)


def latest_run(registration: dict[str, Any]) -> dict[str, Any] | None:
    runs = registration["runs"]
    return runs[-1] if runs else None
