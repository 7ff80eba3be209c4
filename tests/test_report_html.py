"""report.html: the page's content and safety as pure rendering, then written by real match runs and
re-rendered by ``dumpmatch report`` (locally and on a Cloud Storage emulator)."""

from __future__ import annotations

import copy
import hashlib
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from pipelines import cli, match
from pipelines import report as report_cmd
from tests.conftest import sketched_base
from tests.gcs_emulator import GcsFolder, gcs_emulator_fixture, gcs_fixture  # noqa: F401 - fixtures
from transforms import html_report, storage, synthetic, verdict
from transforms.errors import InputError

HOSTILE = [
    "<script>alert(1)</script>",
    'x" onmouseover="alert(2)',
    "javascript:alert(3)",
    "'><img src=x onerror=alert(4)>",
]
# Every tag the renderer writes; anything else in a page came from data.
TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "p", "section", "div", "span",
    "ul", "li", "strong", "code", "br", "table", "thead", "tbody", "tr", "th", "td", "figure", "footer",
    "svg", "line", "rect", "text", "path",
}  # fmt: skip


class Page(HTMLParser):
    """A parsed page: its tags, their attributes, and the visible text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []
        self.chunks: list[str] = []
        self._skip = 0
        self.feed(text)
        self.text = " ".join(" ".join(self.chunks).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        self._skip += tag in ("style", "title")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "title")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def assert_safe(text: str) -> Page:
    """Only the renderer's own tags; no event handler, link, source or script anywhere."""
    page = Page(text)
    assert page.tags <= TAGS, page.tags - TAGS
    names = {name for name, _ in page.attributes}
    assert not {n for n in names if n.startswith("on")}
    assert not names & {"href", "src", "xlink:href", "action", "formaction", "srcdoc"}
    assert all("javascript:" not in value for _, value in page.attributes)
    assert "://" not in text and "url(" not in text and "@import" not in text  # nothing to fetch
    return page


def demo_report() -> dict[str, Any]:
    """A report shaped like the demo's (README "How to read report.json")."""
    field = {
        "values": 1000,
        "distinct": 1002,
        "matched": 600,
        "matched_distinct": 599,
        "in_bundle": True,
        "invalid": 3,
        "duplicate_share": 0.0,
        "base_distinct": 2000,
        "diversity": {"dump": 1.002, "base": 1.0},
        "estimate": 598.6,
        "ci95": [584.4, 609.0],
        "minhash": {"informative": True, "intersection": 577.7, "intersection_ci95": [442.3, 726.1]},
    }
    report = {
        "format": "dumpmatch-report",
        "format_version": 1,
        "rows": {"read": 1003, "parsed": 1000, "dead_lettered": 2, "headers": 1},
        "inputs": [
            {
                "path": "/data/dump.csv",
                "size": 105895,
                "format": "csv",
                "encoding": "utf-8",
                "compression": "none",
                "columns": {"email": "E-Mail", "name": "Full Name"},
                "rows_read": 1003,
                "rows_parsed": 1000,
                "rows_dead_lettered": 2,
                "headers": 1,
                "complete": True,
                "incomplete_reason": None,
            }
        ],
        "columns": {"email": "E-Mail", "name": "Full Name"},
        "fields": {
            "email": field,
            "name": {**field, "matched": 1000, "minhash": {"informative": False, "resolution": 11.7}},
        },
        "records": {
            "rows": 1000,
            "matched_any": 1000,
            "candidates": 603,
            "cooccurring": 603,
            "strong": 600,
            "conflicting": 5,
            "canary": 0,
            "chance_cooccurring": 3.9,
            "fields_matched": {"1": 397, "2": 3, "5": 600},
        },
        "bundle": {"path": "/data/bundle", "key_fingerprint": "6034f2a8c401", "customers": 2000, "canaries": 0},
    }
    report["verdict"] = verdict.decide(report)
    return report


