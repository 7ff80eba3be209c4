"""Every path goes through Beam FileSystems, so gs:// works like a local folder."""

from __future__ import annotations

import io
import json
import posixpath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems


def join(base: str, *parts: str) -> str:
    """Joins path parts for local or remote paths."""
    return FileSystems.join(base.rstrip("/"), *parts)


def basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/"))


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def size(path: str) -> int:
    """Size in bytes; FileNotFoundError when missing."""
    matches = FileSystems.match([path])[0].metadata_list
    if not matches:
        raise FileNotFoundError(path)
    return matches[0].size_in_bytes


def open_raw(path: str) -> Any:
    """Opens a file for reading without decompression (seekable for local and GCS)."""
    try:
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    except OSError as err:
        if not FileSystems.exists(path):
            raise FileNotFoundError(path) from err
        raise


def read_bytes(path: str) -> bytes:
    with open_raw(path) as handle:
        return handle.read()


def write_bytes(path: str, data: bytes) -> None:
    """Writes a whole file (Beam's local filesystem creates parent folders)."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(data)


def write_json(path: str, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def read_json(path: str) -> Any:
    return json.loads(read_bytes(path))


def write_parquet(path: str, table: pa.Table) -> None:
    """Writes a Parquet file deterministically (no creation timestamps in data)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    write_bytes(path, sink.getvalue())


def read_parquet(path: str) -> pa.Table:
    with open_raw(path) as handle:
        return pq.read_table(io.BytesIO(handle.read()))


def delete_tree(path: str) -> None:
    """Removes a folder and everything below it, if it exists."""
    if FileSystems.exists(path):
        FileSystems.delete([path])
