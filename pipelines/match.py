"""dumpmatch match: dump files × bundle → run folder (report, candidates, dead letters, manifest)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import apache_beam as beam
from datasketch import MinHash

from pipelines import common, inputs
from transforms import (
    __version__,
    bundle,
    fuzzy,
    fuzzy_index,
    fuzzy_probe,
    hashing,
    html_report,
    library,
    storage,
    verdict,
    versions,
)
from transforms.combiners import CustomersNamedFn, HllCombineFn, MinHashCombineFn, SumStatsFn
from transforms.errors import InputError
from transforms.fields import parse_mapping
from transforms.outputs import WriteTables
from transforms.prepare import Prepare
from transforms.probe import CANDIDATE_SCHEMA, DUMP, POSTING_CAP, ProbeFn
from transforms.read import DEAD_LETTER_SCHEMA, InputSpec, ReadRecords, inspect_inputs
from transforms.report import REPORT, REPORT_HTML, build_report, check_inputs
from transforms.samples import DEFAULT_SAMPLES, SampleRows

PROG = "dumpmatch match"
RUN_FORMAT = "dumpmatch-run"
MANIFEST = "manifest.json"
CANDIDATES = "candidates"
DEAD_LETTER = "dead_letter"
CANDIDATE_ORDER = ["source_file", "line", "match_type", "customer_id"]
CSV_FILES = (f"{CANDIDATES}.csv", f"{DEAD_LETTER}.csv")
EPILOG = """example:
  dumpmatch match --bundle bundle/ --dump sample.csv --out runs/sample --key-file dumpmatch.key
  dumpmatch match --bundle gs://b/bundle --dump 'gs://b/dump/*.csv' --out gs://b/runs/1 \\
      --key-file gs://b/secret.key --columns email=Mail,name="Full Name" \\
      --runner DataflowRunner --project P --region R --temp_location gs://b/tmp
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Our own options, kept out of Beam's global PipelineOptions registry (see ARCHITECTURE.md)."""
    add_bundle_options(parser)
    parser.add_argument(
        "--dump",
        nargs="+",
        required=True,
        metavar="PATH",
        help="dump files or globs, local or gs://: CSV/TSV, JSON lines or array, combo list, MySQL or "
        "PostgreSQL dump, Parquet; .gz/.bz2/.zst/.zip",
    )
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder to write, local or gs://")
    add_dump_options(parser)
    parser.add_argument(
        "--no-index",
        action="store_true",
        help="use only the bundle's sketches (as a partner holding a --sketch-only bundle would): estimates, "
        "no candidates",
    )
    parser.add_argument(
        "--fuzzy",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also link rows fuzzily (typos, swapped or missing parts in name, street, city, postcode, dob) "
        "on the bundle's keyed encodings: one candidate per row with match_type fuzzy, counted apart "
        "(default: on when the bundle was sketched with --fuzzy; ~1.8x an exact-only match, BENCHMARKS.md)",
    )
    parser.add_argument(
        "--fuzzy-threshold",
        type=float,
        default=fuzzy_probe.THRESHOLD,
        metavar="S",
        help=f"lowest score of a fuzzy link, 0 < S <= 1 (default {fuzzy_probe.THRESHOLD}; lower finds more "
        "and risks wrong links: see BENCHMARKS.md)",
    )
    parser.add_argument("--output-shards", type=int, default=1, help="Parquet files per output folder (default 1)")
    parser.add_argument(
        "--csv",
        action="store_true",
        help=f"also write {CANDIDATES}.csv and {DEAD_LETTER}.csv for spreadsheets, with formula cells neutralized",
    )
    parser.add_argument(
        "--library",
        metavar="DIR",
        help="library of earlier dumps, local or gs://: report which ones contain this dump, then add it",
    )
    parser.add_argument(
        "--library-label", metavar="TEXT", help="this dump's name in the library (default: the run folder)"
    )
    parser.add_argument(
        "--show-samples",
        type=int,
        nargs="?",
        const=DEFAULT_SAMPLES,
        default=0,
        metavar="N",
        help=f"put the dump's own values of the first N candidate rows (default {DEFAULT_SAMPLES}) in report.json "
        "and report.html; without it no dump value is in either",
    )


