"""dumpmatch match: dump files × bundle → run folder (report, candidates, dead letters, manifest)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
from datasketch import MinHash

from pipelines import common, inputs
from transforms import __version__, bundle, hashing, library, storage, verdict
from transforms.combiners import HllCombineFn, MinHashCombineFn, SumStatsFn
from transforms.errors import InputError
from transforms.fields import parse_mapping
from transforms.outputs import WriteTables
from transforms.prepare import Prepare
from transforms.probe import CANDIDATE_SCHEMA, DUMP, POSTING_CAP, ProbeFn
from transforms.read import DEAD_LETTER_SCHEMA, InputChecksums, InputSpec, ReadRecords, inspect_inputs
from transforms.report import REPORT, build_report, check_inputs

RUN_FORMAT = "dumpmatch-run"
MANIFEST = "manifest.json"
CANDIDATES = "candidates"
DEAD_LETTER = "dead_letter"
EPILOG = """example:
  dumpmatch match --bundle bundle/ --dump sample.csv --out runs/sample --key-file dumpmatch.key
  dumpmatch match --bundle gs://b/bundle --dump 'gs://b/dump/*.csv' --out gs://b/runs/1 \\
      --key-file gs://b/secret.key --columns email=Mail,name="Full Name" \\
      --runner DataflowRunner --project P --region R --temp_location gs://b/tmp
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Our own options, kept out of Beam's global PipelineOptions registry (see ARCHITECTURE.md)."""
    parser.add_argument("--bundle", required=True, help="bundle folder written by dumpmatch sketch")
    parser.add_argument(
        "--dump",
        nargs="+",
        required=True,
        metavar="PATH",
        help="dump files or globs, local or gs://: CSV/TSV, JSON lines or array, combo list, MySQL or "
        "PostgreSQL dump, Parquet; .gz/.bz2/.zst/.zip",
    )
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder to write, local or gs://")
    parser.add_argument(
        "--key-file", metavar="KEY", help=f"the key the bundle was made with; default: ${hashing.KEY_ENV}"
    )
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
    parser.add_argument(
        "--no-index",
        action="store_true",
        help="use only the bundle's sketches (as a partner holding a --sketch-only bundle would): estimates, "
        "no candidates",
    )
    parser.add_argument("--output-shards", type=int, default=1, help="Parquet files per output folder (default 1)")
    parser.add_argument(
        "--library",
        metavar="DIR",
        help="library of earlier dumps, local or gs://: report which ones contain this dump, then add it",
    )
    parser.add_argument(
        "--library-label", metavar="TEXT", help="this dump's name in the library (default: the run folder)"
    )


