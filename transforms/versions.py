"""Bundle versions: one folder of bundles, a new one per ``sketch --versioned``, and a readable index.

    BUNDLES/
      versions.json          every finished version, oldest first (below)
      versions.json.lock     local folders only: the writers' lock (jsonstore.py)
      <version>/             a whole bundle: manifest.json (with "version"), bloom/, hll/, minhash/, index/

    {"format": "dumpmatch-bundle-versions", "format_version": 1,
     "versions": [{"version": "20250101T120000.123456Z", "created": "2025-01-01T12:02:31Z",
                   "key_fingerprint": "<32 hex digits>", "customers": 1000000, "sketch_only": false}]}

A version is named by its UTC launch time, so names sort by age, and is listed only after its manifest
is published: the newest listed version is always complete, and a sketch that died is never picked.
``--bundle BUNDLES`` means the newest version, ``--bundle BUNDLES/<version>`` that one; a run records
which (its manifest's ``bundle.version``). Old versions stay until someone deletes them: after a key
rotation the newest is under the new key, and the older ones still answer runs under the old key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from transforms import bundle, jsonstore, storage
from transforms.errors import InputError

FORMAT = "dumpmatch-bundle-versions"
FORMAT_VERSION = 1
VERSIONS = "versions.json"
NAME_FORMAT = "%Y%m%dT%H%M%S.%fZ"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def new_version(now: datetime | None = None) -> str:
    """The UTC launch time to the microsecond: sortable, and two sketches do not start together."""
    return (now or datetime.now(UTC)).strftime(NAME_FORMAT)


def read_versions(root: str) -> dict[str, Any] | None:
    """The versions index of ``root``, or None when ``root`` is not a versions folder."""
    try:
        data = storage.read_bytes(storage.join(root, VERSIONS))
    except FileNotFoundError:
        return None
    return _parse(root, data)


def _parse(root: str, data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "versions": []}
    return jsonstore.parse(data, f"bundle versions {root}: {VERSIONS}", FORMAT, FORMAT_VERSION)


def record(root: str, version: str, manifest: dict[str, Any]) -> None:
    """Lists a published version (the sketch's last step); a name already listed is refused."""
    entry = {
        "version": version,
        "created": datetime.now(UTC).strftime(TIME_FORMAT),
        "key_fingerprint": manifest["key_fingerprint"],
        "customers": manifest["customers"]["parsed"],
        "sketch_only": manifest["sketch_only"],
    }

    def with_version(data: bytes | None) -> bytes:
        index = _parse(root, data)
        if any(v["version"] == version for v in index["versions"]):
            raise InputError(f"bundle versions {root}: version {version} is listed already")
        index["versions"] = sorted([*index["versions"], entry], key=lambda v: v["version"])
        return storage.json_bytes(index)

    jsonstore.update(storage.join(root, VERSIONS), with_version)


def resolve(path: str) -> str:
    """A bundle folder is itself; a versions folder means its newest version. Anything else is returned
    as given, for bundle.read_manifest to explain."""
    if storage.exists(storage.join(path, bundle.MANIFEST)):
        return path
    index = read_versions(path)
    if index is None:
        return path
    if not index["versions"]:
        raise InputError(f"bundle versions {path}: no finished version yet; run dumpmatch sketch --versioned")
    return storage.join(path, index["versions"][-1]["version"])


def identity(path: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """What a run records about its bundle: where, which version, which key, and a hash of its content
    (the manifest with its inputs' checksums but not their paths), so a bundle sketched again in place is
    noticed, and the same bundle on gs:// and on a local disk hashes the same."""
    inputs = [{k: v for k, v in entry.items() if k != "path"} for entry in manifest.get("inputs", [])]
    content = json.dumps({**manifest, "inputs": inputs}, sort_keys=True).encode("utf-8")
    return {
        "path": path,
        "version": manifest.get("version"),
        "key_fingerprint": manifest["key_fingerprint"],
        "content_sha256": hashlib.sha256(content).hexdigest(),
    }
