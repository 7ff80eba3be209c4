"""dumpmatch report: render a run's report.json as report.html again, or a reverify diff.json as diff.html.

No pipeline: one JSON file in, one HTML page out, local or gs://.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from pipelines import common
from transforms import html_report, storage
from transforms.errors import InputError
from transforms.report import REPORT, REPORT_HTML

MANIFEST = "manifest.json"
DIFF_FORMAT = "dumpmatch-diff"
EPILOG = """example:
  dumpmatch report runs/sample                 # writes runs/sample/report.html again
  dumpmatch report gs://b/runs/1 --out report.html --no-samples
  dumpmatch report runs/sample/diff.json       # writes runs/sample/diff.html
"""


def make_parser() -> argparse.ArgumentParser:
    p = common.parser("dumpmatch report", __doc__ or "", EPILOG)
    p.add_argument(
        "run", metavar="RUN", help="a run folder written by dumpmatch match (or its report.json), or a diff.json"
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="where to write the page, local or gs:// (default: report.html in the run folder, or diff.html "
        "next to diff.json)",
    )
    p.add_argument(
        "--no-samples",
        action="store_true",
        help="leave out the dump rows a run made with --show-samples recorded (a page to pass on)",
    )
    return p


def run(argv: Sequence[str] | None = None) -> str:
    """Writes the page and returns its path."""
    args = make_parser().parse_args(argv)
    source = args.run.rstrip("/")
    if source.endswith(".json"):
        data = _read_json(source)
        folder = _parent(source)
    else:
        folder = source
        data = _read_json(storage.join(folder, REPORT))
    if not isinstance(data, dict):
        raise InputError(f"{source}: not a dumpmatch report or diff (a JSON object was expected)")
    if data.get("format") == DIFF_FORMAT:
        out = args.out or _sibling(source, source.rsplit("/", 1)[-1].removesuffix(".json") + ".html")
        storage.write_bytes(out, html_report.render_diff(data).encode("utf-8"))
    else:
        out = args.out or storage.join(folder, REPORT_HTML)
        if args.no_samples:
            data.pop("samples", None)
        manifest = _manifest(folder)
        page = html_report.render_run(data, manifest).encode("utf-8")
        storage.write_bytes(out, page)
        if out == storage.join(folder, REPORT_HTML):
            _record(folder, manifest, page)
    print(f"dumpmatch report: wrote {out}")
    return out


def _read_json(path: str) -> Any:
    try:
        return storage.read_json(path)
    except FileNotFoundError:
        raise InputError(
            f"{path} does not exist: give a run folder written by dumpmatch match, its report.json, or a diff.json"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(
            f"{path}: not valid JSON ({err}): give a report.json or diff.json written by dumpmatch"
        ) from None


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else "."


def _sibling(path: str, name: str) -> str:
    return storage.join(_parent(path), name) if "/" in path else name


def _manifest(folder: str) -> dict[str, Any]:
    """The run's manifest (tool version, options), or nothing for a run that never finished."""
    try:
        manifest = storage.read_json(storage.join(folder, MANIFEST))
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _record(folder: str, manifest: dict[str, Any], page: bytes) -> None:
    """A manifest lists its outputs' SHA-256: a page that now reads differently gets its new checksum, so the
    manifest stays true (same version, same options: the same bytes, nothing to change)."""
    outputs = manifest.get("outputs")
    if not isinstance(outputs, dict) or REPORT_HTML not in outputs:
        return
    digest = hashlib.sha256(page).hexdigest()
    if outputs[REPORT_HTML] != digest:
        outputs[REPORT_HTML] = digest
        storage.write_json(storage.join(folder, MANIFEST), manifest)
        print(f"dumpmatch report: {MANIFEST} now lists the new {REPORT_HTML}'s checksum")


def main() -> int:
    return common.entry(run)


if __name__ == "__main__":
    sys.exit(main())
