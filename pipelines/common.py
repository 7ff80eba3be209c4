"""Wiring shared by the pipelines: argument parsing, the runner, the command entry."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    TestOptions,
    WorkerOptions,
)
from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
from apache_beam.runners.runner import PipelineRunner, create_runner

from transforms import progress as progress_line
from transforms.errors import InputError
from transforms.logs import WORKER_LOGGER, drop_worker_start_notes, printable
from transforms.read import RANGE_BYTES, InputSpec

DIRECT = ("DirectRunner", "direct", None)
# Only a source checkout (an editable install) has it; an installed copy has no setup.py beside it.
SETUP_PY = Path(__file__).resolve().parent.parent / "setup.py"
DATAFLOW_HELP = "see dataflow/README.md"
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Parser(argparse.ArgumentParser):
    """argparse that raises InputError (one line, exit 2) instead of printing usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{self.prog}: {message} (see {self.prog} --help)")


class _LogLevel(argparse.Action):
    """Applies ``--log-level`` as soon as it is parsed, so every command has it without code of its own."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any, _: Any = None
    ) -> None:
        setattr(namespace, self.dest, value)
        configure_logging(LOG_LEVELS[value])


def parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    made = _Parser(
        prog=prog, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    made.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        action=_LogLevel,
        help="log to stderr from this level on (default error); logs carry counts and names, never values",
    )
    return made


def beam_options(beam_args: list[str], prog: str) -> PipelineOptions:
    """Beam options from the arguments we do not own; unknown ones, or a runner missing what it needs,
    stop the run here, before any input is read."""
    options = PipelineOptions(beam_args)
    known = set(options.get_all_options(retain_unknown_options=False))
    for arg in beam_args:
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0].replace("-", "_")
            if name not in known:
                raise InputError(f"{prog}: unknown option --{name} (see {prog} --help)")
    check_runner(options, prog)
    return options


SPREAD_MIN_BYTES = 128 << 20  # below this, a run ends sooner in this process than worker processes start
WORKER_BASE_BYTES = 300 << 20  # a worker process before it loads anything: Python, Beam, pyarrow, batches
MEMORY_SHARE = 0.7  # of the memory available at launch, what worker processes may take together
_DIRECT_CHOICES = ("--direct_num_workers", "--direct_running_mode")


def spread(
    options: PipelineOptions,
    beam_args: list[str],
    specs: list[InputSpec],
    worker_bytes: int,
    prog: str,
    launcher_bytes: int = 0,
) -> PipelineOptions:
    """On this machine, when neither direct option is given, an input large enough to cut into many tasks
    runs in one worker process per core, as many as memory holds at ``worker_bytes`` each beyond a bare
    worker, once this process has grown by ``launcher_bytes``: 5M dump rows on 2 cores take 30 s instead
    of 47 (BENCHMARKS.md). Small inputs, or a single compressed stream (one task), stay in this process."""
    if options.view_as(StandardOptions).runner not in DIRECT or any(a.startswith(_DIRECT_CHOICES) for a in beam_args):
        return options
    tasks = sum(-(-spec.size // RANGE_BYTES) if spec.splittable or spec.format == "parquet" else 1 for spec in specs)
    fit = max(int(_available_memory() * MEMORY_SHARE) - launcher_bytes, 0) // (WORKER_BASE_BYTES + worker_bytes)
    workers = min(_cores(), tasks, fit)
    if sum(spec.size for spec in specs) < SPREAD_MIN_BYTES or workers < 2:
        return options
    logging.getLogger(__name__).info(
        "%s: %d worker processes (--direct_num_workers 1: one, in this process)", prog, workers
    )
    return PipelineOptions(
        [*beam_args, "--direct_num_workers", str(workers), "--direct_running_mode", "multi_processing"]
    )


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _available_memory() -> int:
    """Bytes of memory available to new processes now (Linux's MemAvailable), else half of all memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (OSError, ValueError):
        return 0


def check_runner(options: PipelineOptions, prog: str) -> None:
    """Dataflow needs a project, a region and a gs:// temp or staging location, and its workers need this
    package. Beam finds out only after our inputs were read, and without a location it first tries to
    create a default bucket over the network; we say what is missing in one line instead."""
    name = options.view_as(StandardOptions).runner
    if name in DIRECT:
        return
    try:
        runner = create_runner(name)
    except (ValueError, ImportError):
        raise InputError(f"{prog}: unknown runner {name!r}: use DirectRunner (default) or DataflowRunner") from None
    from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner

    if isinstance(runner, DataflowRunner):
        _check_dataflow(options, runner, prog)
        _ship_package(options, prog)


def _check_dataflow(options: PipelineOptions, runner: PipelineRunner, prog: str) -> None:
    cloud = options.view_as(GoogleCloudOptions)
    validator = PipelineOptionsValidator(options, runner)
    problems = [f"no --{name}" for name in ("project", "region") if not getattr(cloud, name)]
    locations = [name for name in ("temp_location", "staging_location") if getattr(cloud, name)]
    if not locations:
        problems.append("no --temp_location")
    problems += [
        f"--{name} {getattr(cloud, name)} is not gs://BUCKET/PATH"
        for name in locations
        if validator.validate_gcs_path(cloud, name)
    ]
    if problems:
        raise InputError(
            f"{prog}: DataflowRunner needs --project P --region R --temp_location gs://BUCKET/PATH: "
            f"{'; '.join(problems)} ({DATAFLOW_HELP})"
        )


def _ship_package(options: PipelineOptions, prog: str) -> None:
    """Workers unpickle our DoFns, so they must import this package: from the image built by Dockerfile,
    from a package the user names, or else from our setup.py, which Beam builds into an sdist at launch."""
    setup = options.view_as(SetupOptions)
    if (
        options.view_as(WorkerOptions).sdk_container_image
        or setup.setup_file
        or setup.requirements_file
        or setup.extra_packages
    ):
        return
    if not SETUP_PY.is_file():
        raise InputError(
            f"{prog}: Dataflow workers need the dumpmatch package: pass --sdk_container_image with the image "
            f"built from Dockerfile, or --setup_file with dumpmatch's setup.py ({DATAFLOW_HELP})"
        )
    setup.setup_file = str(SETUP_PY)


def finished_here(options: PipelineOptions, prog: str, stage: str) -> bool:
    """True when the job ran to its end before the pipeline's ``with`` block closed, so its outputs can be
    published now. A remote runner's dry run, flex-template launch (--template_location) or
    --no_wait_until_finish only describes or submits the job; its outputs stay staged."""
    if options.view_as(StandardOptions).runner in DIRECT or not (
        options.view_as(TestOptions).dry_run
        or options.view_as(GoogleCloudOptions).template_location
        or options.view_as(StandardOptions).no_wait_until_finish
    ):
        return True
    print(f"{prog}: job described or submitted, not run here: its outputs stay under {stage}", file=sys.stderr)
    return False


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


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (tests swap it), one escaped line per record."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except (OSError, ValueError):
            self.handleError(record)


# Beam's INFO records of its own plumbing on this machine: ports opened, each worker process's harness
# starting and stopping, its state cache (some 40 lines a run with worker processes).
BEAM_PLUMBING = (
    "apache_beam.runners.portability.fn_api_runner.worker_handlers",
    WORKER_LOGGER,
    "apache_beam.runners.worker.statecache",
)
# Beam notes every string annotation it reads as Any: ours all are (``from __future__ import annotations``).
BEAM_TYPE_HINTS = "apache_beam.typehints.native_type_compatibility"


def configure_logging(level: int) -> None:
    """Beam logs at INFO (and warns about optional GCP clients); users want errors only unless they ask.
    ``info`` is what dumpmatch says (inputs, workers) and what Beam says of the job, not Beam's plumbing,
    which only ``debug`` adds; Beam's note on each type hint it reads as Any is never shown (over 100
    lines a run). Every record goes through one handler that keeps it on one line; without one, Python's
    last-resort handler would print messages unescaped."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_OneLineFormatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    for name in BEAM_PLUMBING:
        logging.getLogger(name).setLevel(logging.NOTSET if level <= logging.DEBUG else max(level, logging.WARNING))
    logging.getLogger(BEAM_TYPE_HINTS).setLevel(max(level, logging.WARNING))
    drop_worker_start_notes()


def progress(
    options: PipelineOptions, quiet: bool, prog: str, total_bytes: int
) -> contextlib.AbstractContextManager[str | None]:
    """A progress line on stderr while the pipeline runs in this process, only on a terminal and without
    --quiet; yields the folder the reading DoFns tally into, or None (see transforms/progress.py)."""
    enabled = options.view_as(StandardOptions).runner in DIRECT and not quiet and sys.stderr.isatty()
    return progress_line.shown(prog, total_bytes, sys.stderr, enabled)


def quiet_logging() -> None:
    configure_logging(logging.ERROR)


DONE, FAILED, INPUT_ERROR, CHANGED = 0, 1, 2, 3
INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C (128 + SIGINT)


@dataclass(frozen=True)
class Outcome:
    """A command's result when its exit code says more than "done": reverify exits CHANGED (3) when
    something material changed, so a scheduler can alert on it."""

    exit_code: int
    result: Any


@contextlib.contextmanager
def _ctrl_c() -> Iterator[threading.Event]:
    """Ctrl-C stops a run with one line. Beam re-raises a KeyboardInterrupt from a DoFn as a RuntimeError,
    and its threads that lose their worker processes log and print tracebacks; once the user has asked
    to stop, those are noise, so the handler silences them and the event tells what the error was."""
    pressed = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        pressed.set()
        logging.disable(logging.CRITICAL)
        threading.excepthook = lambda args: None
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield pressed
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def entry(run: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> int:
    """Runs a pipeline command: exit 0 done (or the command's Outcome), 2 bad input (one line), 1
    unexpected failure, 130 stopped by Ctrl-C."""
    quiet_logging()
    with _ctrl_c() as pressed:
        try:
            result = run(argv)
        except InputError as err:
            print(f"dumpmatch: error: {printable(str(err))}", file=sys.stderr)
            return INPUT_ERROR
        except KeyboardInterrupt:
            pressed.set()
        except Exception as err:  # noqa: BLE001 - the last resort: say what failed, keep the trace
            if not pressed.is_set():
                for line in traceback.format_exc().splitlines():
                    print(printable(line), file=sys.stderr)
                print(f"dumpmatch: unexpected failure: {type(err).__name__}: {printable(str(err))}", file=sys.stderr)
                return FAILED
        else:
            return result.exit_code if isinstance(result, Outcome) else DONE
    print("dumpmatch: interrupted", file=sys.stderr)
    return INTERRUPTED
