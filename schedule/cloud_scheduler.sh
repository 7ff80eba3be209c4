#!/usr/bin/env bash
# Cloud Scheduler → Dataflow flex template: `reverify` as a Dataflow job every day, and an alert metric.
#
# Needs gcloud and: PROJECT, REGION, BUCKET (gs://BUCKET/bundles, /library, /templates/dumpmatch.json from
# `make template`, /tmp), KEY_FILE (gs:// path of the key), IMAGE (the template's image, as printed by
# `make template`) and SCHEDULER_SA (a service account that may launch the job: roles/dataflow.developer,
# and roles/iam.serviceAccountUser on the workers' service account). Optional: SCHEDULE (cron syntax, UTC).
#
# A template launch returns at once, so nobody sees reverify's exit status. Its signals are in Cloud
# Logging instead: each dump's last step logs "dumpmatch reverify: dump NAME: material change: ..." at
# WARNING (else "nothing material" at INFO), and diff.json lands in each dump's run folder. This script
# creates the log-based metric dumpmatch-material-change; alert on it (> 0), and on the Dataflow metric
# job/is_failed for errors, in Monitoring → Alerting with your notification channel.
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}" "${KEY_FILE:?set KEY_FILE}"
: "${IMAGE:?set IMAGE}" "${SCHEDULER_SA:?set SCHEDULER_SA}"

body=$(mktemp)
trap 'rm -f "$body"' EXIT
sed -e "s#@BUCKET@#$BUCKET#g" -e "s#@KEY_FILE@#$KEY_FILE#g" -e "s#@IMAGE@#$IMAGE#g" \
  "$(dirname "$0")/flex_launch.json" >"$body"

gcloud scheduler jobs create http dumpmatch-reverify \
  --project "$PROJECT" --location "$REGION" --schedule "${SCHEDULE:-17 3 * * *}" --time-zone UTC \
  --uri "https://dataflow.googleapis.com/v1b3/projects/$PROJECT/locations/$REGION/flexTemplates:launch" \
  --http-method POST --headers Content-Type=application/json --message-body-from-file "$body" \
  --oauth-service-account-email "$SCHEDULER_SA" --oauth-token-scope https://www.googleapis.com/auth/cloud-platform

gcloud logging metrics create dumpmatch-material-change --project "$PROJECT" \
  --description "dumpmatch reverify found a material change in a registered dump (see its diff.json)" \
  --log-filter 'resource.type="dataflow_step" AND severity>=WARNING AND jsonPayload.message:"material change"'
