"""report.json (or a reverify diff.json) as one self-contained HTML page a security lead can read.

Pure: dicts in, a string out, the same bytes for the same input (a run's outputs are reproducible).
The page loads nothing: inline CSS, inline SVG charts, system fonts, no script, and a Content-Security-
Policy that forbids anything else. Every value that comes from a run — file names, column headers,
library labels, options, sample values — may come from a hostile dump: each is HTML-escaped and none
is ever put in a URL, a style or a script. Rendering is tolerant: a missing or odd key shows as "—"
instead of failing, so reports of other versions still render.
"""

from __future__ import annotations

import html
import math
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any

MISSING = "—"
SAMPLE_FIELDS_MAX = 12  # dump columns shown per sample row

ADVICE = {
    "genuine": (
        "Treat this as a breach of your data. Start your incident process now: bring in legal and privacy "
        "(notification deadlines may run from today), keep this run folder and the dump as evidence, use "
        "candidates/*.parquet to list the affected customers, and look for the source: the system that holds "
        "all of the matched fields together."
    ),
    "recycled": (
        "The identifiers are yours, but they circulated before: the dump is contained in an earlier one, or "
        "it is a list of identifiers without the data that would tie it to a new breach. Check that the "
        "earlier incident was handled, consider password resets for the matched accounts (credential "
        "stuffing), and do not pay for it as new."
    ),
    "recombined": (
        "Your customers' identifiers sit next to data that is not yours: likely assembled from earlier or "
        "public leaks. It does not point to a new breach of one system yet. Warn about phishing and "
        "credential stuffing for the matched customers, and rerun when a larger sample appears."
    ),
    "fabricated": (
        "There is no overlap beyond chance: this is not your customers' data (made up, or someone else's). "
        "Keep this run as the evidence when you answer the seller, the press or a regulator."
    ),
    "inconclusive": (
        "The evidence does not decide. Ask for a larger sample, check the column mapping below (--columns) "
        "and that the bundle and key are the right ones, run with the bundle's index if it was left out, and "
        "plant canary customers (sketch --canaries) so the next dump can be proven."
    ),
}
LABEL_COLORS = {
    "genuine": "#b3261e",
    "recycled": "#8a5300",
    "recombined": "#a3470f",
    "fabricated": "#1d6b3b",
    "inconclusive": "#555b66",
}

