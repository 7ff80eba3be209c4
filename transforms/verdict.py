"""From the report's numbers to a verdict: a small table of rules, first match wins.

Each rule is data — a label, a confidence, a test over the run's metrics and the
sentence that explains it with its numbers — so the README can list the table and
every rule has its own unit test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transforms.fields import spec

LABELS = ("genuine", "recycled", "recombined", "fabricated", "inconclusive")
MIN_COOCCURRING = 10  # rows with two independent fields on one customer before we call it genuine
COOCCURRING_SHARE = 0.5  # of the rows linked by a strong identifier
STRONG_SHARE = 0.01  # rows linked by a strong identifier, before it is more than chance
CHANCE_ROWS = 2  # exact keyed-digest matches expected by chance in any dump (64-bit collisions: ~0)
CONTAINED = 0.8  # containment in an earlier library dump that makes a dump recycled
SMALL_SAMPLE = 50  # rows below which every confidence is halved
INVALID_SHARE = 0.2  # share of emails/phones that are not even valid: generated, not collected


@dataclass(frozen=True)
class Metrics:
    rows: int
    strong: int
    cooccurring: int
    chance: float  # co-occurring rows expected by coincidence of common weak values
    canary: int
    groups: int  # independent evidence groups the dump has columns for
    invalid_share: float
    containment: float  # best containment of a strong field in an earlier library dump
    contained_in: str
    indexed: bool = True  # False: sketches only, rows cannot be linked to customers


def metrics(report: dict[str, Any]) -> Metrics:
    if not report.get("bundle", {}).get("index", True):
        return _sketch_metrics(report)
    records = report["records"]
    fields = report["fields"]
    groups = {spec(f).group for f, numbers in fields.items() if numbers["values"] and spec(f).group}
    raw = sum(fields[f]["values"] + fields[f]["invalid"] for f in ("email", "phone") if f in fields)
    invalid = sum(fields[f]["invalid"] for f in ("email", "phone") if f in fields)
    library = [e for e in report.get("library", []) if spec(e["field"]).strong]
    best = max(library, key=lambda e: e["containment"], default=None)
    return Metrics(
        rows=records["rows"],
        strong=records["strong"],
        cooccurring=records["cooccurring"],
        chance=records.get("chance_cooccurring", 0.0),
        canary=records["canary"],
        groups=len(groups),
        invalid_share=invalid / raw if raw else 0.0,
        containment=best["containment"] if best else 0.0,
        contained_in=f"{best['label']} ({best['field']})" if best else "",
    )


def _sketch_metrics(report: dict[str, Any]) -> Metrics:
    """Without the index: strong links are the Bloom estimate's lower bound; nothing co-occurs."""
    fields = report["fields"]
    strong = max((round(n["ci95"][0]) for f, n in fields.items() if spec(f).strong and "ci95" in n), default=0)
    groups = {spec(f).group for f, n in fields.items() if n["values"] and spec(f).group}
    return Metrics(
        rows=report["records"]["rows"],
        strong=strong,
        cooccurring=0,
        chance=0.0,
        canary=0,
        groups=len(groups),
        invalid_share=0.0,
        containment=0.0,
        contained_in="",
        indexed=False,
    )


def beyond_chance(m: Metrics) -> float:
    """Co-occurring rows above a generous Poisson upper bound of what coincidence gives."""
    return m.cooccurring - (m.chance + 3 * m.chance**0.5 + CHANCE_ROWS)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _fabricated_reason(m: Metrics) -> str:
    kind = (
        "many emails or phones are not even valid: likely made up"
        if m.invalid_share >= INVALID_SHARE
        else "its emails and phones look real: likely someone else's data"
    )
    return (
        f"only {m.strong} of {m.rows} rows match any customer by email, phone or id, and {m.cooccurring} agree on two "
        f"weaker fields where coincidence alone gives about {m.chance:.1f}: no overlap beyond chance; {kind}"
    )


@dataclass(frozen=True)
class Rule:
    label: str
    confidence: float
    applies: Callable[[Metrics], bool]
    reason: Callable[[Metrics], str]


RULES = (
    Rule(
        "genuine",
        0.99,
        lambda m: m.canary >= 1,
        lambda m: f"{m.canary} rows are planted canary customers, who exist nowhere but in our data",
    ),
    Rule(
        "recycled",
        0.9,
        lambda m: m.containment >= CONTAINED,
        lambda m: f"{m.containment:.0%} of it is contained in earlier dump {m.contained_in}",
    ),
    Rule(
        "genuine",
        0.95,
        lambda m: (
            m.cooccurring >= MIN_COOCCURRING
            and beyond_chance(m) > 0
            and _share(m.cooccurring, m.strong) >= COOCCURRING_SHARE
        ),
        lambda m: (
            f"{m.cooccurring} rows ({_share(m.cooccurring, m.strong):.0%} of those linked by email, phone or id) "
            "agree with one customer on two or more independent fields"
        ),
    ),
    Rule(
        "recycled",
        0.8,
        lambda m: m.groups <= 1 and _share(m.strong, m.rows) >= STRONG_SHARE and m.strong > CHANCE_ROWS,
        lambda m: (
            f"{m.strong} of {m.rows} rows carry our customers' identifiers but the dump has no second field to "
            "confirm them (a combo list): identifiers collected from earlier breaches"
        ),
    ),
    Rule(
        "inconclusive",
        0.5,
        lambda m: not m.indexed and m.strong > CHANCE_ROWS,
        lambda m: (
            f"at least {m.strong} of the dump's identifiers are ours (estimated from the sketches); without the "
            "index rows cannot be linked to customers, so genuine and recombined cannot be told apart"
        ),
    ),
    Rule(
        "recombined",
        0.8,
        lambda m: _share(m.strong, m.rows) >= STRONG_SHARE and m.strong > CHANCE_ROWS,
        lambda m: (
            f"{m.strong} rows carry our customers' identifiers, but only {m.cooccurring} "
            f"({_share(m.cooccurring, m.strong):.0%}) agree on a second field: our identifiers next to other data"
        ),
    ),
    Rule("fabricated", 0.9, lambda m: m.strong <= CHANCE_ROWS and beyond_chance(m) <= 0, _fabricated_reason),
    Rule("inconclusive", 0.5, lambda m: True, lambda m: f"{m.strong} of {m.rows} rows match: no rule decides"),
)


def decide(report: dict[str, Any]) -> dict[str, Any]:
    """The first rule that applies gives the label; its reason carries the numbers."""
    m = metrics(report)
    rule = next(r for r in RULES if r.applies(m))
    confidence = rule.confidence / 2 if m.rows < SMALL_SAMPLE else rule.confidence
    reasons = [rule.reason(m)]
    if m.rows < SMALL_SAMPLE:
        reasons.append(f"only {m.rows} rows: a small sample, confidence halved")
    return {"label": rule.label, "confidence": confidence, "reasons": reasons}
