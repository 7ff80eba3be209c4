"""Options every pipeline that reads files shares: format, limits, what to accept."""

from __future__ import annotations

import argparse

from transforms import decode
from transforms.errors import InputError
from transforms.formats import FORMAT_NAMES
from transforms.read import DEFAULT_LIMITS

MAX_DEAD_LETTER_FRACTION = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        default="auto",
        choices=FORMAT_NAMES,
        help="input format (default: detected from content, not the extension)",
    )
    parser.add_argument(
        "--table",
        metavar="NAME",
        help="for SQL dumps holding several tables: the one to read (default: the one with most rows)",
    )
    parser.add_argument(
        "--allow-truncated",
        action="store_true",
        help="accept a cut-off or corrupt compressed input (reported in report.json) instead of failing",
    )
    parser.add_argument(
        "--max-dead-letter-fraction",
        type=float,
        default=MAX_DEAD_LETTER_FRACTION,
        help=f"fail when more than this share of an input's rows cannot be parsed (default {MAX_DEAD_LETTER_FRACTION})",
    )
    parser.add_argument(
        "--max-quoted-lines",
        type=int,
        default=DEFAULT_LIMITS.max_quoted_lines,
        help="CSV: most lines one quoted field may span; past it the opening quote is taken as stray and only "
        f"its line is dead-lettered (default {DEFAULT_LIMITS.max_quoted_lines})",
    )
    parser.add_argument(
        "--max-compression-ratio",
        type=float,
        default=DEFAULT_LIMITS.max_ratio,
        help=f"stop decompressing an input past this output/input ratio (default {DEFAULT_LIMITS.max_ratio:g})",
    )
    parser.add_argument(
        "--max-decompressed-bytes",
        type=int,
        default=DEFAULT_LIMITS.max_bytes,
        help=f"stop decompressing an input past this many bytes (default {DEFAULT_LIMITS.max_bytes})",
    )
    parser.add_argument(
        "--max-record-bytes",
        type=int,
        default=DEFAULT_LIMITS.max_record_bytes,
        help="dead-letter a CSV, JSON-lines or combo-list record longer than this, unread "
        f"(default {DEFAULT_LIMITS.max_record_bytes})",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress line on stderr (it is shown only on a terminal anyway)"
    )


def limits(args: argparse.Namespace) -> decode.Limits:
    if args.max_record_bytes < 1:
        raise InputError(f"--max-record-bytes {args.max_record_bytes}: give at least 1")
    if args.max_quoted_lines < 1:
        raise InputError(f"--max-quoted-lines {args.max_quoted_lines}: give at least 1")
    return decode.Limits(
        max_ratio=args.max_compression_ratio,
        max_bytes=args.max_decompressed_bytes,
        max_record_bytes=args.max_record_bytes,
        max_quoted_lines=args.max_quoted_lines,
    )
