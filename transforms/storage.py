"""Every path goes through Beam FileSystems, so gs:// works like a local folder.

Storage failures become what callers already handle: FileNotFoundError for a missing file, or
a one-line InputError naming the path (emulator down, bucket missing, access refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import posixpath
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import BeamIOError, CompressionTypes, FileMetadata
from apache_beam.io.filesystems import FileSystems
from google.api_core.exceptions import GoogleAPICallError, NotFound
from google.cloud.storage.exceptions import InvalidResponse

from transforms import gcs
from transforms.errors import InputError

HTTP_NOT_FOUND = 404
PARQUET_COMPRESSION = "zstd"
COPY_BLOCK = 8 << 20

# Every process that touches a path imports this module, Beam workers too when they unpickle a DoFn.
gcs.use_emulator_when_set()


def join(base: str, *parts: str) -> str:
    """Joins path parts for local or remote paths."""
    return FileSystems.join(base.rstrip("/"), *parts)


def basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/"))


def exists(path: str) -> bool:
    with _named(path):
        return FileSystems.exists(path)


def match(pattern: str) -> list[FileMetadata]:
    """Files matching a path or glob, sorted by path; a missing bucket matches nothing."""
    try:
        with _named(pattern):
            return sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path)
    except FileNotFoundError:
        return []


def size(path: str) -> int:
    """Size in bytes; FileNotFoundError when missing."""
    matches = match(path)
    if not matches:
        raise FileNotFoundError(path)
    return matches[0].size_in_bytes


def open_raw(path: str) -> Any:
    """Opens a file for reading without decompression (seekable for local and GCS)."""
    with _named(path):
        try:
            return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
        except OSError as err:
            if not FileSystems.exists(path):
                raise FileNotFoundError(path) from err
            raise


def read_bytes(path: str) -> bytes:
    with open_raw(path) as handle:
        return handle.read()


@contextlib.contextmanager
def open_write(path: str) -> Iterator[Any]:
    """A file being written piece by piece (Beam's local filesystem creates parent folders)."""
    try:
        with _named(path), FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            yield handle
    except FileNotFoundError:
        raise _no_bucket(path) from None


def write_bytes(path: str, data: bytes) -> None:
    """Writes a whole file."""
    with open_write(path) as handle:
        handle.write(data)


def json_bytes(obj: Any) -> bytes:
    """The JSON text every file we write holds: indented, keys sorted, so a person can read and diff it."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_json(path: str, obj: Any) -> None:
    write_bytes(path, json_bytes(obj))


def read_json(path: str) -> Any:
    return json.loads(read_bytes(path))


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth Parquet's dictionary encoding: not numbers, whose values (digests, codes, lines) rarely
    repeat, so trying a dictionary first made writing an index part 4x slower and its file larger."""
    return [f.name for f in schema if not (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))]


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet, deterministically (no creation timestamps in data)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION, use_dictionary=_dictionary_columns(table.schema))
    return sink.getvalue()


def write_parquet(path: str, table: pa.Table) -> None:
    write_bytes(path, parquet_bytes(table))


def write_parquet_stream(path: str, schema: pa.Schema, tables: Iterable[pa.Table]) -> None:
    """One Parquet file from tables that come one at a time, each its own row group: spooled to a local
    temporary file (Parquet needs a seekable sink to finish), then copied, so memory holds one table."""
    with tempfile.TemporaryFile() as spool:
        with pq.ParquetWriter(
            spool, schema, compression=PARQUET_COMPRESSION, use_dictionary=_dictionary_columns(schema)
        ) as writer:
            for table in tables:
                writer.write_table(table, row_group_size=max(table.num_rows, 1))
        spool.seek(0)
        with open_write(path) as sink:
            shutil.copyfileobj(spool, sink, COPY_BLOCK)


def read_parquet(path: str, columns: list[str] | None = None) -> pa.Table:
    with open_raw(path) as handle:
        return pq.read_table(io.BytesIO(handle.read()), columns=columns)


