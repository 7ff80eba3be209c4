"""The library of earlier dumps: "these emails are contained in dump X, added on date Y" (recycled) evidence.

Every match run can add its dump's per-field MinHash to the library; a new dump's MinHash is then
compared with every earlier entry made under the same key. A plain folder, local or ``gs://``,
that a person can read without dumpmatch:

    LIBRARY/
      index.json                        the truth: every entry, sorted by id (below)
      index.json.lock                   local libraries only: the writers' lock file (always empty)
      sketches/<entry-id>/<field>.bin   one field's MinHash of the dump's keyed digests, in the sketch
                                        envelope (kind, field, key fingerprint: sketches.encode)

``index.json`` (indented, keys sorted, entries sorted by id) holds ids, labels, times, key
fingerprints, counts and file names; never a value from a dump:

    {"entries": [{"created": "2025-01-01T12:00:00Z",
                  "fields": {"email": {"distinct": 120345, "minhash": "sketches/<entry-id>/email.bin"}},
                  "id": "20250101T120000Z-1a2b3c4d",
                  "key_fingerprint": "<32 hex digits>",
                  "label": "forum dump, seller A",
                  "tool_version": "0.1.0"}],
     "format": "dumpmatch-library",
     "format_version": 1}

Registered dumps (``dumpmatch library add``), their reverification runs and digest caches live in the
same folder and index, under ``dumps/`` and the index's ``dumps`` key: ``registry.py`` describes them.

Concurrent writers. An entry exists once ``index.json`` names it, and ``index.json`` is only ever
replaced whole by a read-modify-write that cannot lose another writer's entry (``jsonstore.py``:
``flock`` and ``os.replace`` locally, compare-and-swap on the object generation on GCS). Sketch files
are written before the index, so a writer that dies leaves at most a ``sketches/<entry-id>/`` folder
no entry names.

Comparison. The containment of the new dump A in entry B, |A∩B|/|A|, is the report's MinHash
intersection estimate (``estimate.minhash_overlap``: |A∩B| = J(|A|+|B|)/(1+J), Wilson interval on J
with the measured design effect) divided by |A|, clipped to 1; the distinct counts are HLL
estimates. One agreeing permutation moves it by (|A|+|B|)/(k|A|): for an entry more than ~25 times
the dump that step exceeds CONTAINMENT_STEP, and a single coincident minimum could read as "100%
contained", so such rows are reported apart as unresolved, never as evidence. Every entry's
signature is compared (a scan: 0.5 s of CPU for 500 entries × 7 fields, almost all of it reading
the files). Rebuilt per query, as here, a datasketch ``MinHashLSHEnsemble`` must read the same
files, then costs ~1.7 s of CPU per field for 500 entries (12 s for 7) and misses some true
containments (recall 0.95 at containment 0.6, 0.975 at 0.8 in a trial); ``method=ENSEMBLE`` uses it
anyway. It works with our ``affine64`` MinHashes unchanged: its inner MinHashLSH only requires one
scheme throughout.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.gcp import gcsio
from datasketch import MinHash, MinHashLSHEnsemble

from transforms import __version__, estimate, gcs, jsonstore, sketches, storage
from transforms.errors import InputError
from transforms.fields import file_name

FORMAT = "dumpmatch-library"
FORMAT_VERSION = 1
INDEX = "index.json"
LOCK = INDEX + jsonstore.LOCK_SUFFIX
SKETCHES = "sketches"
ENTRY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
FINGERPRINT = re.compile(r"[0-9a-f]{32}")
MAX_LABEL = 200
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
ID_RANDOM_BYTES = 4
CONTAINMENT_STEP = 0.1  # coarser than this, MinHash cannot tell containments apart (entry ≳ 25× the dump)
SCAN: Final = "scan"
ENSEMBLE: Final = "lsh-ensemble"
Method = Literal["scan", "lsh-ensemble"]
ENSEMBLE_PARTITIONS = 16
ENSEMBLE_MAX_R = 8
GCS_READ_THREADS = 8  # below the client's connection pool (10)
DIGITS = 6


# ---- Writing ----------------------------------------------------------------------


def new_entry_id(now: datetime | None = None) -> str:
    """A sortable, unique id (UTC time + random), so two runs never pick the same sketch folder."""
    stamp = (now or datetime.now(UTC)).strftime(ID_TIME_FORMAT)
    return f"{stamp}-{secrets.token_hex(ID_RANDOM_BYTES)}"


def add_entry(
    library: str,
    entry_id: str,
    label: str,
    fingerprint: str,
    field_minhashes: dict[str, MinHash],
    field_sizes: dict[str, int],
    exist_ok: bool = False,
) -> None:
    """Stores one dump's per-field MinHashes (fields with no values are left out), then names them in
    the index; an id already there is refused (or, ``exist_ok``, left as it is), so an entry once added
    never changes."""
    _check_entry(entry_id, label, fingerprint)
    fields = {f: mh for f, mh in sorted(field_minhashes.items()) if field_sizes.get(f, 0) > 0}
    for name, mh in fields.items():
        _check_minhash(name, mh)
    index = read_index(library)
    if exist_ok and _named_in(index, entry_id):
        return
    _refuse_duplicate(library, index, entry_id)
    entry: dict[str, Any] = {
        "id": entry_id,
        "label": label,
        "created": datetime.now(UTC).strftime(TIME_FORMAT),
        "key_fingerprint": fingerprint,
        "tool_version": __version__,
        "fields": {},
    }
    for name, mh in fields.items():
        relative = f"{SKETCHES}/{entry_id}/{file_name(name)}.bin"
        storage.write_bytes(storage.join(library, relative), sketches.encode("minhash", name, fingerprint, mh))
        entry["fields"][name] = {"distinct": int(field_sizes[name]), "minhash": relative}

    def with_entry(index: dict[str, Any]) -> dict[str, Any]:
        if exist_ok and _named_in(index, entry_id):
            return index  # a concurrent writer added the same entry (same id: same dump, same key)
        _refuse_duplicate(library, index, entry_id)
        index["entries"] = sorted([*index["entries"], entry], key=lambda e: e["id"])
        return index

    update_index(library, with_entry)


def _named_in(index: dict[str, Any], entry_id: str) -> bool:
    return any(e["id"] == entry_id for e in index["entries"])


def _refuse_duplicate(library: str, index: dict[str, Any], entry_id: str) -> None:
    """Checked before writing sketches (fail fast) and again inside the index update (races)."""
    if _named_in(index, entry_id):
        raise InputError(f"library {library}: entry {entry_id} exists already; choose another id")


def check_label(label: str) -> None:
    """Labels are shown in reports and index.json, so they stay short and printable (check at launch)."""
    if len(label) > MAX_LABEL or not label.isprintable():
        raise InputError(f"library label: at most {MAX_LABEL} printable characters")


def _check_entry(entry_id: str, label: str, fingerprint: str) -> None:
    """Ids become folder names, so only safe characters; the fingerprint is 16 bytes in hex."""
    if not ENTRY_ID.fullmatch(entry_id):
        raise InputError(f"library entry id {entry_id!r}: use 1-128 of A-Z a-z 0-9 . _ - (first not . _ -)")
    check_label(label)
    if not FINGERPRINT.fullmatch(fingerprint):
        raise ValueError(f"key fingerprint must be 32 lowercase hex digits, got {fingerprint!r}")


def _check_minhash(name: str, mh: MinHash) -> None:
    """Only MinHashes with our permutations can be compared with each other."""
    if (len(mh), mh.seed, mh.scheme) != (sketches.MINHASH_PERMUTATIONS, sketches.MINHASH_SEED, sketches.MINHASH_SCHEME):
        raise ValueError(f"{name}: MinHash must come from sketches.new_minhash() (num_perm, seed, scheme)")


# ---- The index and its concurrent updates -----------------------------------------


def empty_index() -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "entries": []}


def read_index(library: str) -> dict[str, Any]:
    """The index; a library not created yet is empty."""
    try:
        data = storage.read_bytes(storage.join(library, INDEX))
    except FileNotFoundError:
        return empty_index()
    return _parse(library, data)


def _parse(library: str, data: bytes | None) -> dict[str, Any]:
    if data is None:
        return empty_index()
    return jsonstore.parse(data, f"library {library}: {INDEX}", FORMAT, FORMAT_VERSION)


def update_index(library: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Read-modify-write of index.json that never loses a concurrent writer's change (jsonstore)."""
    jsonstore.update(storage.join(library, INDEX), lambda data: storage.json_bytes(change(_parse(library, data))))