def add_bundle_options(parser: argparse.ArgumentParser) -> None:
    """What a dump is matched against (reverify takes the same)."""
    parser.add_argument(
        "--bundle",
        required=True,
        help="bundle folder written by dumpmatch sketch, or a folder of versions (sketch --versioned): the newest",
    )
    parser.add_argument(
        "--key-file", metavar="KEY", help=f"the key the bundle was made with; default: ${hashing.KEY_ENV}"
    )


def add_dump_options(parser: argparse.ArgumentParser) -> None:
    """How one dump is read and linked: what ``library add`` records for reverify to replay."""
    parser.add_argument(
        "--columns", metavar="MAP", help='map fields to dump headers, e.g. email=Mail,name="Full Name",id:order=Order'
    )
    parser.add_argument(
        "--default-region", metavar="CC", help="phone region for numbers without a country code (default: the bundle's)"
    )
    parser.add_argument(
        "--posting-cap",
        type=int,
        default=POSTING_CAP,
        help=f"a value shared by more customers than this links no one (default {POSTING_CAP})",
    )


def make_parser() -> argparse.ArgumentParser:
    """The whole command line but Beam's options, for run() and the flex-template launcher alike."""
    p = common.parser(PROG, __doc__ or "", EPILOG)
    add_arguments(p)
    inputs.add_arguments(p)
    return p


@dataclass(frozen=True)
class Plan:
    """One match decided at launch: what the graph reads, probes and writes. ``reverify`` adjusts it
    (library entry and exclusions, known checksums, extra manifest keys) and builds the same graph."""

    args: dict[str, Any]  # the options as given: the run manifest records them
    out: str
    key_path: str
    fingerprint: str
    bundle: str  # the bundle folder used: a versions folder's newest version
    manifest: dict[str, Any]  # the bundle's
    specs: list[InputSpec]
    region: str | None
    use_index: bool
    library_entry: str | None = None
    library_exclude: tuple[str, ...] = ()
    checksums: dict[str, str] | None = None  # inputs' SHA-256 when known at launch: the files are not read
    extra: dict[str, Any] = field(default_factory=dict)  # more run-manifest keys
    fuzzy: dict[str, Any] = field(default_factory=dict)  # fuzzy_probe.state + threshold; enabled False if empty

    @property
    def use_fuzzy(self) -> bool:
        return bool(self.fuzzy.get("enabled"))

    @property
    def stage(self) -> str:
        return storage.join(self.out, storage.STAGING)


class Source(NamedTuple):
    """What the probe consumes: keyed-digest batches, dead-letter tables and read accounting; and, when
    they are known already, the dump's own sketches, which depend on its digests alone."""

    digests: beam.PCollection
    dead: beam.PCollection
    stats: beam.PCollection
    dump_minhash: beam.PCollection | None = None  # (field, MinHash)
    dump_distinct: beam.PCollection | None = None  # ((DUMP, field), HyperLogLogPlusPlus)


