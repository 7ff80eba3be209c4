"""The scheduling recipes in schedule/ run, and their command lines are the CLI's real options.

The cron wrapper runs for real (exit 0, 3 and 2 and the alerts they raise); the crontab line, the Airflow
DAG (read with ``ast``: Airflow is no dependency; ``make airflow-check`` runs it in a real Airflow) and the
Cloud Scheduler body go through reverify's own parser, and the Cloud Scheduler script runs with a gcloud
that records what it is asked to do.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import common, flex, reverify
from tests.test_reverify import World
from transforms.errors import InputError

SCHEDULE = Path(__file__).resolve().parents[1] / "schedule"
METADATA = SCHEDULE.parent / "dataflow" / "metadata.json"
DUMPMATCH = Path(sys.executable).parent / "dumpmatch"
JINJA = re.compile(r"\{\{.*?\}\}")
CRON_FIELD = re.compile(r"^(\*|\d+)(-\d+)?(/\d+)?(,(\*|\d+)(-\d+)?(/\d+)?)*$")
WRAPPER_SECONDS = 300
PLACEHOLDERS = {"@BUCKET@": "my-bucket", "@KEY_FILE@": "gs://my-secure/dumpmatch.key", "@IMAGE@": "r/p/dumpmatch:1"}


def _parses(argv: list[str]) -> argparse.Namespace:
    """reverify's parser takes every option; anything left over must be a Beam option."""
    args, rest = reverify.make_parser().parse_known_args(argv)
    common.beam_options(rest, "test")
    return args


