"""The ``dumpmatch`` command: one subcommand per pipeline."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# Each is the module pipelines.<command>, whose run() takes the rest of the command line. A command's module
# is imported only when it runs: Beam and pyarrow take over a second to import, which the usage (and a
# mistyped command) need not wait for.
COMMANDS = ("sketch", "match", "demo", "report", "library", "reverify")
USAGE = """usage: dumpmatch {sketch,match,demo,report,library,reverify} [options]

  sketch   build a key-protected bundle from your customer base
  match    check dump files against a bundle and write a run folder
  demo     generate sample data, then sketch and match it
  report   render a run's report.json (or a reverify diff.json) as an HTML page again
  library  register dumps for reverification (add, list), move them to a new key (rekey)
  reverify rerun every registered dump against a bundle; exit 3 when something material changed

'dumpmatch <command> --help' explains each option with an example."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] not in COMMANDS:
        print(f"dumpmatch: error: unknown command {args[0]!r}; use one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    from pipelines import common

    return common.entry(importlib.import_module(f"pipelines.{args[0]}").run, args[1:])


if __name__ == "__main__":
    sys.exit(main())