class Built(NamedTuple):
    source: Source
    dump_minhash: beam.PCollection  # (field, MinHash)
    distinct: beam.PCollection  # ((DUMP | BLOOM | MATCHED, field), HyperLogLogPlusPlus)
    published: beam.PCollection  # one element once the run folder is complete


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Matches the dump and returns the report."""
    args, beam_args = make_parser().parse_known_args(argv)
    options = common.beam_options(beam_args, PROG)
    job = plan(args)
    options = common.spread(options, beam_args, job.specs, worker_bytes(job), PROG)
    clear(job)
    total_bytes = sum(spec.size for spec in job.specs)
    with (
        common.progress(options, args.quiet, PROG, total_bytes) as progress_folder,
        storage.cleaned_on_failure(job.stage),
        common.make_pipeline(options) as pipeline,
    ):
        build(pipeline, job, progress_folder=progress_folder)
    if not common.finished_here(options, PROG, job.stage):
        return {}
    return finish(job)


def worker_bytes(job: Plan) -> int:
    """What each worker process loads: the bundle's index and, when linking fuzzily, its fuzzy index
    (Parquet on disk, about three times that once loaded into arrays)."""
    loaded = bundle.loaded_bytes(job.manifest) if job.use_index else 0
    if job.use_fuzzy:
        loaded += 3 * sum(storage.size(path) for path in fuzzy_index.files(job.bundle))
    return loaded


def plan(args: argparse.Namespace, specs: list[InputSpec] | None = None) -> Plan:
    """Every launch-time check: key against bundle, the inputs (unless ``specs`` are known already), the
    library. A bad one stops the run before anything is written."""
    if args.output_shards < 1 or args.posting_cap < 1 or args.show_samples < 0:
        raise InputError(f"{PROG}: --output-shards and --posting-cap must be at least 1, --show-samples 0 or more")
    # reverify's replayed options have no fuzzy ones: it links exactly (its digest cache has no encodings).
    fuzzy_requested = getattr(args, "fuzzy", False)
    threshold = getattr(args, "fuzzy_threshold", fuzzy_probe.THRESHOLD)
    if not 0.0 < threshold <= 1.0:
        raise InputError(f"{PROG}: --fuzzy-threshold {threshold} is not in (0, 1]")
    against = target(args)
    use_index = bundle.has_index(against.manifest) and not args.no_index
    exists = fuzzy_requested is not False and use_index and fuzzy_index.exists(against.bundle)
    fuzzy_state = fuzzy_probe.state(fuzzy_requested, use_index, against.manifest, exists, against.bundle)
    if specs is None:
        mapping = parse_mapping(args.columns, "--columns")
        specs = inspect_inputs(args.dump, mapping, "--dump", args.format, inputs.limits(args), args.table)
    library_entry = None
    if args.library:
        library.check_label(args.library_label or args.out)
        library.read_index(args.library)  # an unreadable library stops the run before any work
        library_entry = library.new_entry_id()  # chosen here, so a retried Publish step adds nothing twice
    return Plan(
        args=vars(args),
        out=args.out,
        key_path=against.key_path,
        fingerprint=against.fingerprint,
        bundle=against.bundle,
        manifest=against.manifest,
        specs=specs,
        region=args.default_region or against.manifest.get("default_region"),
        use_index=use_index,
        library_entry=library_entry,
        fuzzy={**fuzzy_state, "threshold": threshold},
    )


@dataclass(frozen=True)
class Target:
    """The bundle a run probes and the key it runs with, checked against each other at launch."""

    key_path: str
    fingerprint: str
    bundle: str  # a versions folder resolved to its newest version
    manifest: dict[str, Any]


def target(args: argparse.Namespace) -> Target:
    """--key-file and --bundle: a key that is not the bundle's, or a bundle without fields, stops here."""
    key_path, key = hashing.open_key(args.key_file)
    bundle_path = versions.resolve(args.bundle)
    manifest = bundle.read_manifest(bundle_path)
    bundle.check_key(bundle_path, manifest, key.fingerprint)
    if not manifest["fields"]:
        raise InputError(f"bundle {bundle_path} holds no fields: sketch a customer base with data first")
    return Target(key_path, key.fingerprint, bundle_path, manifest)


def clear(job: Plan) -> None:
    """Removes a previous run's outputs from the run folder, so no stale file survives this run."""
    for stale in (MANIFEST, REPORT, REPORT_HTML, CANDIDATES, DEAD_LETTER, *CSV_FILES, storage.STAGING):
        storage.delete_tree(storage.join(job.out, stale))