CSS = """
:root { --ink: #1c1f24; --muted: #5b6270; --line: #d9dce1; --soft: #f4f5f7; --accent: #2b5fad; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
h2 { font-size: 1.15rem; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 16px 0 6px; }
p { margin: 6px 0; }
.muted, .sub { color: var(--muted); }
.sub { margin-bottom: 16px; }
.verdict { border-left: 8px solid var(--verdict); background: var(--soft); padding: 16px 20px; border-radius: 6px; }
.verdict .label { font-size: 1.9rem; font-weight: 700; color: var(--verdict); text-transform: uppercase;
  letter-spacing: .04em; }
.verdict .confidence { font-size: 1.05rem; margin-left: 12px; }
.meter { display: inline-block; width: 160px; height: 10px; background: #fff; border: 1px solid var(--line);
  border-radius: 5px; vertical-align: middle; margin-left: 8px; overflow: hidden; }
.meter span { display: block; height: 100%; background: var(--verdict); }
.verdict ul { margin: 10px 0 6px 20px; padding: 0; }
.next { margin-top: 10px; padding: 10px 14px; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .n { font-size: 1.35rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .k { color: var(--muted); font-size: .85rem; }
.warn { border: 1px solid #e0b252; background: #fff7e3; padding: 8px 12px; border-radius: 6px; margin: 8px 0; }
.danger { border: 1px solid #d88a85; background: #fdeeed; padding: 8px 12px; border-radius: 6px; margin: 8px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: .9rem; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.path { word-break: break-all; }
code { font: .85rem/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
svg { max-width: 100%; height: auto; font-family: inherit; }
svg text { fill: var(--ink); font-size: 12px; }
svg text.legend { fill: var(--muted); }
table.kv th { width: 34%; }
.legend { font-size: .85rem; color: var(--muted); }
footer { margin-top: 40px; font-size: .8rem; color: var(--muted); }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  section, table, .verdict, figure { break-inside: avoid; }
  .scroll { overflow: visible; }
  .verdict, .card, .warn, .danger, th, .meter span { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""
# No script, no fetch of any kind: the browser enforces what the renderer promises.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def esc(value: Any) -> str:
    """Text for an element or a quoted attribute: every value from a run passes through here."""
    return html.escape("" if value is None else str(value), quote=True)


def get(data: Any, *path: Any, default: Any = None) -> Any:
    """data[path[0]][path[1]]…, or default where a key is missing or a level is not a container."""
    for key in path:
        found = isinstance(data, dict) and key in data
        at = isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data)
        if not (found or at):
            return default
        data = data[key]
    return data


def mapping(data: Any, *path: Any) -> dict[str, Any]:
    """The object at ``path``, or {} when it is missing or not an object."""
    found = get(data, *path)
    return found if isinstance(found, dict) else {}


def listed(data: Any, *path: Any, kind: type = dict) -> list[Any]:
    """The items of type ``kind`` in the list at ``path`` ([] when it is missing or not a list)."""
    found = get(data, *path)
    return [item for item in found if isinstance(item, kind)] if isinstance(found, list) else []


def number(value: Any, digits: int = 0) -> str:
    """1234567 → "1,234,567"; floats rounded; anything else (None, text) → "—" or its escaped text."""
    if isinstance(value, bool) or value is None:
        return MISSING if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if math.isfinite(value) else MISSING
    return esc(value)


def percent(value: Any, digits: int = 0) -> str:
    return f"{value * 100:.{digits}f}%" if _real(value) else MISSING


def interval(values: Any) -> str:
    """[low, high] → "low–high"."""
    if isinstance(values, (list, tuple)) and len(values) == 2 and all(_real(v) for v in values):
        return f"{number(float(values[0]))}–{number(float(values[1]))}"
    return MISSING


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: Any) -> int:
    return int(value) if _real(value) else 0


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table of already-escaped cells; columns in ``numeric`` are right-aligned."""

    def cell(tag: str, i: int, text: str) -> str:
        return f'<{tag} class="n">{text}</{tag}>' if i in numeric else f"<{tag}>{text}</{tag}>"

    head = "".join(cell("th", i, esc(h)) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def definitions(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column key/value table; values already escaped."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<div class="scroll"><table class="kv">{rows}</table></div>'


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


# ---- The run report --------------------------------------------------------------------------


def render_run(report: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    """The run's page. ``meta``: what the run manifest adds (tool_version, options); the match step
    passes the same values the manifest will hold, so re-rendering from the manifest gives the same bytes."""
    meta = meta or {}
    inputs = listed(report, "inputs")
    title = "dumpmatch report: " + _inputs_name(inputs)
    body = "".join(
        [
            f"<h1>{esc(title)}</h1>",
            f'<p class="sub">Is this breach dump really ours? Checked against a bundle of '
            f"{number(get(report, 'bundle', 'customers'))} customers.</p>",
            _verdict(mapping(report, "verdict")),
            _cards(report),
            section("cooccurrence", "Does each row agree with one customer?", _cooccurrence(report)),
            section("fields", "Overlap per field", _fields(report)),
            section("canaries", "Canaries", _canaries(report)),
            _fuzzy(mapping(report, "fuzzy")),
            section("library", "Seen before? (library of earlier dumps)", _library(report)),
            section("plausibility", "Plausibility of the dump", _plausibility(report)),
            section("inputs", "What was read", _inputs(report, inputs)),
            section("mapping", "Column mapping used", _mapping(report, inputs)),
            _samples(get(report, "samples")),
            section("run", "Run", _run_meta(report, meta)),
            "<footer>Written by dumpmatch. This page holds counts, estimates, customer ids and keyed-hash "
            "fingerprints; it holds no customer data"
            + (" except the dump rows shown under Sample rows" if get(report, "samples") else "")
            + ".</footer>",
        ]
    )
    return page(title, body)


def _inputs_name(inputs: list[dict[str, Any]]) -> str:
    names = [posixpath.basename(str(e.get("path", ""))) or str(e.get("path", "")) for e in inputs]
    if not names:
        return "(no inputs)"
    return names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")


def _verdict(verdict: Any) -> str:
    label = str(get(verdict, "label", default="inconclusive"))
    color = LABEL_COLORS.get(label, LABEL_COLORS["inconclusive"])
    confidence = get(verdict, "confidence")
    width = max(0.0, min(1.0, confidence)) * 100 if _real(confidence) else 0.0
    reasons = listed(verdict, "reasons", kind=str) or ["no reason recorded"]
    advice = ADVICE.get(label, ADVICE["inconclusive"])
    return (
        f'<section id="verdict" class="verdict" style="--verdict: {color}">'
        f'<div><span class="label">{esc(label)}</span>'
        f'<span class="confidence">confidence {percent(confidence)}</span>'
        f'<span class="meter" aria-hidden="true"><span style="width: {width:.0f}%"></span></span></div>'
        "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>"
        f'<div class="next"><strong>What to do next.</strong> {esc(advice)}</div></section>'
    )


def _cards(report: dict[str, Any]) -> str:
    records = mapping(report, "records")
    cards = [
        (number(get(report, "rows", "read")), "rows read"),
        (number(get(records, "rows")), "rows checked"),
        (number(get(records, "candidates")), "rows linked to a customer"),
        (number(get(records, "customers")), "of your customers named by those rows"),
        (number(get(records, "cooccurring")), "rows with 2+ independent fields on one customer"),
        (number(get(records, "canary")), "canary hits"),
        (number(get(report, "rows", "dead_lettered")), "rows that could not be parsed"),
    ]
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><div class="n">{n}</div><div class="k">{esc(k)}</div></div>' for n, k in cards)
        + "</div>"
    )


def _cooccurrence(report: dict[str, Any]) -> str:
    records = mapping(report, "records")
    histogram = get(records, "fields_matched")
    if not isinstance(histogram, dict) or not histogram:
        return (
            "<p>No per-row links: this run used the bundle's sketches only (no index), so rows cannot be "
            "tied to customers. The per-field estimates below still hold.</p>"
        )
    counts = {int(k): _int(v) for k, v in histogram.items() if str(k).isdigit()}
    chance = get(records, "chance_cooccurring")
    text = (
        f"<p>For every row, the number of its fields that agree with its best-matching customer. A real "
        f"breach of your data has many rows agreeing on two or more fields at once; a list of e-mail "
        f"addresses collected elsewhere (a combo list) agrees on one. "
        f"<strong>{number(get(records, 'cooccurring'))}</strong> rows agree with one customer on two or more "
        f"independent fields; coincidence alone would give about <strong>{number(chance, 1)}</strong>.</p>"
    )
    details = definitions(
        [
            ("rows matching any identifying field", number(get(records, "matched_any"))),
            ("rows linked by e-mail, phone or an id", number(get(records, "strong"))),
            ("rows linked to two or more different customers", number(get(records, "conflicting"))),
            ("co-occurring rows expected by chance", number(chance, 1)),
        ]
    )
    return text + "<figure>" + histogram_svg(counts) + "</figure>" + details


def histogram_svg(counts: dict[int, int]) -> str:
    """Bars of rows per number of fields matched: 0 grey, 1 light, 2+ dark (the co-occurrence)."""
    top = max(counts, default=0)
    buckets = list(range(top + 1))
    peak = max(counts.values(), default=0) or 1
    width, height, left, bottom, head = 640, 230, 40, 40, 24
    step = (width - left - 10) / max(len(buckets), 1)
    bar = min(step * 0.7, 80)
    parts = [
        f'<svg role="img" aria-labelledby="hist-title" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title id="hist-title">Rows by number of fields '
        "matching their best customer</title>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
    ]
    for i, k in enumerate(buckets):
        n = counts.get(k, 0)
        h = (height - bottom - head) * n / peak
        x = left + i * step + (step - bar) / 2
        y = height - bottom - h
        color = "#b9bec7" if k == 0 else "#8fb0e0" if k == 1 else "#2b5fad"
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{color}"/>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 5:.1f}" text-anchor="middle">{n:,}</text>')
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle">{k} '
            f"field{'' if k == 1 else 's'}</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}" class="legend">rows (bars) by fields matched: grey none, light one, '
        "dark two or more</text></svg>"
    )
    return "".join(parts)


def _fields(report: dict[str, Any]) -> str:
    fields = mapping(report, "fields")
    if not isinstance(fields, dict) or not fields:
        return "<p>No field of the dump was compared.</p>"
    rows = []
    for name, value in sorted(fields.items()):
        f = value if isinstance(value, dict) else {}
        minhash = mapping(f, "minhash")
        if get(minhash, "informative") is False:
            mh = f"below resolution (±{number(get(minhash, 'resolution'), 1)})"
        else:
            mh = f"{number(get(minhash, 'intersection'))} ({interval(get(minhash, 'intersection_ci95'))})"
        absent = "" if get(f, "in_bundle", default=True) else '<br><span class="muted">not in your base</span>'
        rows.append(
            [
                f"<strong>{esc(name)}</strong>{absent}",
                number(get(f, "values")),
                number(get(f, "distinct")),
                number(get(f, "matched")),
                number(get(f, "matched_distinct")),
                f"{number(get(f, 'estimate'))} ({interval(get(f, 'ci95'))})" if "estimate" in f else MISSING,
                mh if "minhash" in f else MISSING,
            ]
        )
    headers = [
        "field",
        "rows with a value",
        "distinct",
        "rows matched",
        "distinct matched",
        "Bloom estimate (95%)",
        "MinHash estimate (95%)",
    ]
    note = (
        "<p>The chart shows the share of the dump's distinct values found in your base; the whisker is the "
        "Bloom estimate's 95% interval. Rows matched are exact, from the bundle's keyed index; distinct and "
        "distinct matched count the values of those rows with HyperLogLog, within about 1%. The estimates of "
        "distinct values matched use only the sketches (what a partner holding a sketch-only bundle would "
        "see), with 95% intervals.</p>"
    )
    return note + "<figure>" + overlap_svg(fields) + "</figure>" + table(headers, rows, numeric=(1, 2, 3, 4, 5, 6))


def overlap_svg(fields: dict[str, Any]) -> str:
    """One bar per field: share of the dump's distinct values in your base, with the Bloom interval."""
    names = sorted(fields)
    row, left, right, top = 26, 110, 190, 10
    width = 640
    plot = width - left - right
    height = top + row * len(names) + 28
    parts = [
        f'<svg role="img" aria-labelledby="overlap-title" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title id="overlap-title">Share of the dump\'s '
        "distinct values found in your base, per field</title>"
    ]
    for i, name in enumerate(names):
        f = fields[name] if isinstance(fields[name], dict) else {}
        distinct = get(f, "distinct")
        matched = get(f, "matched_distinct")
        if not _real(matched):
            matched = get(f, "estimate")
        y = top + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{esc(name)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{plot}" height="14" fill="#eef0f3"/>')
        if not (_real(distinct) and distinct > 0 and _real(matched)):
            parts.append(f'<text x="{left + 6}" y="{y + 15}" class="legend">no estimate</text>')
            continue
        share = max(0.0, min(1.0, matched / distinct))
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{plot * share:.1f}" height="14" fill="#2b5fad"/>')
        ci = get(f, "ci95")
        if isinstance(ci, list) and len(ci) == 2 and all(_real(v) for v in ci):
            lo, hi = (left + plot * max(0.0, min(1.0, v / distinct)) for v in ci)
            parts.append(
                f'<path d="M{lo:.1f},{y + 11}H{hi:.1f}M{lo:.1f},{y + 6}V{y + 16}M{hi:.1f},{y + 6}V{y + 16}" '
                'stroke="#1c1f24" stroke-width="1.5" fill="none"/>'
            )
        label = f"{number(matched)} of {number(distinct)} ({percent(share)})"
        parts.append(f'<text x="{left + plot + 8}" y="{y + 15}">{label}</text>')
    axis = top + row * len(names) + 14
    for tick in (0, 0.5, 1):
        parts.append(
            f'<text x="{left + plot * tick:.1f}" y="{axis}" text-anchor="middle" class="legend">{tick:.0%}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _canaries(report: dict[str, Any]) -> str:
    hits = get(report, "records", "canary")
    planted = get(report, "bundle", "canaries")
    if _int(hits) > 0:
        return (
            f'<p class="danger"><strong>{number(hits)} rows link to planted canary customers.</strong> Canaries '
            "exist only in your own data, so a hit is near-proof the dump came from it. The rows are marked "
            "<code>canary</code> in candidates/*.parquet.</p>"
        )
    if _int(planted) > 0:
        return f"<p>No row links to any of the {number(planted)} planted canary customers.</p>"
    if hits is None and not get(report, "bundle", "index", default=True):
        return "<p>Canary hits need the bundle's index; this run used its sketches only.</p>"
    return (
        "<p>No canaries were planted in this bundle. Plant a few fake customers in your systems and pass their "
        "ids to <code>dumpmatch sketch --canaries FILE</code>: a later dump containing one is near-proof.</p>"
    )


def _fuzzy(fuzzy: dict[str, Any]) -> str:
    """Fuzzy links (match --fuzzy), counted apart: shown only when the run made them."""
    if not fuzzy.get("enabled"):
        return ""
    by_score = mapping(fuzzy, "linked_by_score")
    rows = [[esc(f"≥ {score}"), number(count)] for score, count in by_score.items()]
    body = (
        f"<p>{number(fuzzy.get('linked'))} of {number(fuzzy.get('rows'))} rows link fuzzily (score ≥ "
        f"{esc(fuzzy.get('threshold'))}: mean similarity of name, street, city, postcode and dob on keyed encodings) "
        f"to one customer, after {number(fuzzy.get('pairs_scored'))} candidate pairs were scored. They are "
        "<code>match_type: fuzzy</code> rows in candidates/*.parquet and count in no number above.</p>"
    )
    return section("fuzzy", "Fuzzy links (typos, swaps, missing parts)", body + table(["score", "rows"], rows, (1,)))


def _library(report: dict[str, Any]) -> str:
    search = get(report, "library_search")
    if not isinstance(search, dict):
        return "<p>No library was searched (<code>dumpmatch match --library DIR</code> keeps earlier dumps).</p>"
    rows = listed(report, "library")
    unresolved = listed(search, "unresolved")
    text = (
        f"<p>Library <code>{esc(get(search, 'path'))}</code>: {number(get(search, 'compared'))} earlier dumps "
        f"under the same key compared, {number(get(search, 'skipped_other_key'))} under another key skipped.</p>"
    )
    headers = ["earlier dump", "field", "share of this dump contained (95% interval)", "added", "entry"]

    def line(r: dict[str, Any]) -> list[str]:
        return [
            esc(r.get("label")),
            esc(r.get("field")),
            f"{percent(r.get('containment'))} ({percent(get(r, 'ci95', 0))}–{percent(get(r, 'ci95', 1))})",
            esc(r.get("created")),
            f"<code>{esc(r.get('entry_id'))}</code>",
        ]

    if rows:
        text += table(headers, [line(r) for r in rows])
    else:
        text += "<p>No earlier dump contains half or more of this one.</p>"
    if unresolved:
        text += (
            "<h3>Too large to tell</h3><p>These earlier dumps are so much larger than this one that MinHash "
            "cannot resolve the containment; they are not used as evidence.</p>"
            + table(headers, [line(r) for r in unresolved])
        )
    return text


def _plausibility(report: dict[str, Any]) -> str:
    fields = mapping(report, "fields")
    if not isinstance(fields, dict) or not fields:
        return "<p>No field to judge.</p>"
    rows = [
        [
            esc(name),
            number(get(f, "invalid")),
            percent(get(f, "duplicate_share"), 1),
            number(get(f, "diversity", "dump"), 3),
            number(get(f, "diversity", "base"), 3),
        ]
        for name, f in sorted(fields.items())
    ]
    note = (
        "<p>Invalid values are e-mails and phone numbers normalization rejected; many of them suggest generated "
        "data. Diversity is distinct values per value: generated dumps are often far more or far less varied "
        "than your own base.</p>"
    )
    headers = ["field", "invalid values", "repeated values", "diversity in the dump", "diversity in your base"]
    return note + table(headers, rows, numeric=(1, 2, 3, 4))


def _inputs(report: dict[str, Any], inputs: list[dict[str, Any]]) -> str:
    rows = mapping(report, "rows")
    text = (
        f"<p>{number(get(rows, 'read'))} records read = {number(get(rows, 'parsed'))} parsed + "
        f"{number(get(rows, 'dead_lettered'))} that could not be parsed (dead_letter/*.parquet, with the reason) "
        f"+ {number(get(rows, 'headers'))} header lines.</p>"
    )
    for entry in inputs:
        if entry.get("complete") is False:
            text += (
                f'<p class="warn"><strong>Incomplete input:</strong> {esc(entry.get("path"))}: '
                f"{esc(entry.get('incomplete_reason'))}. Results cover only the rows before the fault.</p>"
            )
    headers = [
        "file",
        "format",
        "encoding",
        "compression",
        "size (bytes)",
        "read",
        "parsed",
        "dead-lettered",
        "headers",
        "complete",
    ]
    body = [
        [
            f'<span class="path">{esc(e.get("path"))}</span>',
            esc(e.get("format", MISSING)),
            esc(e.get("encoding") or MISSING),
            esc(e.get("compression", MISSING)),
            number(e.get("size")),
            number(e.get("rows_read")),
            number(e.get("rows_parsed")),
            number(e.get("rows_dead_lettered")),
            number(e.get("headers")),
            number(e.get("complete")),
        ]
        for e in inputs
    ]
    return text + table(headers, body, numeric=(4, 5, 6, 7, 8))


def _mapping(report: dict[str, Any], inputs: list[dict[str, Any]]) -> str:
    rows = []
    for entry in inputs:
        columns = entry.get("columns")
        if isinstance(columns, dict):
            rows += [[esc(entry.get("path")), esc(f), esc(c)] for f, c in sorted(columns.items())]
    if not rows:
        columns = mapping(report, "columns")
        rows = [["", esc(f), esc(c)] for f, c in sorted(columns.items())] if isinstance(columns, dict) else []
    note = (
        "<p>Which dump column was read as which field (from header synonyms, sniffed values, or "
        "<code>--columns</code>). A wrong mapping hides matches: fix it with <code>--columns</code>.</p>"
    )
    return note + table(["file", "field", "dump column"], rows)


def _samples(samples: Any) -> str:
    if not isinstance(samples, list):
        return ""
    samples = [s for s in samples if isinstance(s, dict)]
    if not samples:
        return section("samples", "Sample rows", "<p>No row of the dump links to a customer: no sample to show.</p>")
    names = sorted({str(k) for s in samples for k in mapping(s, "values")})[:SAMPLE_FIELDS_MAX]
    headers = ["file", "line", "customer id", "fields matched", "score", *names]
    rows = [
        [
            f'<span class="path">{esc(s.get("source_file"))}</span>',
            number(s.get("line")),
            esc(s.get("customer_id")),
            esc(", ".join(str(x) for x in s.get("matched_fields") or [])),
            number(s.get("score"), 2),
            *(esc(get(s, "values", n, default="")) for n in names),
        ]
        for s in samples
    ]
    warning = (
        '<p class="warn">Shown because <code>--show-samples</code> was given: these are rows of the dump as '
        "read (the dump's data, not your customer records) next to the customer each one links to. Handle "
        "this page like the dump itself.</p>"
    )
    return section("samples", "Sample rows", warning + table(headers, rows, numeric=(1, 4)))


def _run_meta(report: dict[str, Any], meta: dict[str, Any]) -> str:
    bundle = mapping(report, "bundle")
    pairs = [
        ("tool version", esc(get(meta, "tool_version", default=MISSING))),
        ("report format", f"{esc(get(report, 'format'))} v{esc(get(report, 'format_version'))}"),
        ("bundle", f'<span class="path">{esc(get(bundle, "path"))}</span>'),
        ("bundle key fingerprint", f"<code>{esc(get(bundle, 'key_fingerprint'))}</code>"),
        ("customers in the bundle", number(get(bundle, "customers"))),
        ("canaries planted", number(get(bundle, "canaries"))),
        ("keyed index used", number(get(bundle, "index"))),
    ]
    options = get(meta, "options")
    if isinstance(options, dict):
        shown = {k: v for k, v in sorted(options.items()) if v not in (None, False, [], "") and k != "key_file"}
        pairs += [(f"--{k.replace('_', '-')}", f"<code>{esc(_option(v))}</code>") for k, v in shown.items()]
    return definitions(pairs)


def _option(value: Any) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, list) else str(value)


# ---- A reverify diff --------------------------------------------------------------------------


def render_diff(diff: dict[str, Any]) -> str:
    """A reverify diff.json: what changed between a dump's previous run and its current one."""
    name = get(diff, "dump", default="dump")
    title = f"dumpmatch reverify: {name}"
    material = get(diff, "material")
    banner_class = "danger" if material else "next"
    banner = (
        "Material change: the evidence about this dump is different now."
        if material
        else "No material change."
        if material is False
        else "Whether the change is material was not recorded."
    )
    reasons = listed(diff, "reasons", kind=str)
    body = "".join(
        [
            f"<h1>{esc(title)}</h1>",
            f'<p class="sub">Previous run <code>{esc(get(diff, "previous_run") or "none")}</code> → current run '
            f"<code>{esc(get(diff, 'current_run'))}</code></p>",
            f'<section id="change" class="{banner_class}"><strong>{esc(banner)}</strong>'
            + ("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>" if reasons else "")
            + "</section>",
            section("verdict", "Verdict", _diff_verdict(mapping(diff, "verdict"))),
            section("diff-fields", "Matches per field", _diff_fields(mapping(diff, "fields"))),
            section("customers", "Customers", _diff_customers(diff)),
            section("diff-inputs", "Inputs", _diff_inputs(mapping(diff, "inputs"))),
            section("bundle", "Bundle", _diff_bundle(mapping(diff, "bundle"))),
            f"<footer>Written by dumpmatch from {esc(get(diff, 'format', default='a diff'))} "
            f"v{esc(get(diff, 'format_version', default='?'))}. Counts only, no customer data.</footer>",
        ]
    )
    return page(title, body)


def _diff_verdict(verdict: Any) -> str:
    def say(side: Any) -> str:
        if not isinstance(side, dict):
            return "none (first run)"
        return f"<strong>{esc(side.get('label', MISSING))}</strong> ({percent(side.get('confidence'))})"

    changed = get(verdict, "changed")
    state = "changed" if changed else "unchanged" if changed is False else "not recorded"
    return definitions(
        [("previous", say(get(verdict, "previous"))), ("current", say(get(verdict, "current"))), ("verdict", state)]
    )


def signed(value: Any) -> str:
    if not _real(value):
        return MISSING
    text = number(value, 1 if isinstance(value, float) else 0)
    return text if value <= 0 else "+" + text


def _diff_fields(fields: Any) -> str:
    if not isinstance(fields, dict) or not fields:
        return "<p>No per-field numbers recorded.</p>"
    rows = []
    for name, f in sorted(fields.items()):
        row = [esc(name)]
        for kind in ("matched", "estimate"):
            row += [
                number(get(f, kind, "previous"), 1),
                number(get(f, kind, "current"), 1),
                signed(get(f, kind, "delta")),
            ]
        rows.append(row)
    headers = [
        "field",
        "rows matched before",
        "now",
        "change",
        "distinct matched (estimate) before",
        "now",
        "change",
    ]
    return table(headers, rows, numeric=(1, 2, 3, 4, 5, 6))


def _diff_customers(diff: dict[str, Any]) -> str:
    return definitions(
        [
            ("customers newly matched", number(get(diff, "customers", "newly_matched"))),
            ("customers no longer matched", number(get(diff, "customers", "no_longer_matched"))),
            ("canary hits before", number(get(diff, "canaries", "previous"))),
            ("canary hits now", number(get(diff, "canaries", "current"))),
        ]
    )


def _diff_inputs(inputs: Any) -> str:
    parts = []
    for group, note in (("changed", "changed since the previous run"), ("missing", "missing now"), ("unchanged", "")):
        paths = listed(inputs, group, kind=str)
        items = "".join(f'<li class="path">{esc(p)}</li>' for p in paths) or "<li>none</li>"
        parts.append(f"<h3>{esc(group.capitalize())}{esc(': ' + note if note else '')}</h3><ul>{items}</ul>")
    return "".join(parts)


def _diff_bundle(bundle: Any) -> str:
    rows = []
    for side in ("previous", "current"):
        b = get(bundle, side)
        if isinstance(b, dict):
            rows.append(
                [
                    esc(side),
                    f'<span class="path">{esc(b.get("path"))}</span>',
                    esc(b.get("version", MISSING)),
                    f"<code>{esc(b.get('key_fingerprint'))}</code>",
                ]
            )
        else:
            rows.append([esc(side), "none", MISSING, MISSING])
    return table(["run", "bundle", "version", "key fingerprint"], rows)
