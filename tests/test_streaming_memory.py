"""Single-document formats (JSON arrays, MySQL and PostgreSQL dumps) are read with bounded memory.

Each case writes a gzipped dump of ~8 MB and one ten times larger (over 80 MiB uncompressed),
reads each in a child process with the real planner and parser (the whole input streamed by one
reader, as for every compressed input), and compares the children's peak RSS: reading the whole
dump at once would need well over the larger file's size more.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BLOCK_ROWS = 2_000
LARGE_BYTES = 80 << 20
# Allowed peak-RSS growth from the small dump to the large one. Reading either dump whole would add more
# than the 70+ MB between them; what does grow is the allocators' arenas, up to a plateau reached by
# ~100 MB (a 240 MB one-INSERT dump peaks 6 MiB above a 119 MB one).
MAX_GROWTH_MIB = 64

CHILD = """
import json, resource, sys
from transforms.read import ParseTaskFn, PlanTasksFn, inspect_inputs

(spec,) = inspect_inputs([sys.argv[1]], {}, "--dump")
parse = ParseTaskFn(batch_rows=65536, range_bytes=4 << 20)
parse.setup()
rows = dead = 0
for task in PlanTasksFn(4 << 20).process(spec):
    for out in parse.process(task):
        tag = getattr(out, "tag", None)
        if tag is None:
            rows += out.num_rows
        elif tag == ParseTaskFn.DEAD:
            dead += out.value.num_rows
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"format": spec.format, "rows": rows, "dead": dead, "peak_mib": peak}))
"""


def _json(rows: int) -> Iterator[bytes]:
    yield b"[\n"
    for first in range(0, rows, BLOCK_ROWS):
        items = (
            b'  {"email": "u%d@example.com", "name": "Name %d", "city": "Somewhere"}' % (i, i)
            for i in range(first, min(first + BLOCK_ROWS, rows))
        )
        yield (b",\n" if first else b"") + b",\n".join(items)
    yield b"\n]\n"


def _mysql(rows: int) -> Iterator[bytes]:
    yield b"CREATE TABLE `users` (\n  `id` int,\n  `email` varchar(255),\n  `name` varchar(255)\n);\n"
    for first in range(0, rows, BLOCK_ROWS):
        tuples = (b"(%d,'u%d@example.com','O\\'Name %d')" % (i, i, i) for i in range(first, first + BLOCK_ROWS))
        yield b"INSERT INTO `users` VALUES " + b",".join(tuples) + b";\n"


def _mysql_one_insert(rows: int) -> Iterator[bytes]:
    """Every row in one INSERT statement, as some exporters write a table: it is cut between tuples."""
    yield b"CREATE TABLE `users` (\n  `id` int,\n  `email` varchar(255),\n  `name` varchar(255)\n);\n"
    yield b"INSERT INTO `users` VALUES "
    for first in range(0, rows, BLOCK_ROWS):
        tuples = (b"(%d,'u%d@example.com','O\\'Name %d')" % (i, i, i) for i in range(first, first + BLOCK_ROWS))
        yield (b"," if first else b"") + b",".join(tuples)
    yield b";\n"


def _pgdump(rows: int) -> Iterator[bytes]:
    yield b"COPY public.users (id, email, name) FROM stdin;\n"
    for first in range(0, rows, BLOCK_ROWS):
        yield b"".join(b"%d\tu%d@example.com\tName %d\n" % (i, i, i) for i in range(first, first + BLOCK_ROWS))
    yield b"\\.\n"


def _write_gzip(path: Path, chunks: Iterator[bytes]) -> int:
    """Writes the chunks gzipped; returns the uncompressed size."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    size = 0
    with path.open("wb") as handle:
        for chunk in chunks:
            size += len(chunk)
            handle.write(packer.compress(chunk))
        handle.write(packer.flush())
    return size


def _read_in_child(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("fmt", "generate", "large_rows"),
    [
        ("json", _json, 1_200_000),
        ("mysql", _mysql, 2_400_000),
        ("mysql", _mysql_one_insert, 2_400_000),
        ("pgdump", _pgdump, 2_600_000),
    ],
)
def test_peak_memory_does_not_grow_with_the_dump(
    tmp_path: Path, fmt: str, generate: Callable[[int], Iterator[bytes]], large_rows: int
) -> None:
    peaks, sizes = [], []
    for rows in (large_rows // 10, large_rows):
        path = tmp_path / f"{rows}.{fmt}.gz"
        sizes.append(_write_gzip(path, generate(rows)))
        result = _read_in_child(path)
        assert result == {"format": fmt, "rows": rows, "dead": 0, "peak_mib": result["peak_mib"]}
        peaks.append(result["peak_mib"])
        path.unlink()
    assert sizes[1] > LARGE_BYTES
    assert peaks[1] - peaks[0] < MAX_GROWTH_MIB, f"{fmt}: peak {peaks} MiB for {sizes} bytes"
    print(f"{fmt}: peak RSS {peaks[0]:.0f} MiB for {sizes[0]:,} bytes, {peaks[1]:.0f} MiB for {sizes[1]:,} bytes")