def build(
    pipeline: beam.Pipeline | beam.pvalue.PBegin,
    job: Plan,
    source: Source | None = None,
    progress_folder: str | None = None,
) -> Built:
    """The match graph; ``source`` replaces reading and preparing the dump (reverify's digest cache)."""
    launched = time.time()
    shards = job.args["output_shards"]
    fuzzy_probed = None
    checksums = None
    if job.checksums is not None:
        checksums = pipeline | "InputChecksums" >> beam.Create(sorted(job.checksums.items()))
    if source is None:
        hashing = checksums is None  # the files' SHA-256 while planning reads them, unless known
        read = pipeline | "Read" >> ReadRecords(job.specs, progress_folder=progress_folder, checksums=hashing)
        checksums = read.checksums if hashing else checksums
        prepared = read.records | "Prepare" >> Prepare(job.key_path, job.region, fuzzy_encode=job.use_fuzzy)
        if job.use_fuzzy:
            fuzzy_probed = prepared | "FuzzyProbe" >> beam.ParDo(
                fuzzy_probe.FuzzyProbeFn(job.bundle, job.fuzzy["threshold"], job.args["posting_cap"])
            ).with_outputs(fuzzy_probe.FuzzyProbeFn.STATS, main="candidates")
            prepared = prepared | "ExactColumns" >> beam.Map(fuzzy.exact_only)
        source = Source(prepared, read.dead, read.stats)
    known = source.dump_minhash is not None
    probed = source.digests | "Probe" >> beam.ParDo(
        ProbeFn(job.bundle, job.fingerprint, job.args["posting_cap"], job.use_index, dump_digests=not known)
    ).with_outputs(ProbeFn.STATS, ProbeFn.DIGESTS, ProbeFn.CUSTOMERS, main="candidates")
    candidates, all_stats = [probed.candidates], [source.stats, probed.stats]
    if fuzzy_probed is not None:
        candidates.append(fuzzy_probed.candidates)
        all_stats.append(fuzzy_probed.stats)
    named_by = CustomersNamedFn(job.manifest["customers"]["parsed"])
    named = probed.customers | "Customers" >> beam.CombineGlobally(named_by)
    candidate_files = (
        tuple(candidates)
        | "AllCandidates" >> beam.Flatten()
        | "WriteCandidates"
        >> WriteTables(
            storage.join(job.stage, CANDIDATES),
            CANDIDATES,
            CANDIDATE_SCHEMA,
            shards,
            CANDIDATE_ORDER,
            storage.join(job.stage, CSV_FILES[0]) if job.args["csv"] else None,
        )
    )
    dead_files = source.dead | "WriteDeadLetters" >> WriteTables(
        storage.join(job.stage, DEAD_LETTER),
        DEAD_LETTER,
        DEAD_LETTER_SCHEMA,
        shards,
        ["source_file", "line"],
        storage.join(job.stage, CSV_FILES[1]) if job.args["csv"] else None,
    )
    stats = tuple(all_stats) | "AllStats" >> beam.Flatten() | "Sum" >> beam.CombineGlobally(SumStatsFn())
    distinct = probed.digests | "Distinct" >> beam.CombinePerKey(HllCombineFn())
    if source.dump_minhash is not None:
        distinct = (distinct, source.dump_distinct) | "WithDumpDistinct" >> beam.Flatten()
        dump_minhash = source.dump_minhash
    else:
        dump_minhash = (
            probed.digests
            | "DumpDigests" >> beam.Filter(lambda kv: kv[0][0] == DUMP)
            | "ByField" >> beam.MapTuple(lambda key, digests: (key[1], digests))
            | "MinHashDump" >> beam.CombinePerKey(MinHashCombineFn())
        )
    if checksums is None:
        raise ValueError("a prepared source (a digest cache) comes with its inputs' checksums")
    samples = job.args["show_samples"]
    sample_rows = (
        beam.pvalue.AsSingleton(probed.candidates | "Samples" >> SampleRows(job.specs, samples)) if samples else None
    )
    seed = pipeline | "Seed" >> beam.Create([None])
    report_path = seed | "WriteReport" >> beam.Map(
        _write_report,
        job,
        beam.pvalue.AsSingleton(stats),
        beam.pvalue.AsDict(distinct),
        beam.pvalue.AsDict(dump_minhash),
        beam.pvalue.AsDict(checksums),
        beam.pvalue.AsSingleton(named),
        sample_rows,
    )
    published = seed | "Publish" >> beam.Map(
        _publish,
        job,
        launched,
        beam.pvalue.AsSingleton(report_path),
        beam.pvalue.AsList(candidate_files),
        beam.pvalue.AsList(dead_files),
        beam.pvalue.AsDict(dump_minhash),
    )
    return Built(source, dump_minhash, distinct, published)


def finish(job: Plan) -> dict[str, Any]:
    """The published report, after the checks that turn a short or mostly-garbage read into exit 2."""
    report = storage.read_json(storage.join(job.out, REPORT))
    check_inputs(report["inputs"], job.args["allow_truncated"], job.args["max_dead_letter_fraction"])
    return report


