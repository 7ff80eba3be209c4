"""The flex-template launcher: Dataflow runs ``dataflow/main.py --name=value ...``, one pair per parameter.

Parameters are named like argparse destinations (``key_file`` for ``--key-file``), as
``dataflow/metadata.json`` lists them, and ``command`` picks the pipeline. Anything else, Beam's options
included (``--temp_location``, ``--sdk_container_image``, ``--template_location``), passes through.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pipelines import common, match, reverify, sketch
from transforms.errors import InputError

Run = Callable[[Sequence[str] | None], Any]
COMMANDS: dict[str, tuple[Run, Callable[[], argparse.ArgumentParser]]] = {
    "sketch": (sketch.run, sketch.make_parser),
    "match": (match.run, match.make_parser),
    "reverify": (reverify.run, reverify.make_parser),
}
SWITCH_VALUES = {"true": True, "false": False}


def command_line(argv: Sequence[str]) -> tuple[str, list[str]]:
    """``--command=match --key_file=K --allow_truncated=true`` →
    ``("match", ["--key-file=K", "--allow-truncated"])``; other arguments unchanged."""
    commands = [arg.partition("=")[2] for arg in argv if arg.partition("=")[0] == "--command"]
    if len(commands) != 1 or commands[0] not in COMMANDS:
        raise InputError(f"flex template: give the parameter command once, as one of {', '.join(COMMANDS)}")
    command = commands[0]
    ours = {a.dest: a for a in COMMANDS[command][1]()._actions if a.option_strings and a.dest != "help"}
    translated: list[str] = []
    for arg in argv:
        name, equals, value = arg.partition("=")
        if name == "--command":
            continue
        action = ours.get(name[2:]) if name.startswith("--") and equals else None
        if action is None:
            translated.append(arg)
        elif action.nargs == 0:
            if value.lower() not in SWITCH_VALUES:
                raise InputError(f"flex template: parameter {action.dest} must be true or false, not {value!r}")
            translated += [action.option_strings[0]] if SWITCH_VALUES[value.lower()] else []
        else:
            translated.append(f"{action.option_strings[0]}={value}")
    return command, translated


def run(argv: Sequence[str] | None = None) -> Any:
    command, args = command_line(sys.argv[1:] if argv is None else argv)
    return COMMANDS[command][0](args)


def main(argv: Sequence[str] | None = None) -> int:
    return common.entry(run, argv)
