"""A JSON document that several writers update, local or on ``gs://``, without losing a change.

The document is only ever replaced whole by a read-modify-write: locally under an exclusive ``flock`` on
``<name>.lock`` beside it (the kernel releases it when a writer dies, so no stale lock), writing a
temporary file then ``os.replace`` (readers never see half a file); on GCS by compare-and-swap on the
object's generation: read it, upload with ``if_generation_match`` (0: the object must not exist yet), and
on 412 read again after a jittered back-off. Local locking needs a local file system (not NFS or gcsfuse).
The library index (``library.py``) and the bundle versions index (``versions.py``) are such documents.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

from apache_beam.io.filesystems import FileSystems
from apache_beam.io.gcp import gcsio
from apache_beam.options.pipeline_options import PipelineOptions
from google.api_core.exceptions import PreconditionFailed

from transforms import gcs, storage
from transforms.errors import InputError

LOCK_SUFFIX = ".lock"
UPDATE_SECONDS = 120.0  # give up after this long: something else holds the document
BACKOFF_FIRST = 0.02
BACKOFF_MAX = 1.0
TEMPORARY_BYTES = 4
JSON_TYPE = "application/json"

Change = Callable[[bytes | None], bytes]  # the stored bytes (None: no document yet) → the bytes to store


def parse(data: bytes, where: str, fmt: str, version: int) -> dict[str, Any]:
    """A stored index, checked: not JSON, or another format or version, stops the run naming ``where``
    (e.g. "library L: index.json")."""
    try:
        index = json.loads(data)
    except ValueError:
        raise InputError(f"{where} is not valid JSON; restore it from a backup") from None
    if index.get("format") != fmt or index.get("format_version") != version:
        raise InputError(f"{where} is {index.get('format')} v{index.get('format_version')}, not {fmt} v{version}")
    return index


def update(path: str, change: Change) -> None:
    """Read-modify-write of the document at ``path`` that never loses a concurrent writer's change."""
    scheme = FileSystems.get_scheme(path)
    if scheme == gcs.SCHEME:
        _update_gcs(path, change)
    elif scheme is None:
        _update_local(path, change)
    else:
        raise InputError(f"{path}: only local folders and gs:// are supported")


def gcs_client() -> Any:
    """A google-cloud-storage client made the way Beam makes its own (credentials, emulator)."""
    return gcsio.create_storage_client(PipelineOptions([]))


def _update_local(path: str, change: Change) -> None:
    """Under the lock: read, change, write a temporary file, rename it over the document."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with _locked(path + LOCK_SUFFIX):
        try:
            with open(path, "rb") as handle:
                data: bytes | None = handle.read()
        except FileNotFoundError:
            data = None
        temporary = f"{path}.{secrets.token_hex(TEMPORARY_BYTES)}.tmp"
        try:
            with open(temporary, "wb") as handle:
                handle.write(change(data))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """An exclusive flock, polled so a stuck holder ends in an error rather than a hang."""
    deadline = time.monotonic() + UPDATE_SECONDS
    with open(path, "a") as handle:
        for pause in _backoff():
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InputError(f"{path}: another writer has held it for {UPDATE_SECONDS:.0f} s") from None
                time.sleep(pause)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _update_gcs(path: str, change: Change) -> None:
    """Compare-and-swap on the object generation; 412 means another writer won: read again."""
    bucket_name, name = gcsio.parse_gcs_path(path)
    deadline = time.monotonic() + UPDATE_SECONDS
    with storage._named(path):
        bucket = gcs_client().bucket(bucket_name)
        for pause in _backoff():
            current = bucket.get_blob(name)
            generation = 0 if current is None else current.generation
            blob = bucket.blob(name)  # no generation attached: reading an overwritten one would be a 404
            try:
                data = None if current is None else blob.download_as_bytes(if_generation_match=generation)
                blob.upload_from_string(change(data), content_type=JSON_TYPE, if_generation_match=generation)
                return
            except PreconditionFailed:  # another writer got there first
                if time.monotonic() > deadline:
                    raise InputError(f"{path}: still changing after {UPDATE_SECONDS:.0f} s of retries") from None
                time.sleep(pause)


def _backoff() -> Iterator[float]:
    """Full-jitter exponential pauses, so racing writers spread out instead of colliding again."""
    ceiling = BACKOFF_FIRST
    while True:
        yield random.uniform(0, ceiling)
        ceiling = min(ceiling * 2, BACKOFF_MAX)