def make_parser() -> argparse.ArgumentParser:
    """The whole command line but Beam's options, for run() and the flex-template launcher alike."""
    p = common.parser("dumpmatch match", __doc__ or "", EPILOG)
    add_arguments(p)
    inputs.add_arguments(p)
    return p


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Matches the dump and returns the report."""
    args, beam_args = make_parser().parse_known_args(argv)
    options = common.beam_options(beam_args, "dumpmatch match")
    if args.output_shards < 1 or args.posting_cap < 1:
        raise InputError("dumpmatch match: --output-shards and --posting-cap must be at least 1")
    key_path = hashing.resolve_key_path(args.key_file)
    key = hashing.load_key(key_path)
    manifest = bundle.read_manifest(args.bundle)
    bundle.check_key(args.bundle, manifest, key.fingerprint)
    if not manifest["fields"]:
        raise InputError(f"bundle {args.bundle} holds no fields: sketch a customer base with data first")
    specs = inspect_inputs(
        args.dump,
        parse_mapping(args.columns, "--columns"),
        "--dump",
        args.format,
        inputs.limits(args),
        args.table,
        args.max_quoted_lines,
    )
    region = args.default_region or manifest.get("default_region")
    use_index = bundle.has_index(manifest) and not args.no_index
    library_entry = None
    if args.library:
        library.check_label(args.library_label or args.out)
        library.read_index(args.library)  # an unreadable library stops the run before any work
        library_entry = library.new_entry_id()  # chosen here, so a retried Publish step adds nothing twice
    stage = storage.join(args.out, storage.STAGING)
    for stale in (MANIFEST, REPORT, CANDIDATES, DEAD_LETTER, storage.STAGING):
        storage.delete_tree(storage.join(args.out, stale))

    launched = time.time()
    with storage.cleaned_on_failure(stage), common.make_pipeline(options) as pipeline:
        read = pipeline | "Read" >> ReadRecords(specs)
        probed = (
            read.records
            | "Prepare" >> Prepare(key_path, region)
            | "Probe"
            >> beam.ParDo(ProbeFn(args.bundle, key.fingerprint, args.posting_cap, use_index)).with_outputs(
                ProbeFn.STATS, ProbeFn.DIGESTS, main="candidates"
            )
        )
        candidate_files = probed.candidates | "WriteCandidates" >> WriteTables(
            storage.join(stage, CANDIDATES),
            CANDIDATES,
            CANDIDATE_SCHEMA,
            args.output_shards,
            ["source_file", "line", "customer_id"],
        )
        dead_files = read.dead | "WriteDeadLetters" >> WriteTables(
            storage.join(stage, DEAD_LETTER),
            DEAD_LETTER,
            DEAD_LETTER_SCHEMA,
            args.output_shards,
            ["source_file", "line"],
        )
        stats = (read.stats, probed.stats) | "AllStats" >> beam.Flatten() | "Sum" >> beam.CombineGlobally(SumStatsFn())
        distinct = probed.digests | "Distinct" >> beam.CombinePerKey(HllCombineFn())
        dump_minhash = (
            probed.digests
            | "DumpDigests" >> beam.Filter(lambda kv: kv[0][0] == DUMP)
            | "ByField" >> beam.MapTuple(lambda key, digests: (key[1], digests))
            | "MinHashDump" >> beam.CombinePerKey(MinHashCombineFn())
        )
        checksums = pipeline | "InputChecksums" >> InputChecksums(specs)
        seed = pipeline | "Seed" >> beam.Create([None])
        report_path = seed | "WriteReport" >> beam.Map(
            _write_report,
            stage,
            specs,
            args.bundle,
            manifest,
            beam.pvalue.AsSingleton(stats),
            beam.pvalue.AsDict(distinct),
            beam.pvalue.AsDict(dump_minhash),
            beam.pvalue.AsDict(checksums),
            use_index,
            args.library,
        )
        _ = seed | "Publish" >> beam.Map(
            _publish,
            stage,
            args.out,
            manifest,
            vars(args),
            launched,
            beam.pvalue.AsSingleton(report_path),
            beam.pvalue.AsList(candidate_files),
            beam.pvalue.AsList(dead_files),
            beam.pvalue.AsDict(dump_minhash),
            library_entry,
        )
    if not common.finished_here(options, "dumpmatch match", stage):
        return {}
    report = storage.read_json(storage.join(args.out, REPORT))
    check_inputs(report["inputs"], args.allow_truncated, args.max_dead_letter_fraction)
    return report


def _write_report(
    _: None,
    out: str,
    specs: list[InputSpec],
    bundle_path: str,
    manifest: dict[str, Any],
    stats: dict[str, Any],
    distinct: dict,
    dump_minhash: dict,
    checksums: dict[str, str],
    use_index: bool,
    library_path: str | None,
) -> str:
    report = build_report(specs, stats, distinct, dump_minhash, bundle_path, manifest, checksums, use_index)
    if library_path:
        found = library.containment(library_path, manifest["key_fingerprint"], *_sized(report, dump_minhash))
        report["library"] = found.rows  # what verdict.decide reads: resolved containments only
        report["library_search"] = {"path": library_path, **found.summary()}
    report["verdict"] = verdict.decide(report)
    path = storage.join(out, REPORT)
    storage.write_json(path, report)
    return path


def _publish(
    _: None,
    stage: str,
    out: str,
    bundle_manifest: dict[str, Any],
    args: dict[str, Any],
    launched: float,
    _report: str,
    _candidates: list[str],
    _dead_letters: list[str],
    dump_minhash: dict[str, MinHash],
    library_entry: str | None,
) -> None:
    """The graph's last step — its side inputs are every written output, so it runs after them: move
    the staged outputs into place, then write the manifest. Being in the graph, it runs however the job
    was launched, flex templates included."""
    outputs = storage.publish(stage, out)
    report = storage.read_json(storage.join(out, REPORT))
    fingerprint = bundle_manifest["key_fingerprint"]
    added = _add_to_library(args, out, report, dump_minhash, fingerprint, library_entry) if library_entry else None
    manifest = {
        "format": RUN_FORMAT,
        "format_version": 1,
        "tool_version": __version__,
        "bundle": {"path": args["bundle"], "key_fingerprint": bundle_manifest["key_fingerprint"]},
        "inputs": [{k: e[k] for k in ("path", "size", "sha256", "format", "complete")} for e in report["inputs"]],
        "options": {k: v for k, v in sorted(args.items()) if k != "key_file"},
        "rows": report["rows"],
        "outputs": {rel: storage.sha256(storage.join(out, rel)) for rel in outputs},
        "timings": {"seconds": round(time.time() - launched, 3)},
        **({"library": {"path": args["library"], "entry": added}} if args["library"] else {}),
    }
    storage.write_json(storage.join(out, MANIFEST), manifest)


def _sized(report: dict[str, Any], dump_minhash: dict[str, MinHash]) -> tuple[dict[str, MinHash], dict[str, int]]:
    """Fields with values: their MinHashes and distinct counts (the report's HLL estimates)."""
    sizes = {f: e["distinct"] for f, e in report["fields"].items() if e["distinct"] > 0 and f in dump_minhash}
    return {f: dump_minhash[f] for f in sizes}, sizes


def _add_to_library(
    args: dict[str, Any],
    out: str,
    report: dict[str, Any],
    dump_minhash: dict[str, MinHash],
    fingerprint: str,
    entry_id: str,
) -> str | None:
    """Adds a run whose inputs pass check_inputs (the command fails on the others: a dump read short is
    no reference for later ones); the id was chosen at launch, so a retried step finds it and stops."""
    try:
        check_inputs(report["inputs"], args["allow_truncated"], args["max_dead_letter_fraction"])
    except InputError:
        return None
    if all(entry["id"] != entry_id for entry in library.read_index(args["library"])["entries"]):
        label = args["library_label"] or out
        library.add_entry(args["library"], entry_id, label, fingerprint, *_sized(report, dump_minhash))
    return entry_id


def main() -> int:
    return common.entry(run)


if __name__ == "__main__":
    sys.exit(main())
