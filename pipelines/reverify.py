"""dumpmatch reverify: rerun every registered dump of a library against a bundle and say what changed.

One Beam job. Per dump, match's own graph (``match.build``) reads the dump, or probes the dump's cached
keyed digests when its files are unchanged; its last step writes ``diff.json`` against the dump's
previous run and records the new run in the library index. Exit 0: nothing material changed; 3: something
did (each diff.json says what); 2: an error.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import common, match
from transforms import diff, digest_cache, library, registry, storage, versions
from transforms.combiners import SumStatsFn
from transforms.errors import InputError
from transforms.probe import DUMP

PROG = "dumpmatch reverify"
EPILOG = """example:
  dumpmatch library add forum-a 'dumps/forum-a/*.csv' --library library/ --columns email=Mail
  dumpmatch reverify --bundle bundles/ --library library/ --key-file dumpmatch.key
  dumpmatch reverify --bundle gs://b/bundles --library gs://b/library --key-file gs://b-secure/dumpmatch.key \\
      --only forum-a --min-delta-rows 100 \\
      --runner DataflowRunner --project P --region R --temp_location gs://b/tmp

exit status: 0 nothing material changed, 3 something did (see each dump's diff.json), 2 error
"""
LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    match.add_bundle_options(parser)
    parser.add_argument(
        "--library", required=True, metavar="DIR", help="library folder with registered dumps, local or gs://"
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="rerun only these registered dumps")
    parser.add_argument(
        "--min-delta-rows",
        type=int,
        default=diff.MIN_DELTA_ROWS,
        help="a field's matched rows, or the matched customers, change materially only when they move by at "
        f"least this many (default {diff.MIN_DELTA_ROWS}) ...",
    )
    parser.add_argument(
        "--min-delta-share",
        type=float,
        default=diff.MIN_DELTA_SHARE,
        help=f"... and by at least this share of the previous number (default {diff.MIN_DELTA_SHARE})",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="parse every dump again, neither probing nor writing its cached digests"
    )


def make_parser(prog: str = PROG, description: str = __doc__ or "", epilog: str = EPILOG) -> argparse.ArgumentParser:
    """The whole command line but Beam's options (``library rekey`` takes the same)."""
    p = common.parser(prog, description, epilog)
    add_arguments(p)
    return p


@dataclass(frozen=True)
class DumpPlan:
    """One registered dump's rerun, decided at launch."""

    name: str
    library: str
    run_id: str
    previous: str | None  # the previous run folder
    files: registry.FileStatus
    thresholds: diff.Thresholds
    inputs: list[dict[str, Any]]  # as registered
    job: match.Plan | None = None  # None: it cannot be rerun (``error`` says why)
    cache: tuple[str, dict[str, Any]] | None = None  # the digest cache it probes: folder, cache.json
    cache_out: str | None = None  # the digest cache it writes
    error: str | None = None

    @property
    def run(self) -> str:
        return storage.join(self.library, registry.run_folder(self.name, self.run_id))


def run(argv: Sequence[str] | None = None) -> common.Outcome:
    args, beam_args = make_parser().parse_known_args(argv)
    options = common.beam_options(beam_args, PROG)
    return reverify(args, options, PROG)


def reverify(args: argparse.Namespace, options: PipelineOptions, prog: str, rekey: bool = False) -> common.Outcome:
    """Reruns the chosen dumps in one job; ``rekey`` moves them to a new key (library rekey): every dump
    is read again from its files, which must be as registered."""
    if args.min_delta_rows < 0 or args.min_delta_share < 0:
        raise InputError(f"{prog}: --min-delta-rows and --min-delta-share must not be negative")
    target = match.target(args)
    chosen = _chosen(library.read_index(args.library), args.only, args.library)
    if not rekey:
        _refuse_other_keys(chosen, target.fingerprint, args.library)
    plans = [_plan(args, name, registration, target, rekey) for name, registration in chosen.items()]
    for plan in plans:
        if plan.job is None:
            assert plan.error is not None
            diff.write(plan.run, diff.unrunnable(plan.name, plan.previous, plan.run, plan.files, plan.error), None)
    runnable = [plan for plan in plans if plan.job is not None]
    if runnable:
        with contextlib.ExitStack() as stack:
            for plan in runnable:
                stack.enter_context(storage.cleaned_on_failure(_job(plan).stage))
                if plan.cache_out:
                    stack.enter_context(storage.cleaned_on_failure(storage.join(plan.cache_out, storage.STAGING)))
            pipeline = stack.enter_context(common.make_pipeline(options))
            for plan in runnable:
                _ = pipeline | f"Dump {plan.name}" >> Rerun(plan)
        if not common.finished_here(options, prog, args.library):
            return common.Outcome(common.DONE, {})
    return _summary(plans)


def _job(plan: DumpPlan) -> match.Plan:
    assert plan.job is not None
    return plan.job


def _chosen(index: dict[str, Any], only: list[str] | None, library_path: str) -> dict[str, dict[str, Any]]:
    dumps = registry.registered(index)
    if not dumps:
        raise InputError(f"library {library_path} has no registered dumps: add one with dumpmatch library add")
    unknown = sorted(set(only or ()) - set(dumps))
    if unknown:
        raise InputError(f"library {library_path}: no dump {', '.join(unknown)} is registered (dumpmatch library list)")
    return {name: dumps[name] for name in sorted(only or dumps)}


def _refuse_other_keys(chosen: dict[str, dict[str, Any]], fingerprint: str, library_path: str) -> None:
    """Runs, caches and library entries under another key would be compared with nothing in common."""
    other = sorted(name for name, reg in chosen.items() if reg["key_fingerprint"] not in (None, fingerprint))
    if other:
        first = chosen[other[0]]["key_fingerprint"]
        raise InputError(
            f"library {library_path}: {len(other)} dumps ({', '.join(other)}) were verified under key fingerprint "
            f"{first}, this key's is {fingerprint}: after a key rotation run dumpmatch library rekey first "
            "(README: Reverification)"
        )


def _plan(
    args: argparse.Namespace,
    name: str,
    registration: dict[str, Any],
    target: match.Target,
    rekey: bool,
) -> DumpPlan:
    """Probe the cache when it holds this key's digests of the registered bytes; else read the files (and
    cache them when they are as registered). Inputs gone with nothing cached: reported, not run."""
    last = registry.latest_run(registration)
    plan = DumpPlan(
        name=name,
        library=args.library,
        run_id=versions.new_version(),
        previous=storage.join(args.library, last["path"]) if last else None,
        files=registry.file_status(registration),
        thresholds=diff.Thresholds(args.min_delta_rows, args.min_delta_share),
        inputs=registration["inputs"],
    )
    match_args = _match_args(plan, registration, target)
    region = match_args.default_region or target.manifest.get("default_region")
    cache = None if args.no_cache or rekey else _valid_cache(args.library, registration, target.fingerprint, region)
    if rekey and not plan.files.intact:
        return dataclasses.replace(
            plan, error="its files changed or vanished since registration: register it again, then rekey"
        )
    if cache is None and plan.files.missing:
        return dataclasses.replace(plan, error="input files are missing and no digest cache under this key holds them")
    try:
        job = match.plan(match_args, [digest_cache.spec_from_json(s) for s in cache[1]["specs"]] if cache else None)
    except InputError as err:
        return dataclasses.replace(plan, error=str(err))
    entry = registry.entry_id(name, registration, target.fingerprint) if cache or plan.files.intact else None
    if cache:
        checksums: dict[str, str] | None = {i["path"]: i["sha256"] for i in cache[1]["inputs"]}
    else:
        checksums = plan.files.checksums if plan.files.intact else None
    job = dataclasses.replace(
        job,
        library_entry=entry,
        library_exclude=tuple(registration["library_entries"]) + ((entry,) if entry else ()),
        checksums=checksums,
        extra={"reverify": {"dump": name, "digest_cache": cache[0] if cache else None}},
    )
    cache_out = None
    if cache is None and plan.files.intact and not args.no_cache:
        cache_out = storage.join(args.library, registry.cache_folder(name, plan.run_id))
    return dataclasses.replace(plan, job=job, cache=cache, cache_out=cache_out)


def _match_args(plan: DumpPlan, registration: dict[str, Any], target: match.Target) -> argparse.Namespace:
    """The match command line this dump was registered with, writing into its new run folder."""
    paths = [entry["path"] for entry in registration["inputs"]]
    argv = ["--bundle", target.bundle, "--dump", *paths, "--out", plan.run, "--key-file", target.key_path]
    args = match.make_parser().parse_args([*argv, "--library", plan.library, "--library-label", f"dump {plan.name}"])
    for dest, value in registration["options"].items():
        if not hasattr(args, dest):
            raise InputError(f"library {plan.library}: dump {plan.name} was registered with an unknown option {dest}")
        setattr(args, dest, value)
    return args


def _valid_cache(
    library_path: str, registration: dict[str, Any], fingerprint: str, region: str | None
) -> tuple[str, dict[str, Any]] | None:
    entry = registration.get("cache")
    if not entry:
        return None
    folder = storage.join(library_path, entry["path"])
    data = digest_cache.read_meta(folder)
    if data is None or not digest_cache.valid_for(data, fingerprint, region, registration["inputs"]):
        return None
    return folder, data


class Rerun(beam.PTransform):
    """One dump: match's graph (on its cached digests or its files), then diff.json and the index."""

    def __init__(self, plan: DumpPlan) -> None:
        super().__init__()
        self._plan = plan

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        plan = self._plan
        source = None
        if plan.cache:
            source = match.Source(*(pbegin | "ReadCache" >> digest_cache.ReadDigestCache(*plan.cache)))
        built = match.build(pbegin, _job(plan), source)
        cache_side: dict[str, Any] = {}
        if plan.cache_out:
            stage = storage.join(plan.cache_out, storage.STAGING)
            parts = built.source.digests | "WriteCache" >> digest_cache.WriteDigestCache(stage)
            read_stats = built.source.stats | "SumRead" >> beam.CombineGlobally(SumStatsFn())
            cache_side = {
                "parts": beam.pvalue.AsList(parts),
                "read_stats": beam.pvalue.AsSingleton(read_stats),
                "minhashes": beam.pvalue.AsDict(built.dump_minhash),
                "distinct": beam.pvalue.AsDict(built.distinct),
            }
        return (
            pbegin
            | "DiffSeed" >> beam.Create([None])
            | "Diff" >> beam.Map(_finish, plan, beam.pvalue.AsSingleton(built.published), **cache_side)
        )


def _finish(
    _: None,
    plan: DumpPlan,
    _published: str,
    parts: list[str] | None = None,
    read_stats: dict[str, Any] | None = None,
    minhashes: dict[str, Any] | None = None,
    distinct: dict[tuple[str, str], Any] | None = None,
) -> str:
    """The dump's last step, after its run folder is complete: publish the new cache, write diff.json
    against the previous run, record the run (and cache) in the index, delete caches no longer named."""
    job = _job(plan)
    cache_entry = None
    if plan.cache_out:
        cache_entry = _publish_cache(plan, parts or [], read_stats or {}, minhashes or {}, distinct or {})
    current = diff.read_run(plan.run)
    previous = diff.read_run(plan.previous) if plan.previous else None
    result, changes = diff.compare(plan.name, previous, current, plan.files, plan.thresholds, plan.cache is not None)
    path = diff.write(plan.run, result, changes)
    record = {
        "id": plan.run_id,
        "path": registry.run_folder(plan.name, plan.run_id),
        "diff": f"{registry.run_folder(plan.name, plan.run_id)}/{diff.DIFF}",
        "bundle": diff.bundle_of(current),
        "cached": plan.cache is not None,
        "verdict": result["verdict"]["current"],
        "material": result["material"],
    }
    orphans = registry.record_run(plan.library, plan.name, record, job.fingerprint, job.library_entry, cache_entry)
    for folder in orphans:
        storage.delete_tree(folder)
    level = logging.WARNING if result["material"] else logging.INFO
    LOG.log(level, "%s: dump %s: %s", PROG, plan.name, _headline(result))
    return path


def _publish_cache(
    plan: DumpPlan,
    parts: list[str],
    read_stats: dict[str, Any],
    minhashes: dict[str, Any],
    distinct: dict[tuple[str, str], Any],
) -> dict[str, Any]:
    """cache.json goes last, so a cache folder without it is no cache."""
    job = _job(plan)
    assert plan.cache_out is not None
    stage = storage.join(plan.cache_out, storage.STAGING)
    dead = [m.path for m in storage.match(storage.join(plan.run, match.DEAD_LETTER, "*.parquet"))]
    dump_distinct = {field: hll for (kind, field), hll in distinct.items() if kind == DUMP}
    files = digest_cache.write_sketches(stage, job.fingerprint, minhashes, dump_distinct)
    data = digest_cache.meta(job.fingerprint, job.region, plan.inputs, job.specs, read_stats, parts, dead, files)
    storage.write_json(storage.join(stage, digest_cache.META), data)
    storage.publish(stage, plan.cache_out, last=digest_cache.META)
    return {
        "path": registry.cache_folder(plan.name, plan.run_id),
        "key_fingerprint": job.fingerprint,
        "default_region": job.region,
        "tool_version": data["tool_version"],
    }


def _headline(result: dict[str, Any]) -> str:
    """One line of counts and labels (never a value from the dump or the base)."""
    state = "material change" if result["material"] else "nothing material"  # alerts match "material change"
    return f"{state}: {'; '.join(result['reasons']) or 'nothing changed'}"


def _summary(plans: list[DumpPlan]) -> common.Outcome:
    """Prints one line per dump, then: 2 if a run's inputs failed their checks, 3 if anything material."""
    diffs, errors = {}, []
    for plan in plans:
        path = storage.join(plan.run, diff.DIFF)
        diffs[plan.name] = storage.read_json(path)
        print(f"{plan.name}: {_headline(diffs[plan.name])} ({path})")
        if plan.job is not None:
            try:
                match.finish(plan.job)
            except InputError as err:
                errors.append(f"{plan.name}: {err}")
    if errors:
        raise InputError("; ".join(errors))
    material = any(d["material"] for d in diffs.values())
    return common.Outcome(common.CHANGED if material else common.DONE, diffs)


def main() -> int:
    return common.entry(run)


if __name__ == "__main__":
    sys.exit(main())
