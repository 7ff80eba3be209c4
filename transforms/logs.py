"""Log hygiene: log records carry counts and names, never a customer's or a dump's values.

Beam's worker logs every element a Flatten or a combine receives at DEBUG ("Processing [...]"): dump
rows in dead letters, and whatever a future step flattens. Those records are dropped in every process
that imports this package (the launcher, and every worker that unpickles one of our DoFns), whatever
level is asked for. What remains goes through ``printable``, so a file name or header with a newline
or an ANSI escape in it can neither forge a log line nor hide one.
"""

from __future__ import annotations

import logging

ELEMENT_LOGGER = "apache_beam.runners.worker.operations"
ELEMENT_MESSAGE = "Processing ["
# What every Beam worker process warns of as it starts, forwarded by the launcher: registries and options of
# Beam's own that nothing here uses and no user can change.
WORKER_LOGGER = "apache_beam.runners.portability.local_job_service"
WORKER_START_NOTES = ("No semi_persistent_directory found", "Discarding unparseable args")


def printable(text: str) -> str:
    """Control and format characters (newlines, ANSI escapes, bidi overrides) as visible escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class ElementFilter(logging.Filter):
    """Drops Beam's per-element debug records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(ELEMENT_MESSAGE))


class WorkerStartFilter(logging.Filter):
    """Drops a worker process's start-up warnings (its forwarded entry is the record's argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        entries = record.args if isinstance(record.args, tuple) else ()
        return not any(note in str(entry) for entry in entries for note in WORKER_START_NOTES)


def drop_worker_start_notes() -> None:
    _filter_once(WORKER_LOGGER, WorkerStartFilter)


def drop_element_logs() -> None:
    _filter_once(ELEMENT_LOGGER, ElementFilter)


def _filter_once(name: str, kind: type[logging.Filter]) -> None:
    """Adds a ``kind`` filter to the logger unless it has one: every command configures logging again."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())
