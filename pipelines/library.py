"""dumpmatch library: register dumps for reverification, list them, move them to a new key.

add NAME PATH...  record the files (globs expanded), their sizes and SHA-256, and how to read them
list              every registered dump: files, key, runs, last verdict, cache
rekey             after a key rotation: read every registered dump again under the new key (new
                  digest caches, library entries and a run each); see README, Reverification
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipelines import common, inputs, match, reverify
from transforms import library, registry, storage
from transforms.errors import InputError
from transforms.fields import parse_mapping
from transforms.read import expand_paths, inspect_inputs

PROG = "dumpmatch library"
ADD_EPILOG = """example:
  dumpmatch library add forum-a 'dumps/forum-a/*.csv.gz' --library library/ --columns email=Mail,name="Full Name"
  dumpmatch library add combo-7 gs://b/dumps/combo7.txt --library gs://b/library --format combo
"""
LIST_EPILOG = """example:
  dumpmatch library list --library library/
"""
REKEY_EPILOG = """example (after sketching the customer base under the new key with --versioned):
  dumpmatch library rekey --library library/ --bundle bundles/ --key-file new.key
"""
SHORT_FINGERPRINT = 8


def add_dump_options(parser: argparse.ArgumentParser) -> None:
    """Everything a registration records: how match reads and links the dump."""
    match.add_dump_options(parser)
    inputs.add_arguments(parser)


def dump_options(args: argparse.Namespace) -> dict[str, Any]:
    recorded = argparse.ArgumentParser(add_help=False)
    add_dump_options(recorded)
    return {action.dest: getattr(args, action.dest) for action in recorded._actions}


def add_parser() -> argparse.ArgumentParser:
    p = common.parser(f"{PROG} add", "Registers a dump for dumpmatch reverify.", ADD_EPILOG)
    p.add_argument("name", help="the dump's name: 1-64 of A-Z a-z 0-9 . _ -")
    p.add_argument("paths", nargs="+", metavar="PATH", help="its files or globs, local or gs://")
    p.add_argument("--library", required=True, metavar="DIR", help="library folder, local or gs://")
    p.add_argument("--replace", action="store_true", help="register a name again (its runs stay, its cache goes)")
    add_dump_options(p)
    return p


def list_parser() -> argparse.ArgumentParser:
    p = common.parser(f"{PROG} list", "Lists the registered dumps.", LIST_EPILOG)
    p.add_argument("--library", required=True, metavar="DIR", help="library folder, local or gs://")
    return p


def add(argv: Sequence[str]) -> dict[str, Any]:
    """Checks the files as match would read them, then records them; nothing is parsed or hashed with a key."""
    args = add_parser().parse_args(argv)
    registry.check_name(args.name)
    paths = [_absolute(path) for path in expand_paths(args.paths, f"{PROG} add")]
    mapping = parse_mapping(args.columns, "--columns")
    inspect_inputs(paths, mapping, f"{PROG} add", args.format, inputs.limits(args), args.table)
    described = registry.describe(paths)
    dropped = registry.register(args.library, args.name, described, dump_options(args), args.replace)
    if dropped:
        storage.delete_tree(dropped)
    total = sum(entry["size"] for entry in described)
    print(f"registered {args.name}: {len(described)} files, {total:,} bytes in {args.library}")
    return registry.registered(library.read_index(args.library))[args.name]


def list_dumps(argv: Sequence[str]) -> dict[str, Any]:
    args = list_parser().parse_args(argv)
    dumps = registry.registered(library.read_index(args.library))
    rows = [("NAME", "FILES", "BYTES", "KEY", "RUNS", "LAST RUN", "VERDICT", "CACHED")]
    for name, reg in sorted(dumps.items()):
        last = registry.latest_run(reg)
        verdict = (last or {}).get("verdict") or {}
        rows.append(
            (
                name,
                str(len(reg["inputs"])),
                f"{sum(entry['size'] for entry in reg['inputs']):,}",
                (reg["key_fingerprint"] or "-")[:SHORT_FINGERPRINT],
                str(len(reg["runs"])),
                last["id"] if last else "-",
                f"{verdict['label']} ({verdict['confidence']:g})" if verdict else "-",
                "yes" if reg.get("cache") else "no",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return dumps


def rekey(argv: Sequence[str]) -> common.Outcome:
    """reverify under a new key, reading every dump again; entries of unregistered dumps cannot follow."""
    parser = reverify.make_parser(f"{PROG} rekey", "Moves the registered dumps to a new key.", REKEY_EPILOG)
    args, beam_args = parser.parse_known_args(argv)
    options = common.beam_options(beam_args, f"{PROG} rekey")
    outcome = reverify.reverify(args, options, f"{PROG} rekey", rekey=True)
    index = library.read_index(args.library)
    fingerprints = {reg["key_fingerprint"] for reg in registry.registered(index).values()}
    stale = [e for e in index["entries"] if e["key_fingerprint"] not in fingerprints]
    if stale:
        print(
            f"{len(stale)} library entries remain under other keys: every comparison skips them "
            "(dumps that were never registered cannot be read again; register them, then rekey)"
        )
    return outcome


def _absolute(path: str) -> str:
    """A scheduler runs reverify from another folder: local paths are recorded absolute."""
    return path if FileSystems.get_scheme(path) else os.path.abspath(path)


SUBCOMMANDS = {"add": add, "list": list_dumps, "rekey": rekey}


def run(argv: Sequence[str] | None = None) -> Any:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SUBCOMMANDS:
        raise InputError(f"{PROG}: give one of {', '.join(SUBCOMMANDS)} (e.g. {PROG} add --help)")
    return SUBCOMMANDS[args[0]](args[1:])


def main() -> int:
    return common.entry(run)


if __name__ == "__main__":
    sys.exit(main())
