"""Options every pipeline that reads files shares: format, limits, what to accept."""

from __future__ import annotations

import argparse

from transforms import decode, delimited
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
        default=delimited.MAX_QUOTED_LINES,
        help="CSV: most lines one quoted field may span; past it the opening quote is taken as stray and only "
        f"its line is dead-lettered (default {delimited.MAX_QUOTED_LINES})",
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


def limits(args: argparse.Namespace) -> decode.Limits:
    return decode.Limits(max_ratio=args.max_compression_ratio, max_bytes=args.max_decompressed_bytes)