def test_the_page_leads_with_the_verdict_its_reasons_and_what_to_do() -> None:
    report = demo_report()
    page = assert_safe(html_report.render_run(report, {"tool_version": "9.9.9", "options": {"posting_cap": 50}}))
    assert report["verdict"]["label"] == "genuine"
    head = page.text[: page.text.index("Does each row agree")]
    assert "genuine" in head and "confidence 95%" in head
    assert report["verdict"]["reasons"][0] in head
    assert html_report.ADVICE["genuine"] in head
    for numbers in ("1,003 rows read", "603 rows linked to a customer", "2 rows that could not be parsed"):
        assert numbers in page.text
    # The co-occurrence picture: one bar per number of fields matched, with its count.
    assert "397" in page.text and "600" in page.text and "5 fields" in page.text and "3.9" in page.text
    # Per field: exact counts, estimates with intervals, MinHash below its resolution said so.
    assert "598.6" not in page.text and "599 (584–609)" in page.text and "578 (442–726)" in page.text
    assert "below resolution (±11.7)" in page.text
    assert "105,895" in page.text and "utf-8" in page.text and "email E-Mail" in page.text
    assert "9.9.9" in page.text and "6034f2a8c401" in page.text and "--posting-cap 50" in page.text
    assert "@media print" in html_report.CSS


@pytest.mark.parametrize("label", verdict.LABELS)
def test_every_label_has_its_advice(label: str) -> None:
    report = {**demo_report(), "verdict": {"label": label, "confidence": 0.5, "reasons": ["because"]}}
    page = Page(html_report.render_run(report))
    assert html_report.ADVICE[label] in page.text and label in page.text


def test_warnings_canaries_and_library_are_shown() -> None:
    report = demo_report()
    report["inputs"][0].update(complete=False, incomplete_reason="gzip stream ends early")
    report["records"]["canary"] = 2
    report["library"] = [
        {"label": "forum dump", "field": "email", "containment": 0.93, "ci95": [0.9, 0.97], "entry_id": "e1"}
    ]
    report["library_search"] = {"path": "/lib", "compared": 4, "skipped_other_key": 1, "unresolved": []}
    text = Page(html_report.render_run(report)).text
    assert "Incomplete input: /data/dump.csv: gzip stream ends early" in text
    assert "2 rows link to planted canary customers" in text
    assert "forum dump" in text and "93% (90%–97%)" in text and "4 earlier dumps" in text


def test_values_from_the_dump_are_escaped_everywhere() -> None:
    """File names, headers, options, library labels and sample values all come from outside."""
    report = demo_report()
    bad = " ".join(HOSTILE)
    report["inputs"][0]["path"] = bad
    report["inputs"][0]["columns"] = {"email": bad}
    report["columns"] = {"email": bad}
    report["fields"][bad] = report["fields"]["email"]
    report["inputs"][0].update(complete=False, incomplete_reason=bad)
    report["library"] = [{"label": bad, "field": bad, "containment": 0.9, "entry_id": bad, "created": bad}]
    report["library_search"] = {"path": bad, "compared": 1, "skipped_other_key": 0, "unresolved": []}
    report["samples"] = [
        {"source_file": bad, "line": 2, "customer_id": bad, "matched_fields": [bad], "values": {bad: bad}}
    ]
    report["verdict"]["reasons"] = [bad]
    text = html_report.render_run(report, {"tool_version": bad, "options": {"dump": [bad], bad: bad}})
    page = assert_safe(text)
    assert "<script" not in text and "<img" not in text
    assert page.text.count(bad) >= 10  # shown, as text


def test_samples_only_when_the_report_has_them() -> None:
    report = demo_report()
    assert "Sample rows" not in Page(html_report.render_run(report)).text
    assert "no sample to show" in Page(html_report.render_run({**report, "samples": []})).text
    report["samples"] = [
        {
            "source_file": "dump.csv",
            "line": 7,
            "customer_id": "c-42",
            "matched_fields": ["email", "name"],
            "score": 1.0,
            "values": {"email": "ann@example.com"},
        }
    ]
    text = Page(html_report.render_run(report)).text
    assert "Sample rows" in text and "--show-samples" in text and "ann@example.com" in text and "c-42" in text


ODD = [None, 0, 1.5, float("nan"), "x", [], {}, [None], {"a": None}, True]