def _wrapper(world: World, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    """schedule/reverify.sh as cron runs it; returns its status, its output and the alert it raised."""
    alerts = tmp_path / "alerts.txt"
    alerts.unlink(missing_ok=True)
    alert = tmp_path / "alert.sh"
    alert.write_text(f'#!/bin/sh\n{{ echo "$1|$2"; cat; }} > {alerts}\n')
    alert.chmod(0o755)
    argv = ["--bundle", world.path("bundles"), "--library", world.path("lib"), *extra]
    env = {**os.environ, "DUMPMATCH": str(DUMPMATCH), "DUMPMATCH_ALERT": str(alert)}
    done = subprocess.run(
        [str(SCHEDULE / "reverify.sh"), *argv], env=env, capture_output=True, text=True, timeout=WRAPPER_SECONDS
    )
    return done.returncode, done.stdout, alerts.read_text() if alerts.exists() else ""


def test_the_cron_wrapper_maps_exit_codes_to_alerts(tmp_path: Path) -> None:
    world = World(tmp_path / "inputs", str(tmp_path))
    world.sketch()
    world.register()
    key = ["--key-file", world.path("k.key")]
    status, output, alert = _wrapper(world, tmp_path, *key)
    assert (status, alert) == (common.DONE, "") and "forum-a: nothing material" in output
    dump = Path(world.path("a.csv"))
    dump.write_bytes(dump.read_bytes() + b"x@example.com,Someone\n")
    status, output, alert = _wrapper(world, tmp_path, *key)
    assert status == common.CHANGED
    first, *rest = alert.splitlines()
    assert first.startswith("changed|dumpmatch reverify: changed (exit 3)")
    assert "forum-a: material change: 1 input files changed since registration" in "\n".join(rest)
    status, _, alert = _wrapper(world, tmp_path, "--key-file", world.path("missing.key"))
    assert status == common.INPUT_ERROR and alert.startswith("failed|dumpmatch reverify: failed (exit 2)")
    assert "missing.key does not exist" in alert


def test_the_crontab_line_runs_the_wrapper_with_reverify_options() -> None:
    lines = [line for line in (SCHEDULE / "crontab").read_text().splitlines() if line and not line.startswith("#")]
    settings = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    assert settings["CRON_TZ"] == "UTC" and settings["DUMPMATCH"].endswith("/.venv/bin/dumpmatch")
    (entry,) = [line for line in lines if not re.match(r"^[A-Z_]+=", line)]
    *times, command = entry.split(maxsplit=5)
    assert len(times) == 5 and all(CRON_FIELD.match(field) for field in times)
    words = shlex.split(command)
    assert words[0].endswith("/schedule/reverify.sh") and (SCHEDULE / "reverify.sh").stat().st_mode & 0o111
    argv = words[1 : words.index(">>/var/log/dumpmatch-reverify.log")]
    args = _parses(argv)
    assert args.bundle and args.library and args.key_file


def _dag() -> tuple[ast.Module, dict[str, str]]:
    """The DAG file's syntax tree and its string constants (module-level assignments)."""
    tree = ast.parse((SCHEDULE / "airflow_dag.py").read_text())
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                constants[name] = node.value.value
            elif isinstance(node.value, ast.BinOp) and isinstance(node.value.left, ast.Name):
                assert isinstance(node.value.right, ast.Constant)
                constants[name] = constants[node.value.left.id] + node.value.right.value
    return tree, constants


def _operators(tree: ast.Module) -> dict[str, tuple[str, dict[str, ast.expr]]]:
    """task_id → (operator class, keyword arguments) of every operator the DAG file makes."""
    found = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id.endswith("Operator"):
            keywords = {k.arg: k.value for k in call.keywords if k.arg}
            task = keywords["task_id"]
            assert isinstance(task, ast.Constant)
            found[task.value] = (call.func.id, keywords)
    return found


def _render(template: str) -> str:
    """Jinja placeholders as Airflow would fill them: Variables become X, the optional extra options nothing."""
    return JINJA.sub(lambda m: "" if "dumpmatch_options" in m.group() else "X", template)


def test_the_airflow_dag_runs_reverify_with_its_real_options() -> None:
    tree, constants = _dag()
    operators = _operators(tree)
    assert {task: kind for task, (kind, _) in operators.items()} == {
        "reverify": "BashOperator",
        "changed": "ShortCircuitOperator",
        "alert": "BashOperator",
    }
    command = operators["reverify"][1]["bash_command"]
    assert isinstance(command, ast.Name) and command.id == "RUN"
    reverify_part, status = _render(constants["RUN"]).split(";", 1)
    words = shlex.split(reverify_part)
    assert words[:2] == ["X", "reverify"]
    args = _parses(words[2:])
    assert (args.bundle, args.library, args.key_file) == ("X", "X", "X")
    assert '[ "$status" -eq 0 ] || [ "$status" -eq 3 ]' in status
    assert 'echo "exit=$status"' in status and constants["CHANGED"] == "exit=3", "`changed` compares the last line"


def _launch_body() -> dict:
    text = (SCHEDULE / "flex_launch.json").read_text()
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return json.loads(text)


def test_the_cloud_scheduler_body_launches_reverify_through_the_flex_template() -> None:
    launch = _launch_body()["launchParameter"]
    parameters = launch["parameters"]
    command, argv = flex.command_line([f"--{name}={value}" for name, value in parameters.items()])
    assert command == "reverify"
    args = _parses(argv)
    assert (args.bundle, args.library, args.key_file) == (
        "gs://my-bucket/bundles",
        "gs://my-bucket/library",
        PLACEHOLDERS["@KEY_FILE@"],
    )
    template = {p["name"] for p in json.loads(METADATA.read_text())["parameters"]}
    assert set(parameters) - template == {"sdk_container_image"}, "the rest are template parameters"
    assert launch["containerSpecGcsPath"] == "gs://my-bucket/templates/dumpmatch.json"


def test_the_cloud_scheduler_script_creates_the_job_and_the_alert_metric(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "bin" / "gcloud"
    fake.parent.mkdir()
    # Records each call's arguments and, for the scheduler job, the body file it was given.
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'for a in "$@"; do [ "$prev" = "--message-body-from-file" ] && cat "$a" >> ' + f"{calls}; " + "prev=$a; done\n"
    )
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "PROJECT": "p",
        "REGION": "europe-west1",
        "BUCKET": PLACEHOLDERS["@BUCKET@"],
        "KEY_FILE": PLACEHOLDERS["@KEY_FILE@"],
        "IMAGE": PLACEHOLDERS["@IMAGE@"],
        "SCHEDULER_SA": "launcher@p.iam.gserviceaccount.com",
    }
    subprocess.run([str(SCHEDULE / "cloud_scheduler.sh")], env=env, check=True, timeout=WRAPPER_SECONDS)
    text = calls.read_text()
    assert "scheduler jobs create http dumpmatch-reverify" in text
    assert "https://dataflow.googleapis.com/v1b3/projects/p/locations/europe-west1/flexTemplates:launch" in text
    body = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert body == _launch_body()
    assert "logging metrics create dumpmatch-material-change" in text and "material change" in text
    missing = subprocess.run([str(SCHEDULE / "cloud_scheduler.sh")], env={**env, "IMAGE": ""}, capture_output=True)
    assert missing.returncode != 0 and b"IMAGE" in missing.stderr


def test_a_bad_option_in_a_recipe_would_be_caught() -> None:
    """The parser check above can fail: a misspelt option is refused, not passed to Beam silently."""
    with pytest.raises(InputError, match="--libary"):
        _parses(["--bundle", "b", "--library", "l", "--libary", "l"])