# ---- Comparing a new dump ---------------------------------------------------------


@dataclass(frozen=True)
class LibraryMatches:
    """What the library says about a dump, each row an entry and field (keys of ``row``'s dict):

    rows        containment >= threshold, resolved: the evidence (a verdict may use these)
    unresolved  containment >= threshold but the entry is too large beside this dump for MinHash to
                tell (one agreeing permutation moves the estimate by more than CONTAINMENT_STEP)
    compared    entries under this key that were compared
    skipped_other_key  ids of entries under another key: never compared (nothing could match)
    """

    rows: list[dict[str, Any]]
    unresolved: list[dict[str, Any]]
    compared: int
    skipped_other_key: list[str]

    def summary(self) -> dict[str, Any]:
        """Everything but the rows, for a report."""
        return {
            "compared": self.compared,
            "skipped_other_key": len(self.skipped_other_key),
            "unresolved": self.unresolved,
        }


def containment(
    library: str,
    fingerprint: str,
    field_minhashes: dict[str, MinHash],
    field_sizes: dict[str, int],
    threshold: float = 0.5,
    exclude: Collection[str] = (),
    method: Method = SCAN,
) -> LibraryMatches:
    """Library entries (same key, not excluded) estimated to contain at least ``threshold`` of the new
    dump's distinct values in some field, best first."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    entries = [e for e in read_index(library)["entries"] if e["id"] not in exclude]
    ours = [e for e in entries if e["key_fingerprint"] == fingerprint]
    holders = {
        name: [e for e in ours if e["fields"].get(name, {}).get("distinct", 0) > 0]
        for name in sorted(field_minhashes)
        if field_sizes.get(name, 0) > 0
    }
    for name in holders:
        _check_minhash(name, field_minhashes[name])
    stored = _read_minhashes(library, fingerprint, holders)
    found: list[dict[str, Any]] = []
    for name, holding in holders.items():
        if not holding:
            continue
        mh, size = field_minhashes[name], field_sizes[name]
        sizes = [e["fields"][name]["distinct"] for e in holding]
        for position in _candidates(method, mh, size, stored[name], sizes, threshold):
            row = _row(holding[position], name, mh, size, stored[name][position])
            if row["containment"] >= threshold:
                found.append(row)
    found.sort(key=lambda r: (-r["containment"], r["entry_id"], r["field"]))
    return LibraryMatches(
        [r for r in found if r["informative"]],
        [r for r in found if not r["informative"]],
        len(ours),
        sorted(e["id"] for e in entries if e["key_fingerprint"] != fingerprint),
    )


def _read_minhashes(
    library: str, fingerprint: str, holders: dict[str, list[dict[str, Any]]]
) -> dict[str, list[MinHash]]:
    """Every field's sketches in one batch of reads (one pool of GCS connections for the query)."""
    wanted = [(name, entry["fields"][name]["minhash"]) for name, entries in holders.items() for entry in entries]
    try:
        data = _read_all(library, [storage.join(library, relative) for _, relative in wanted])
    except FileNotFoundError as err:
        raise InputError(f"library {library}: {INDEX} names {err}, which is missing") from None
    stored: dict[str, list[MinHash]] = {name: [] for name in holders}
    for (name, _), payload in zip(wanted, data, strict=True):
        stored[name].append(cast(MinHash, sketches.decode(payload, "minhash", name, fingerprint)))
    return stored