@pytest.mark.parametrize("odd", ODD, ids=repr)
def test_odd_or_missing_keys_do_not_stop_the_page(odd: Any) -> None:
    """A report of another version, or a hand-edited one, still renders: each key in turn is odd."""
    report = demo_report()
    paths = [(k,) for k in report] + [(k, sub) for k, v in report.items() if isinstance(v, dict) for sub in v]
    paths += [("fields", "email", k) for k in report["fields"]["email"]] + [
        ("inputs", 0, k) for k in report["inputs"][0]
    ]
    for path in paths:
        changed = copy.deepcopy(report)
        target = changed
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = odd
        assert_safe(html_report.render_run(changed, {"tool_version": odd, "options": odd}))
    assert_safe(html_report.render_run({}))
    assert_safe(html_report.render_run({"records": odd, "fields": odd, "inputs": odd, "verdict": odd}))


def diff_document() -> dict[str, Any]:
    """A diff.json as reverify writes it (the agreed schema)."""
    return {
        "format": "dumpmatch-diff",
        "format_version": 1,
        "dump": "forum-sample",
        "previous_run": "runs/2025-01-01",
        "current_run": "runs/2025-02-01",
        "bundle": {
            "previous": {"path": "bundles/jan", "version": "0.1.0", "key_fingerprint": "aa11"},
            "current": {"path": "bundles/feb", "version": "0.1.0", "key_fingerprint": "aa11"},
        },
        "inputs": {"changed": ["dump/part-2.csv"], "missing": [], "unchanged": ["dump/part-1.csv"]},
        "verdict": {
            "previous": {"label": "recombined", "confidence": 0.8},
            "current": {"label": "genuine", "confidence": 0.95},
            "changed": True,
        },
        "fields": {
            "email": {
                "matched": {"previous": 580, "current": 600, "delta": 20},
                "estimate": {"previous": 570.2, "current": 598.6, "delta": 28.4},
            },
            "phone": {
                "matched": {"previous": 610, "current": 600, "delta": -10},
                "estimate": {"previous": 611.0, "current": 600.6, "delta": -10.4},
            },
        },
        "customers": {"newly_matched": 20, "no_longer_matched": 3},
        "canaries": {"previous": 0, "current": 1},
        "material": True,
        "reasons": ["the verdict changed from recombined to genuine", "a canary customer appeared"],
    }


def test_a_reverify_diff_renders() -> None:
    page = assert_safe(html_report.render_diff(diff_document()))
    text = page.text
    assert "Material change" in text and "a canary customer appeared" in text
    assert "recombined (80%)" in text and "genuine (95%)" in text and "changed" in text
    assert "+20" in text and "-10" in text and "+28.4" in text and "598.6" in text
    assert "dump/part-2.csv" in text and "bundles/feb" in text and "aa11" in text


def test_a_diff_with_missing_extra_or_odd_keys_still_renders() -> None:
    first_run = diff_document()
    first_run.update(previous_run=None, material=False, extra={"new": "key"})
    first_run["bundle"]["previous"] = None
    first_run["verdict"]["previous"] = None
    del first_run["fields"]["phone"]["estimate"]
    text = assert_safe(html_report.render_diff(first_run)).text
    assert "none (first run)" in text and "No material change" in text
    for odd in ODD:
        assert_safe(html_report.render_diff({key: odd for key in diff_document()}))
    assert_safe(html_report.render_diff({}))
    bad = " ".join(HOSTILE)
    hostile = diff_document()
    hostile.update(dump=bad, reasons=[bad], inputs={"changed": [bad]}, fields={bad: {}})
    assert assert_safe(html_report.render_diff(hostile)).text.count(bad) >= 4


def _hostile_dump(folder: Path, base: pa.Table) -> Path:
    """A dump whose file name, headers and one name value are markup; its other values are real."""
    table = synthetic.dump(base, 200, 0.6).table
    names = table.column("Full Name").to_pylist()
    names[0] = HOSTILE[0]
    table = table.set_column(table.column_names.index("Full Name"), "Full Name", pa.array(names))
    table = table.rename_columns(
        [HOSTILE[1] if c == "E-Mail" else HOSTILE[2] if c == "Mobile" else c for c in table.column_names]
    )
    path = folder / f"dump {HOSTILE[3]}.csv"
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    path.write_bytes(sink.getvalue().to_pybytes())
    return path


def _match(folder: Path, key: Path, dump: Path, out: Path, *extra: str) -> dict[str, Any]:
    columns = f"email={HOSTILE[1]},phone={HOSTILE[2]}"
    return match.run(
        [
            *("--bundle", str(folder / "bundle"), "--dump", str(dump), "--out", str(out), "--key-file", str(key)),
            *("--columns", columns, *extra),
        ]
    )


