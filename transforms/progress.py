"""Progress of a run on this machine: the reading DoFn tallies bytes and rows, the launcher draws one line.

Why not Beam's own progress: the in-process FnApiRunner runs a bundle inside the runner's thread
(``EmbeddedWorkerHandler.push`` calls the SDK worker directly), so its ``ProgressRequester`` only starts
once the bundle is over, and a stage's metrics reach the runner when its bundle ends: for the read
stage, after the whole input. So ``ParseTaskFn`` also adds its counts to a small JSON file per worker
process, in a folder the launcher made (counts only, never a value), at most every FLUSH_SECONDS and
at the end of each bundle; a thread in the launcher sums the files and redraws the line. Files rather
than memory, so ``multi_processing`` workers (subprocesses) report too. On Dataflow there is no
folder: Beam's counters (namespace ``dumpmatch``) show on the job's page instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

FLUSH_SECONDS = 0.5
REDRAW_SECONDS = 0.5
CLEAR = "\x1b[K"  # erase to the end of the terminal line

_LOCK = threading.Lock()
_TOTALS: dict[str, list[int]] = {}  # folder → [bytes, rows] counted in this process
_FLUSHED: dict[str, float] = {}


class Tally:
    """A worker's side: adds counts; every process writes its running totals to ``folder/<pid>.json``."""

    def __init__(self, folder: str | None) -> None:
        self._folder = folder

    def add(self, size_bytes: int = 0, rows: int = 0) -> None:
        if not self._folder:
            return
        with _LOCK:
            totals = _TOTALS.setdefault(self._folder, [0, 0])
            totals[0] += size_bytes
            totals[1] += rows
            due = time.monotonic() - _FLUSHED.get(self._folder, 0.0) >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        if not self._folder:
            return
        with _LOCK:
            size_bytes, rows = _TOTALS.get(self._folder, [0, 0])
            _FLUSHED[self._folder] = time.monotonic()
            path = os.path.join(self._folder, f"{os.getpid()}.json")
            # OSError: the launcher already removed the folder, nobody is watching any more.
            with contextlib.suppress(OSError):
                with open(path + ".tmp", "w", encoding="ascii") as handle:
                    json.dump({"bytes": size_bytes, "rows": rows}, handle)
                os.replace(path + ".tmp", path)  # the launcher never reads half a file


@dataclass(frozen=True)
class Counts:
    size_bytes: int = 0
    rows: int = 0


def read_counts(folder: str) -> Counts:
    """Sums every worker process's tally."""
    size_bytes = rows = 0
    for name in os.listdir(folder):
        if name.endswith(".json"):
            try:
                with open(os.path.join(folder, name), encoding="ascii") as handle:
                    data = json.load(handle)
            except (OSError, ValueError):
                continue
            size_bytes += int(data.get("bytes", 0))
            rows += int(data.get("rows", 0))
    return Counts(size_bytes, rows)


def human_bytes(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def human_seconds(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def describe(prog: str, counts: Counts, total_bytes: int, elapsed: float, finished: bool = False) -> str:
    """One line: bytes read of the total, rows, rows per second, and time left (or taken). Before the first
    rows are counted (workers starting, the bundle loading, the input being planned: seconds on a big
    run), that it is starting, and how much it will read."""
    if not (finished or counts.rows or counts.size_bytes):
        return f"{prog}: starting" + (f", {human_bytes(total_bytes)} to read" if total_bytes else "")
    done = min(counts.size_bytes, total_bytes) if total_bytes else counts.size_bytes
    parts = [f"read {human_bytes(done)}" + (f" of {human_bytes(total_bytes)}" if total_bytes else "")]
    if total_bytes:
        parts[0] += f" ({done / total_bytes:.0%})"
    parts.append(f"{counts.rows:,} rows")
    rate = counts.rows / elapsed if elapsed > 0 else 0.0
    if finished:
        parts[-1] += f" in {human_seconds(elapsed)} ({rate:,.0f} rows/s)"
        return f"{prog}: " + ", ".join(parts)
    if counts.rows:
        parts.append(f"{rate:,.0f} rows/s")
    if total_bytes and done >= total_bytes:
        parts.append("finishing")
    elif total_bytes and done > 0:
        parts.append(f"about {human_seconds(elapsed * (total_bytes - done) / done)} left")
    return f"{prog}: " + ", ".join(parts)


class ProgressLine:
    """The launcher's side: while a pipeline runs here, redraws one line on ``stream`` (a terminal)."""

    def __init__(self, prog: str, total_bytes: int, stream: TextIO, redraw_seconds: float = REDRAW_SECONDS) -> None:
        self._prog = prog
        self._total = total_bytes
        self._stream = stream
        self._redraw = redraw_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dumpmatch-progress", daemon=True)
        self._started = 0.0
        self.folder = ""

    def __enter__(self) -> ProgressLine:
        self.folder = tempfile.mkdtemp(prefix="dumpmatch-progress-")
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._stop.set()
        self._thread.join()
        if exc_type is None:
            self._draw(finished=True)
            self._stream.write("\n")
        else:
            self._stream.write("\r" + CLEAR)  # the error message gets a clean line
        self._stream.flush()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._redraw):
            self._draw()

    def _draw(self, finished: bool = False) -> None:
        counts = read_counts(self.folder)
        text = describe(self._prog, counts, self._total, time.monotonic() - self._started, finished)
        self._stream.write("\r" + text + CLEAR)
        self._stream.flush()


@contextlib.contextmanager
def shown(prog: str, total_bytes: int, stream: TextIO, enabled: bool) -> Iterator[str | None]:
    """The progress folder for the reading DoFns while the line is drawn, or None when it is not."""
    if not enabled:
        yield None
        return
    with ProgressLine(prog, total_bytes, stream) as line:
        yield line.folder
