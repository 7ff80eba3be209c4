"""dumpmatch sketch: customer base → key-protected bundle (sketches + hashed index)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import apache_beam as beam

from pipelines import common, inputs
from transforms import __version__, bigquery, bundle, database, fuzzy, hashing, sketches, storage, versions
from transforms.build import BuildBundle, customer_ids
from transforms.combiners import SumStatsFn
from transforms.errors import InputError
from transforms.fields import parse_mapping
from transforms.fuzzy_index import BuildFuzzyIndex
from transforms.outputs import WriteTables
from transforms.prepare import Prepare
from transforms.read import DEAD_LETTER_SCHEMA, InputSpec, ReadRecords, inspect_inputs
from transforms.report import check_inputs, input_entries, total_rows
from transforms.sample import dominant_region, estimate_rows

BLOOM_FPR = 0.001
# What a sketch run in worker processes takes beyond bare processes: the launcher holds what crosses
# between stages; each worker its share of the digests being combined or, with --fuzzy, perhaps the whole
# fuzzy index build (some 500 MiB even for a small base). Peaks measured on the bench's customers
# (20k to 10M rows, two workers; BENCHMARKS.md), rounded up, and charged to every worker as if each held
# the largest share.
LAUNCHER_BYTES = 300 << 20
LAUNCHER_BYTES_PER_ROW = 240
WORKER_BYTES = 160 << 20
WORKER_BYTES_PER_ROW = 160
FUZZY_WORKER_BYTES = 700 << 20
FUZZY_WORKER_BYTES_PER_ROW = 1100
# Customer-side dead letters keep no raw text: the bundle must hold no plaintext.
BUNDLE_DEAD_LETTER_SCHEMA = DEAD_LETTER_SCHEMA.remove(DEAD_LETTER_SCHEMA.get_field_index("raw"))
Source = list[InputSpec] | database.DatabaseSpec | bigquery.BigQuerySpec

EPILOG = """example:
  dumpmatch sketch --customers customers.csv --out bundle/ --key-file dumpmatch.key
  dumpmatch sketch --customers customers.csv --out bundles/ --versioned --key-file dumpmatch.key
  dumpmatch sketch --customers 'export/*.parquet' --out gs://bucket/bundle \\
      --key-file gs://bucket/secret.key --customer-columns email=E-Mail,id:order=OrderNo
  PGPASSWORD=... dumpmatch sketch --customers 'postgresql://reader@db:5432/shop?table=customers' \\
      --out bundle/ --key-file dumpmatch.key --partitions 32
  dumpmatch sketch --customers 'bigquery://my-project.crm.customers?expected_rows=5000000' \\
      --customer-columns customer_id=id,email=email,phone=mobile --default-region GB \\
      --out gs://bucket/bundle --key-file gs://bucket/secret.key \\
      --runner DataflowRunner --project my-project --region europe-west1 --temp_location gs://bucket/tmp
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Our own options, kept out of Beam's global PipelineOptions registry (see ARCHITECTURE.md)."""
    parser.add_argument(
        "--customers",
        nargs="+",
        required=True,
        metavar="PATH",
        help="customer base files or globs, local or gs://: any format match reads (CSV, Parquet, ...); or one "
        "postgresql://...?table=NAME or bigquery://PROJECT.DATASET.TABLE source",
    )
    parser.add_argument("--out", required=True, metavar="BUNDLE", help="bundle folder to write, local or gs://")
    parser.add_argument(
        "--key-file",
        metavar="KEY",
        help=f"file holding the secret key (hex or raw, >= 32 bytes); default: ${hashing.KEY_ENV}",
    )
    parser.add_argument(
        "--customer-columns",
        metavar="MAP",
        help="map fields to your headers, e.g. email=E-Mail,phone=Mobile,id:order=OrderNo (required for "
        "bigquery://, customer_id included)",
    )
    parser.add_argument(
        "--default-region",
        metavar="CC",
        help="phone region for numbers without a country code, e.g. GB (default: the most common country in the base)",
    )
    parser.add_argument(
        "--bloom-fpr",
        type=float,
        default=BLOOM_FPR,
        help=f"target false-positive rate of each Bloom filter (default {BLOOM_FPR})",
    )
    parser.add_argument(
        "--sketch-only",
        action="store_true",
        help="write Bloom, HLL and MinHash sketches but no index: a bundle to share (no per-customer rows; "
        "match then gives estimates only)",
    )
    parser.add_argument(
        "--fuzzy",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also write the fuzzy index, with which match links rows fuzzily: keyed bigram encodings of name, "
        "street, city, postcode, dob (default off: they enter the bundle, see docs/fuzzy-privacy.md; ~50%% more "
        "sketch CPU; the index is held in memory while it is merged; --sketch-only bundles never hold it)",
    )
    parser.add_argument(
        "--canaries",
        metavar="FILE",
        help="customer ids of planted honeytoken customers, one per line: a dump row linked to one is near-proof",
    )
    parser.add_argument(
        "--partition-column",
        metavar="COLUMN",
        help="--customers postgresql://...: read in ranges of this column, ideally not personal data as a few "
        "of its values bound the ranges (default: the primary key; none: one reader)",
    )
    parser.add_argument(
        "--versioned",
        action="store_true",
        help="write a new version OUT/<UTC time>/ beside the earlier ones and list it in OUT/versions.json; "
        "match and reverify --bundle OUT use the newest",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=database.DEFAULT_PARTITIONS,
        help=f"--customers postgresql://...: key ranges read in parallel (default {database.DEFAULT_PARTITIONS})",
    )


