"""The ``dumpmatch`` command: one subcommand per pipeline."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pipelines import common, demo, library, match, report, reverify, sketch

COMMANDS = {
    "sketch": sketch.run,
    "match": match.run,
    "demo": demo.run,
    "report": report.run,
    "library": library.run,
    "reverify": reverify.run,
}
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
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"dumpmatch: error: unknown command {args[0]!r}; use one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return common.entry(command, args[1:])


if __name__ == "__main__":
    sys.exit(main())
