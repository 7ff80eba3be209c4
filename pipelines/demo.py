"""dumpmatch demo: make a synthetic customer base and dump, then sketch and match them."""

from __future__ import annotations

import io
import os
import secrets
import sys
from collections.abc import Sequence
from typing import Any

import pyarrow.csv as pacsv

from pipelines import common, match, sketch
from transforms import storage, synthetic
from transforms.report import REPORT_HTML

CUSTOMERS = 2000
DUMP_ROWS = 1000
GENUINE_FRACTION = 0.6
# Lines a real dump has: a ragged row and bytes that are not UTF-8.
MALFORMED = b'ragged,row\n"ok@example.com","\xff\xfe broken","1","2","3","4","5"\n'
EPILOG = """example:
  dumpmatch demo --out demo-out
"""


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = common.parser("dumpmatch demo", __doc__ or "", EPILOG)
    p.add_argument("--out", default="demo-out", help="folder for the sample data, bundle and run (default demo-out)")
    p.add_argument("--customers", type=int, default=CUSTOMERS, help=f"customers to generate (default {CUSTOMERS})")
    p.add_argument("--dump-rows", type=int, default=DUMP_ROWS, help=f"dump rows to generate (default {DUMP_ROWS})")
    args, beam_args = p.parse_known_args(argv)
    out = args.out
    key_path = storage.join(out, "demo.key")
    customers_path = storage.join(out, "customers.csv")
    dump_path = storage.join(out, "dump.csv")
    storage.write_bytes(key_path, (secrets.token_hex(32) + "\n").encode("ascii"))
    if "://" not in key_path:
        os.chmod(key_path, 0o600)  # as a key file should be (the commands warn otherwise)
    base = synthetic.customers(args.customers)
    storage.write_bytes(customers_path, _csv(base))
    storage.write_bytes(dump_path, _csv(synthetic.dump(base, args.dump_rows, GENUINE_FRACTION).table) + MALFORMED)

    bundle_path, run_path = storage.join(out, "bundle"), storage.join(out, "run")
    sketch.run(["--customers", customers_path, "--out", bundle_path, "--key-file", key_path, *beam_args])
    report = match.run(
        ["--bundle", bundle_path, "--dump", dump_path, "--out", run_path, "--key-file", key_path, *beam_args]
    )
    _print_headline(report, out, bundle_path, run_path)
    return report


def _csv(table: Any) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def _print_headline(report: dict[str, Any], out: str, bundle_path: str, run_path: str) -> None:
    rows, records = report["rows"], report["records"]
    print(f"dumpmatch demo: sample data in {out}")
    print(f"  bundle: {bundle_path}")
    print(f"  run:    {run_path}")
    print(f"  report: {storage.join(run_path, 'report.json')}")
    print(
        f"  rows: read {rows['read']} = parsed {rows['parsed']} + dead-lettered {rows['dead_lettered']}"
        f" + headers {rows['headers']}"
    )
    print(
        f"  rows linked to a customer: {records['candidates']}"
        f" ({records['cooccurring']} with 2+ independent fields on the same customer),"
        f" naming {records['customers']} of your customers"
    )
    verdict = report["verdict"]
    print(f"  verdict: {verdict['label']} (confidence {verdict['confidence']:.2f}): {'; '.join(verdict['reasons'])}")
    for field, numbers in report["fields"].items():
        print(f"  {field:<10} matched {numbers['matched']:>6} of {numbers['values']:>6} values")
    print(f"the full report, to open in a browser: {storage.join(run_path, REPORT_HTML)}")


def main() -> int:
    return common.entry(run)


if __name__ == "__main__":
    sys.exit(main())