def make_parser() -> argparse.ArgumentParser:
    """The whole command line but Beam's options, for run() and the flex-template launcher alike."""
    p = common.parser("dumpmatch sketch", __doc__ or "", EPILOG)
    add_arguments(p)
    inputs.add_arguments(p)
    return p


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Builds the bundle and returns its manifest."""
    args, beam_args = make_parser().parse_known_args(argv)
    options = common.beam_options(beam_args, "dumpmatch sketch")
    key_path, key = hashing.open_key(args.key_file)
    overrides = parse_mapping(args.customer_columns, "--customer-columns")
    source: Source
    reader: beam.PTransform | None = None  # files: ReadRecords, made once the progress folder is known
    files: list[InputSpec] = []
    uris = [c for c in args.customers if database.is_database_uri(c) or bigquery.is_bigquery_uri(c)]
    if uris and len(args.customers) > 1:
        raise InputError("--customers: a database or BigQuery URI must be the only customer source")
    if bigquery.is_bigquery_uri(args.customers[0]):
        source = bigquery.inspect_bigquery(args.customers[0], overrides)  # no network call at launch
        region = args.default_region  # no launch-time sample: BigQuery is not called before the job
        capacity = source.expected_rows
        reader = bigquery.ReadBigQuery(source)
    elif database.is_database_uri(args.customers[0]):
        source = database.inspect_database(args.customers[0], overrides, args.partition_column, args.partitions)
        region = args.default_region or source.region
        capacity = source.rows
        reader = database.ReadDatabase(source)
    else:
        source = files = inspect_inputs(
            args.customers, overrides, "--customers", args.format, inputs.limits(args), args.table
        )
        region = args.default_region or dominant_region(files)
        capacity = sum(estimate_rows(spec) for spec in files)
        launcher, worker = peak_bytes(capacity, args.fuzzy and not args.sketch_only)
        options = common.spread(options, beam_args, files, worker, "dumpmatch sketch", launcher)
    canaries = read_canaries(args.canaries)
    version = (args.out, versions.new_version()) if args.versioned else None
    if version:
        args.out = storage.join(*version)
    stage = storage.join(args.out, storage.STAGING)
    for stale in (bundle.MANIFEST, *bundle.CONTENTS, storage.STAGING):
        storage.delete_tree(storage.join(args.out, stale))

    held = source if isinstance(source, database.DatabaseSpec) else None
    total_bytes = sum(spec.size for spec in files)
    with (
        common.progress(options, args.quiet or not files, "dumpmatch sketch", total_bytes) as progress_folder,
        storage.cleaned_on_failure(stage),
        database.hold_snapshot(held),
        common.make_pipeline(options) as pipeline,
    ):
        read = pipeline | "Read" >> (reader or ReadRecords(files, progress_folder=progress_folder, checksums=True))
        with_fuzzy = args.fuzzy and not args.sketch_only
        digests = (
            read.records
            | "Prepare" >> Prepare(key_path, region, fuzzy_encode=with_fuzzy)
            | "CustomerIds" >> beam.Map(customer_ids)
        )
        fuzzy_numbers = (
            digests | "BuildFuzzy" >> BuildFuzzyIndex(stage) if with_fuzzy else pipeline | "NoFuzzy" >> beam.Create([])
        )
        exact = digests | "ExactColumns" >> beam.Map(fuzzy.exact_only) if with_fuzzy else digests
        numbers = exact | "Build" >> BuildBundle(
            stage, key.fingerprint, capacity, args.bloom_fpr, with_index=not args.sketch_only
        )
        stats = read.stats | "Accounting" >> beam.CombineGlobally(SumStatsFn())
        if args.sketch_only:  # a bundle to share holds no per-customer rows, rejected ones included
            dead_files = pipeline | "NoDeadLetters" >> beam.Create([])
        else:
            dead_files = (
                read.dead
                | "DropRaw" >> beam.Map(lambda t: t.drop_columns(["raw"]))
                | "WriteDeadLetters"
                >> WriteTables(
                    storage.join(stage, bundle.DEAD_LETTER),
                    bundle.DEAD_LETTER,
                    BUNDLE_DEAD_LETTER_SCHEMA,
                    1,
                    ["source_file", "line"],
                )
            )
        no_files = reader is not None  # a database or BigQuery table: no file to checksum
        checksums = pipeline | "InputChecksums" >> beam.Create([]) if no_files else read.checksums
        _ = (
            pipeline
            | "ManifestSeed" >> beam.Create([None])
            | "WriteManifest"
            >> beam.Map(
                _write_manifest,
                stage,
                args.out,
                source,
                key.fingerprint,
                region,
                {"bloom_fpr": args.bloom_fpr, "bloom_capacity": capacity, "sketch_only": args.sketch_only},
                [] if args.sketch_only else canaries,  # canary ids link nothing without the index
                beam.pvalue.AsDict(numbers),
                beam.pvalue.AsSingleton(stats),
                beam.pvalue.AsList(dead_files),
                beam.pvalue.AsDict(checksums),
                version,
                beam.pvalue.AsList(fuzzy_numbers),
            )
        )
    if not common.finished_here(options, "dumpmatch sketch", stage):
        return {}
    manifest = bundle.read_manifest(args.out)
    check_inputs(manifest["inputs"], args.allow_truncated, args.max_dead_letter_fraction)
    return manifest


def peak_bytes(rows: int, fuzzy: bool) -> tuple[int, int]:
    """(the launcher's, each worker's) growth in a run in worker processes, for ``common.spread``: unlike
    ``match``, whose workers each load the bundle and whose launcher stays small, both grow with the base."""
    launcher = LAUNCHER_BYTES + rows * LAUNCHER_BYTES_PER_ROW
    if fuzzy:
        return launcher, FUZZY_WORKER_BYTES + rows * FUZZY_WORKER_BYTES_PER_ROW
    return launcher, WORKER_BYTES + rows * WORKER_BYTES_PER_ROW


def read_canaries(path: str | None) -> list[str]:
    """Canary customer ids, one per line (blank lines and # comments skipped)."""
    if not path:
        return []
    try:
        text = storage.read_bytes(path).decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"--canaries: {path} does not exist: give a file of customer ids, one per line") from None
    return sorted({line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")})


def _write_manifest(
    _: None,
    stage: str,
    out: str,
    source: Source,
    fingerprint: str,
    region: str | None,
    parameters: dict[str, Any],
    canaries: list[str],
    numbers: dict[str, dict[str, Any]],
    stats: dict[str, Any],
    dead_files: list[str],
    checksums: dict[str, str],
    version: tuple[str, str] | None,
    fuzzy_numbers: list[dict[str, Any]],
) -> None:
    """The graph's last step (its side inputs are every written sketch and index): the manifest is
    staged, then everything moves into place, the manifest last. A bundle without one did not finish.
    A new version (root, name) is listed in the root's versions.json only then."""
    if isinstance(source, database.DatabaseSpec):
        entries = [database.manifest_entry(source, stats)]
    elif isinstance(source, bigquery.BigQuerySpec):
        entries = [bigquery.manifest_entry(source, stats)]
    else:
        entries = input_entries(source, stats, checksums)
    manifest = {
        "format": bundle.FORMAT,
        "format_version": bundle.FORMAT_VERSION,
        "tool_version": __version__,
        "key_fingerprint": fingerprint,
        "default_region": region,
        "parameters": {
            **parameters,
            "digest": "SipHash-2-4, per-field key HMAC-SHA256(HMAC-SHA256(key file, label), field)[:16]",
            "hll_p": sketches.HLL_P,
            "minhash_permutations": sketches.MINHASH_PERMUTATIONS,
            "minhash_seed": sketches.MINHASH_SEED,
            "minhash_scheme": sketches.MINHASH_SCHEME,
        },
        "sketch_only": parameters["sketch_only"],
        # Without an index the exact distinct count is unknown: HyperLogLog's estimate stands in.
        "fields": {f: {"distinct": n["distinct_estimate"], **n} for f, n in sorted(numbers.items())},
        "customers": total_rows(entries),
        "canaries": canaries,
        "fuzzy": fuzzy_numbers[0] if fuzzy_numbers else None,  # the fuzzy index's parameters and size
        "inputs": entries,
        "dead_letter_files": [f"{bundle.DEAD_LETTER}/{storage.basename(f)}" for f in sorted(dead_files)],
        **({"version": version[1]} if version else {}),
    }
    storage.write_json(storage.join(stage, bundle.MANIFEST), manifest)
    storage.publish(stage, out, last=bundle.MANIFEST)
    if version:
        versions.record(*version, manifest)


def main() -> int:
    return common.entry(run)


if __name__ == "__main__":
    sys.exit(main())
