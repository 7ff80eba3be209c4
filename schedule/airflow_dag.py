"""Airflow DAG: rerun every registered dump daily. A material change alerts; an error fails the run.

Copy this file into Airflow's DAGs folder on a worker where `dumpmatch` is installed (or set the Variable
dumpmatch_command to its path), and set the Airflow Variables dumpmatch_bundle, dumpmatch_library and
dumpmatch_key_file (local or gs:// paths; the key file's path, never the key). Add Beam options to
dumpmatch_options, e.g. "--runner DataflowRunner --project P --region R --temp_location gs://b/tmp".

Tasks: `reverify` runs the command and succeeds on exit 0 and 3, printing which as its last line (pushed
to XCom); exit 2 or 1 fails it, and Airflow's own failure alerting (email_on_failure, on_failure_callback)
fires. `changed` lets `alert` run only after exit 3; `alert` runs the Variable dumpmatch_alert_command
with the summary, e.g. a mail or chat webhook call.
"""

from __future__ import annotations

from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import ShortCircuitOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import ShortCircuitOperator

CHANGED = "exit=3"
REVERIFY = (
    "{{ var.value.get('dumpmatch_command', 'dumpmatch') }} reverify"
    " --bundle {{ var.value.dumpmatch_bundle }}"
    " --library {{ var.value.dumpmatch_library }}"
    " --key-file {{ var.value.dumpmatch_key_file }}"
    " {{ var.value.get('dumpmatch_options', '') }}"
)
# 0 and 3 succeed and say which on the last line (XCom); anything else fails the task.
RUN = REVERIFY + '; status=$?; echo "exit=$status"; [ "$status" -eq 0 ] || [ "$status" -eq 3 ]'
ALERT = (
    "{{ var.value.get('dumpmatch_alert_command', 'echo') }} "
    "'dumpmatch reverify: material change on {{ ds }}: see diff.json of each dump in {{ var.value.dumpmatch_library }}'"
)


def material_change(ti: object) -> bool:
    """True after exit 3: the reverify task's last output line."""
    return ti.xcom_pull(task_ids="reverify") == CHANGED  # type: ignore[attr-defined]


with DAG(
    dag_id="dumpmatch_reverify",
    description="Rerun registered breach dumps against the newest customer bundle; alert on material change",
    schedule="17 3 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 0, "execution_timeout": timedelta(hours=6)},
    tags=["dumpmatch"],
) as dag:
    reverify = BashOperator(task_id="reverify", bash_command=RUN, do_xcom_push=True)
    changed = ShortCircuitOperator(task_id="changed", python_callable=material_change)
    alert = BashOperator(task_id="alert", bash_command=ALERT)
    reverify >> changed >> alert
