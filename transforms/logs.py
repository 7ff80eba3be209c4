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


def printable(text: str) -> str:
    """Control and format characters (newlines, ANSI escapes, bidi overrides) as visible escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class ElementFilter(logging.Filter):
    """Drops Beam's per-element debug records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(ELEMENT_MESSAGE))


def drop_element_logs() -> None:
    logger = logging.getLogger(ELEMENT_LOGGER)
    if not any(isinstance(f, ElementFilter) for f in logger.filters):
        logger.addFilter(ElementFilter())