def _read_all(library: str, paths: list[str]) -> list[bytes]:
    """Reads files in parallel. On GCS each is a round trip, made by one client per thread: through
    FileSystems each read also builds a client and fetches metadata first (measured 4-6x slower)."""
    if FileSystems.get_scheme(library) != gcs.SCHEME:
        return [storage.read_bytes(path) for path in paths]
    clients = threading.local()

    def read(path: str) -> bytes:
        with storage._named(path):
            if not hasattr(clients, "client"):
                clients.client = jsonstore.gcs_client()
            bucket, name = gcsio.parse_gcs_path(path)
            return clients.client.bucket(bucket).blob(name).download_as_bytes()

    with ThreadPoolExecutor(GCS_READ_THREADS) as pool:
        return list(pool.map(read, paths))


def _candidates(
    method: Method, query: MinHash, size: int, stored: list[MinHash], sizes: list[int], threshold: float
) -> list[int]:
    """Positions of entries worth estimating: all of them for a scan, the ensemble's answer otherwise."""
    if method == SCAN:
        return list(range(len(stored)))
    if method != ENSEMBLE:
        raise ValueError(f"method must be {SCAN!r} or {ENSEMBLE!r}, got {method!r}")
    ensemble = MinHashLSHEnsemble(
        threshold=threshold, num_perm=sketches.MINHASH_PERMUTATIONS, num_part=ENSEMBLE_PARTITIONS, m=ENSEMBLE_MAX_R
    )
    ensemble.index(list(zip(range(len(stored)), stored, sizes, strict=True)))
    return sorted(ensemble.query(query, size))


def _row(entry: dict[str, Any], name: str, query: MinHash, size: int, stored: MinHash) -> dict[str, Any]:
    """Containment of the new dump (``size`` distinct values) in the entry: the report's MinHash
    intersection estimate and interval (estimate.minhash_overlap) divided by the dump's size."""
    k = len(query)
    jaccard = float(np.count_nonzero(query.hashvalues == stored.hashvalues)) / k
    other = entry["fields"][name]["distinct"]
    overlap = estimate.minhash_overlap(jaccard, k, size, other)
    low, high = (min(x / size, 1.0) for x in cast(list[float], overlap["intersection_ci95"]))
    step = (size + other) / (k * size)  # what one agreeing permutation adds to the containment
    return {
        "entry_id": entry["id"],
        "label": entry["label"],
        "created": entry["created"],
        "field": name,
        "containment": round(min(cast(float, overlap["intersection"]) / size, 1.0), DIGITS),
        "ci95": [round(low, DIGITS), round(high, DIGITS)],
        "jaccard": overlap["jaccard"],
        "dump_size": size,
        "library_size": other,
        "step": round(step, DIGITS),
        "informative": step <= CONTAINMENT_STEP,
    }
