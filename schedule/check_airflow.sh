#!/usr/bin/env bash
# Loads airflow_dag.py in a real Airflow and runs it twice on demo data (`make airflow-check`):
#   1. a first reverification: exit 0, so `changed` skips `alert`;
#   2. after the dump file changes: exit 3, so `alert` runs.
# Airflow goes into its own throwaway venv (default /tmp/dumpmatch-airflow-venv; it is big, and is kept for
# the next check), never into dumpmatch's. Usage: schedule/check_airflow.sh [VENV]; $DUMPMATCH is the command.
set -euo pipefail

venv=${1:-/tmp/dumpmatch-airflow-venv}
dumpmatch=$(command -v "${DUMPMATCH:-dumpmatch}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -x "$venv/bin/airflow" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check apache-airflow
fi
export AIRFLOW_HOME=$work/airflow AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__DAGS_FOLDER=$work/airflow/dags
mkdir -p "$AIRFLOW__CORE__DAGS_FOLDER"
cp "$here/airflow_dag.py" "$AIRFLOW__CORE__DAGS_FOLDER/"
cd "$work"  # Airflow imports from the working directory too
airflow="$venv/bin/airflow"
"$airflow" db migrate >"$work/migrate.log" 2>&1

"$dumpmatch" demo --out "$work/demo" >/dev/null
"$dumpmatch" library add demo-dump "$work/demo/dump.csv" --library "$work/library" >/dev/null
for pair in "dumpmatch_command=$dumpmatch" "dumpmatch_bundle=$work/demo/bundle" \
    "dumpmatch_library=$work/library" "dumpmatch_key_file=$work/demo/demo.key"; do
  "$airflow" variables set "${pair%%=*}" "${pair#*=}" >/dev/null 2>&1
done

# One DAG run; prints the task states that prove which way it went.
run() {
  "$airflow" dags test dumpmatch_reverify "$1" >"$work/dag-$1.log" 2>&1
  grep -o 'exit=[0-9]*' "$work/dag-$1.log" | tail -1
  grep -c 'dumpmatch reverify: material change on' "$work/dag-$1.log" || true
}
first=$(run 2026-01-01)
printf 'x@example.com,Someone\n' >>"$work/demo/dump.csv"
second=$(run 2026-01-02)
echo "first run: $(echo $first)   second run: $(echo $second)"
[ "$(echo $first)" = "exit=0 0" ] && [ "$(echo $second)" = "exit=3 2" ] || {
  echo "check_airflow.sh: unexpected DAG runs; logs: $work (kept)" >&2; trap - EXIT; exit 1; }
echo "airflow_dag.py ran in Airflow $("$venv/bin/python" -c 'import airflow; print(airflow.__version__)'): exit 0 skipped the alert, exit 3 raised it"