def delete_tree(path: str) -> None:
    """Removes a file or a folder and everything below it, if there; a missing bucket stops the run.

    On GCS a folder is only a name prefix (``exists`` is false for it), so its objects go by prefix.
    """
    try:
        with _named(path):
            if FileSystems.exists(path):
                FileSystems.delete([path])
            if FileSystems.get_scheme(path) == gcs.SCHEME:
                FileSystems.delete([path.rstrip("/") + "/"])
    except FileNotFoundError:
        raise _no_bucket(path) from None


def _no_bucket(path: str) -> InputError:
    return InputError(f"{path}: its bucket does not exist: create it or fix the path")


@contextlib.contextmanager
def _named(path: str) -> Iterator[None]:
    """Turns a storage failure into FileNotFoundError (missing) or a one-line InputError naming the path."""
    try:
        yield
    except (BeamIOError, GoogleAPICallError, InvalidResponse, gcs.EmulatorUnreachable) as err:
        cause = _innermost(err)
        if _missing(cause):
            raise FileNotFoundError(path) from None
        lines = str(cause).strip().splitlines() or [type(cause).__name__]
        raise InputError(f"{path}: {lines[0]}") from None


def _innermost(err: BaseException) -> BaseException:
    """The first underlying failure of a (possibly nested) BeamIOError."""
    while isinstance(err, BeamIOError) and err.exception_details:
        err = next(iter(err.exception_details.values()))
    return err


def _missing(err: BaseException) -> bool:
    """A 404 from the JSON API (NotFound) or from an upload (InvalidResponse), or a missing local file."""
    if isinstance(err, InvalidResponse):
        return getattr(err.response, "status_code", None) == HTTP_NOT_FOUND
    return isinstance(err, (NotFound, FileNotFoundError))


STAGING = ".staging"
HASH_BLOCK = 1 << 22


class HashingReader(io.BufferedIOBase):
    """A read-only stream over ``raw`` that feeds SHA-256 every byte read through it, so a pass that
    reads a whole file anyway (planning its ranges) also gives its checksum, and the file is read once."""

    def __init__(self, raw: Any) -> None:  # what open_raw gives
        super().__init__()
        self._raw = raw
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)
        if count:
            with memoryview(buffer) as view:
                self._digest.update(view[:count])
        return count or 0

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        self._digest.update(data)
        return data

    def hexdigest(self) -> str:
        """The checksum of the whole file: what the caller has not read is read (and hashed) first."""
        while self.read(HASH_BLOCK):
            pass
        return self._digest.hexdigest()


def sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes as stored (compressed files are hashed compressed)."""
    with open_raw(path) as handle:
        return HashingReader(handle).hexdigest()


@contextlib.contextmanager
def cleaned_on_failure(stage: str) -> Iterator[str]:
    """A failed run removes what it staged; a killed one leaves it for the next run to clear."""
    try:
        yield stage
    except BaseException:
        delete_tree(stage)
        raise


def publish(stage: str, out: str, last: str | None = None) -> list[str]:
    """Moves every file written under ``stage`` to the same place under ``out`` — the file named
    ``last`` (a manifest) after all the others — and returns their paths relative to ``out``."""
    prefix = stage.rstrip("/") + "/"
    relative = sorted(m.path[len(prefix) :] for m in match(prefix + "**"))
    batches = [[rel for rel in relative if rel != last], [rel for rel in relative if rel == last]]
    with _named(out):
        for folder in sorted({posixpath.dirname(join(out, rel)) for rel in relative}):
            if not FileSystems.exists(folder):
                FileSystems.mkdirs(folder)  # local folders; a no-op on GCS, which has none
        for batch in batches:
            if batch:
                FileSystems.rename([prefix + rel for rel in batch], [join(out, rel) for rel in batch])
    delete_tree(stage)
    return relative
