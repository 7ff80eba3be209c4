"""The verdict: each rule on its own, then generated scenarios end to end."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines import match, sketch
from tests.conftest import sketched_base, write_csv
from transforms import synthetic, verdict


def _report(
    rows: int,
    strong: int,
    cooccurring: int,
    canary: int = 0,
    fields: tuple[str, ...] = ("email", "name"),
    invalid: int = 0,
    library: list[dict] | None = None,
) -> dict:
    numbers = {f: {"values": rows, "invalid": invalid if f == "email" else 0} for f in fields}
    return {
        "records": {"rows": rows, "strong": strong, "cooccurring": cooccurring, "canary": canary},
        "fields": numbers,
        "library": library or [],
    }


@pytest.mark.parametrize(
    ("report", "label"),
    [
        (_report(1000, 0, 0, canary=1), "genuine"),
        (_report(1000, 900, 10, library=[{"field": "email", "containment": 0.93, "label": "old.csv"}]), "recycled"),
        (_report(1000, 600, 590), "genuine"),
        (_report(1000, 300, 0, fields=("email",)), "recycled"),
        (_report(1000, 300, 12), "recombined"),
        (_report(1000, 1, 0), "fabricated"),
        (_report(1000, 5, 3), "inconclusive"),
    ],
    ids=["canary", "library", "cooccurring", "combo", "recombined", "fabricated", "inconclusive"],
)
def test_each_rule(report: dict, label: str) -> None:
    decided = verdict.decide(report)
    assert decided["label"] == label
    assert decided["reasons"] and any(ch.isdigit() for ch in decided["reasons"][0])


def test_fabricated_says_which_kind() -> None:
    made_up = verdict.decide(_report(1000, 0, 0, invalid=500))["reasons"][0]
    someone_elses = verdict.decide(_report(1000, 0, 0))["reasons"][0]
    assert "made up" in made_up and "someone else" in someone_elses


def test_small_samples_halve_confidence() -> None:
    assert verdict.decide(_report(20, 15, 14))["confidence"] == pytest.approx(0.475)


def test_labels_are_the_documented_set() -> None:
    assert {rule.label for rule in verdict.RULES} == set(verdict.LABELS)


# ---- scenarios ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("verdict")
    canary_id = "C00000017"  # synthetic customer ids are C + 8 digits, in order
    (folder / "canaries.txt").write_text(f"# planted\n{canary_id}\n")
    key, base = sketched_base(folder, 3000, "--canaries", str(folder / "canaries.txt"))
    assert canary_id in base.column("customer_id").to_pylist()
    return {"folder": folder, "key": key, "base": base, "canary": canary_id}


def _run(world: dict, tmp_path: Path, table: pa.Table, name: str = "dump.csv") -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    dump = write_csv(tmp_path / name, table)
    args = ["--bundle", str(world["folder"] / "bundle"), "--dump", str(dump), "--out", str(tmp_path / "run")]
    return match.run([*args, "--key-file", str(world["key"])])


def test_genuine_sample_with_noise(world: dict, tmp_path: Path) -> None:
    base = world["base"].filter(pc.not_equal(world["base"].column("customer_id"), world["canary"]))
    report = _run(world, tmp_path, synthetic.dump(base, 400, 0.9).table)
    assert report["verdict"]["label"] == "genuine"


def test_canary_hit(world: dict, tmp_path: Path) -> None:
    canary_row = world["base"].filter(pc.equal(world["base"].column("customer_id"), world["canary"]))
    fakes = synthetic.dump(world["base"], 200, 0.0).table
    row = synthetic.dump(canary_row, 1, 1.0).table
    report = _run(world, tmp_path, pa.concat_tables([fakes, row]))
    assert report["records"]["canary"] == 1
    assert report["verdict"]["label"] == "genuine" and "canary" in report["verdict"]["reasons"][0]


def test_combo_list_with_some_of_our_emails(world: dict, tmp_path: Path) -> None:
    mixed = synthetic.dump(world["base"], 400, 0.3).table.column("E-Mail")
    lines = "".join(f"{e.strip()}:hunter2\n" for e in mixed.to_pylist())
    (tmp_path / "combo.txt").write_text(lines)
    args = [
        "--bundle",
        str(world["folder"] / "bundle"),
        "--dump",
        str(tmp_path / "combo.txt"),
        "--out",
        str(tmp_path / "run"),
    ]
    report = match.run([*args, "--key-file", str(world["key"])])
    assert report["inputs"][0]["format"] == "combo"
    assert report["verdict"]["label"] == "recycled"


def test_recombined_our_emails_with_fake_names_and_addresses(world: dict, tmp_path: Path) -> None:
    genuine = synthetic.dump(world["base"], 400, 1.0).table
    fake = synthetic.dump(synthetic.customers(400, seed=99, first_id=10**6), 400, 1.0).table
    mixed = fake.set_column(fake.schema.get_field_index("E-Mail"), "E-Mail", genuine.column("E-Mail"))
    mixed = mixed.drop_columns(["Mobile"])
    report = _run(world, tmp_path, mixed)
    assert report["verdict"]["label"] == "recombined"


def test_fabricated_list(world: dict, tmp_path: Path) -> None:
    other = synthetic.customers(500, seed=5, first_id=2 * 10**6)
    report = _run(world, tmp_path, synthetic.dump(other, 500, 1.0).table)
    assert report["verdict"]["label"] == "fabricated"
    for field in ("email", "phone"):
        low, high = report["fields"][field]["ci95"]
        assert low <= report["fields"][field]["matched_distinct"] <= high


def test_intervals_cover_the_truth_in_a_small_simulation() -> None:
    from bench.eval import coverage

    table = coverage(base_size=20000, dump_size=4000, trials=8, seed=3)
    overall = [sum(c[i] for c in table.values()) / len(table) for i in (0, 1)]
    assert min(overall) >= 0.9, table


def test_sketch_only_bundle_gives_estimates_that_contain_the_exact_counts(world: dict, tmp_path: Path) -> None:
    folder = world["folder"]
    shared = tmp_path / "shared-bundle"
    sketch.run(
        [
            "--customers",
            str(folder / "customers.csv"),
            "--out",
            str(shared),
            "--key-file",
            str(world["key"]),
            "--sketch-only",
        ]
    )
    assert not (shared / "index").exists()
    dump = synthetic.dump(world["base"], 500, 0.6).table
    exact = _run(world, tmp_path / "exact", dump)
    path = write_csv(tmp_path / "dump.csv", dump)
    args = ["--dump", str(path), "--key-file", str(world["key"])]
    for bundle_path, extra in ((shared, []), (folder / "bundle", ["--no-index"])):
        report = match.run(["--bundle", str(bundle_path), "--out", str(tmp_path / f"run-{len(extra)}"), *args, *extra])
        assert report["bundle"]["index"] is False
        assert report["fields"]["email"]["matched"] is None and report["records"]["candidates"] is None
        for field in ("email", "phone"):
            low, high = report["fields"][field]["ci95"]
            assert low <= exact["fields"][field]["matched_distinct"] <= high
        assert report["verdict"]["label"] == "inconclusive"