def _write_report(
    _: None,
    job: Plan,
    stats: dict[str, Any],
    distinct: dict,
    dump_minhash: dict,
    checksums: dict[str, str],
    customers: int,
    samples: list[dict[str, Any]] | None,
) -> str:
    """report.json and report.html, staged with the run's other outputs (so the manifest lists both)."""
    report = build_report(
        job.specs, stats, distinct, dump_minhash, job.bundle, job.manifest, checksums, customers, job.use_index
    )
    report["fuzzy"] = fuzzy_probe.report_section(
        job.fuzzy or fuzzy_probe.state(False, job.use_index, job.manifest, False, job.bundle),
        stats.get(fuzzy_probe.STATS),
    )
    library_path = job.args["library"]
    if library_path:
        found = library.containment(
            library_path, job.fingerprint, *_sized(report, dump_minhash), exclude=job.library_exclude
        )
        report["library"] = found.rows  # what verdict.decide reads: resolved containments only
        report["library_search"] = {"path": library_path, **found.summary()}
    report["verdict"] = verdict.decide(report)
    if samples is not None:
        report["samples"] = samples  # only with --show-samples: the dump's own values
    path = storage.join(job.stage, REPORT)
    storage.write_json(path, report)
    # What the manifest will hold, so `dumpmatch report` re-renders the same bytes from it.
    page = html_report.render_run(report, {"tool_version": __version__, "options": run_options(job.args)})
    storage.write_bytes(storage.join(job.stage, REPORT_HTML), page.encode("utf-8"))
    return path


def run_options(args: dict[str, Any]) -> dict[str, Any]:
    """The options a manifest records: all but the key file's path."""
    return {k: v for k, v in sorted(args.items()) if k != "key_file"}


def _publish(
    _: None,
    job: Plan,
    launched: float,
    _report: str,
    _candidates: list[str],
    _dead_letters: list[str],
    dump_minhash: dict[str, MinHash],
) -> str:
    """The graph's last step — its side inputs are every written output, so it runs after them: move
    the staged outputs into place, then write the manifest. Being in the graph, it runs however the job
    was launched, flex templates included. Returns the run folder."""
    out, args = job.out, job.args
    outputs = storage.publish(job.stage, out)
    report = storage.read_json(storage.join(out, REPORT))
    added = _add_to_library(job, report, dump_minhash) if job.library_entry else None
    manifest = {
        "format": RUN_FORMAT,
        "format_version": 1,
        "tool_version": __version__,
        "bundle": versions.identity(job.bundle, job.manifest),
        "inputs": [{k: e[k] for k in ("path", "size", "sha256", "format", "complete")} for e in report["inputs"]],
        "options": run_options(args),
        "rows": report["rows"],
        "outputs": {rel: storage.sha256(storage.join(out, rel)) for rel in outputs},
        "timings": {"seconds": round(time.time() - launched, 3)},
        **({"library": {"path": args["library"], "entry": added}} if args["library"] else {}),
        **job.extra,
    }
    storage.write_json(storage.join(out, MANIFEST), manifest)
    return out


def _sized(report: dict[str, Any], dump_minhash: dict[str, MinHash]) -> tuple[dict[str, MinHash], dict[str, int]]:
    """Fields with values: their MinHashes and distinct counts (the report's HLL estimates)."""
    sizes = {f: e["distinct"] for f, e in report["fields"].items() if e["distinct"] > 0 and f in dump_minhash}
    return {f: dump_minhash[f] for f in sizes}, sizes


def _add_to_library(job: Plan, report: dict[str, Any], dump_minhash: dict[str, MinHash]) -> str | None:
    """Adds a run whose inputs pass check_inputs (the command fails on the others: a dump read short is
    no reference for later ones); the id was chosen at launch, so a retried step finds it and stops."""
    args = job.args
    try:
        check_inputs(report["inputs"], args["allow_truncated"], args["max_dead_letter_fraction"])
    except InputError:
        return None
    assert job.library_entry is not None
    label = args["library_label"] or job.out
    library.add_entry(
        args["library"], job.library_entry, label, job.fingerprint, *_sized(report, dump_minhash), exist_ok=True
    )
    return job.library_entry


def main() -> int:
    return common.entry(run)


if __name__ == "__main__":
    sys.exit(main())