def test_match_writes_a_safe_page_that_report_renders_again(tmp_path: Path) -> None:
    key, base = sketched_base(tmp_path, 300)
    dump = _hostile_dump(tmp_path, base)
    out = tmp_path / "run"
    report = _match(tmp_path, key, dump, out)
    page = (out / "report.html").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["outputs"]["report.html"] == hashlib.sha256(page).hexdigest()
    text = assert_safe(page.decode()).text
    assert report["verdict"]["label"] in text and f"{report['rows']['read']:,} records read" in text
    assert dump.name in text and HOSTILE[1] in text  # file name and header, as text
    assert "samples" not in report and "Sample rows" not in text
    dump_values = [v for v in pacsv.read_csv(dump).column(HOSTILE[1]).to_pylist() if v]
    assert not [v for v in dump_values if v in page.decode()]  # no dump value without --show-samples

    assert cli.main(["report", str(out)]) == 0
    assert (out / "report.html").read_bytes() == page  # same report + manifest: same bytes
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_show_samples_puts_a_few_dump_rows_in_report_and_page(tmp_path: Path) -> None:
    key, base = sketched_base(tmp_path, 300)
    dump = _hostile_dump(tmp_path, base)
    out = tmp_path / "run"
    report = _match(tmp_path, key, dump, out, "--show-samples", "3")
    samples = report["samples"]
    assert len(samples) == 3 and [s["line"] for s in samples] == sorted(s["line"] for s in samples)
    rows = pacsv.read_csv(dump).to_pylist()
    for sample in samples:
        row = rows[sample["line"] - 2]  # line 1 is the header
        assert sample["source_file"] == str(dump)
        assert sample["values"]["email"] == row[HOSTILE[1]] and sample["customer_id"]
    text = (out / "report.html").read_text()
    page = assert_safe(text)
    assert samples[0]["values"]["email"] in page.text
    if any(s["line"] == 2 for s in samples):
        assert HOSTILE[0] in page.text  # the hostile name value of the first row, as text

    # A page to pass on: no samples, written elsewhere, the run's own page and manifest untouched.
    shared = tmp_path / "shared.html"
    before = (out / "manifest.json").read_bytes()
    report_cmd.run([str(out), "--no-samples", "--out", str(shared)])
    assert "Sample rows" not in assert_safe(shared.read_text()).text
    assert (out / "report.html").read_text() == text and (out / "manifest.json").read_bytes() == before
    # Re-rendered in place without samples: the manifest learns the page's new checksum.
    report_cmd.run([str(out / "report.json"), "--no-samples"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["outputs"]["report.html"] == hashlib.sha256((out / "report.html").read_bytes()).hexdigest()
    assert "Sample rows" not in (out / "report.html").read_text()


def test_report_renders_a_diff_next_to_it(tmp_path: Path) -> None:
    path = tmp_path / "diff.json"
    path.write_text(json.dumps(diff_document()))
    assert cli.main(["report", str(path)]) == 0
    assert "Material change" in Page((tmp_path / "diff.html").read_text()).text


def test_report_says_what_is_wrong_with_its_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        report_cmd.run([str(tmp_path / "nothing")])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        report_cmd.run([str(tmp_path / "bad.json")])
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not a dumpmatch report or diff"):
        report_cmd.run([str(tmp_path / "list.json")])


def test_report_reads_and_writes_gcs(gcs: GcsFolder) -> None:
    run = storage.join(gcs.root, "run")
    storage.write_json(storage.join(run, "report.json"), demo_report())
    storage.write_json(storage.join(run, "manifest.json"), {"tool_version": "0.1.0", "outputs": {}})
    storage.write_json(storage.join(gcs.root, "diff.json"), diff_document())
    assert report_cmd.run([run]) == storage.join(run, "report.html")
    assert "genuine" in Page(storage.read_bytes(storage.join(run, "report.html")).decode()).text
    report_cmd.run([storage.join(gcs.root, "diff.json")])
    assert "forum-sample" in Page(storage.read_bytes(storage.join(gcs.root, "diff.html")).decode()).text
