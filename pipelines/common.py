"""Wiring shared by the pipelines: argument parsing, the runner, the command entry."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from transforms.errors import InputError

DIRECT = ("DirectRunner", "direct", None)


class _Parser(argparse.ArgumentParser):
    """argparse that raises InputError (one line, exit 2) instead of printing usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{self.prog}: {message} (see {self.prog} --help)")


def parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    return _Parser(
        prog=prog, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def beam_options(beam_args: list[str], prog: str) -> PipelineOptions:
    """Beam options from the arguments we do not own; unknown ones stop the run."""
    options = PipelineOptions(beam_args)
    known = set(options.get_all_options(retain_unknown_options=False))
    for arg in beam_args:
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0].replace("-", "_")
            if name not in known:
                raise InputError(f"{prog}: unknown option --{name} (see {prog} --help)")
    return options


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """The DirectRunner means the in-process Python FnApiRunner: no runner binary is fetched."""
    runner_name = options.view_as(StandardOptions).runner
    if runner_name in DIRECT:
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=provision), options=options)
    return beam.Pipeline(options=options)


def quiet_logging() -> None:
    """Beam logs at INFO (and warns about optional GCP clients); users want errors only."""
    logging.getLogger().setLevel(logging.ERROR)


def entry(run: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> int:
    """Runs a pipeline command: exit 0 done, 2 bad input (one line), 1 unexpected failure."""
    quiet_logging()
    try:
        run(argv)
    except InputError as err:
        print(f"dumpmatch: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dumpmatch: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last resort: say what failed, keep the trace
        traceback.print_exc(file=sys.stderr)
        print(f"dumpmatch: unexpected failure: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0
