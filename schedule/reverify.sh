#!/usr/bin/env bash
# Runs `dumpmatch reverify ARGS...` for cron (or any scheduler) and turns its exit status into an alert:
#   0      nothing material changed   no alert
#   3      something material changed alert "changed": each dump's diff.json says what
#   other  2 bad input, 1 failure     alert "failed": the output's last line says why
# The alert: $DUMPMATCH_ALERT, an executable run as `$DUMPMATCH_ALERT changed|failed SUMMARY` with the
# command's output on stdin (counts, labels and paths; never a customer's data). Without it the summary
# goes to syslog (logger) and to stderr, which cron mails to the crontab's MAILTO.
# $DUMPMATCH is the dumpmatch command (default: dumpmatch on PATH). The exit status is passed on.
set -u

output=$(mktemp)
trap 'rm -f "$output"' EXIT
"${DUMPMATCH:-dumpmatch}" reverify "$@" >"$output" 2>&1
status=$?
cat "$output"

case $status in
  0) exit 0 ;;
  3) kind=changed ;;
  *) kind=failed ;;
esac
summary="dumpmatch reverify: $kind (exit $status) on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ -n "${DUMPMATCH_ALERT:-}" ]; then
  "$DUMPMATCH_ALERT" "$kind" "$summary" <"$output" || echo "reverify.sh: the alert command $DUMPMATCH_ALERT failed" >&2
else
  if command -v logger >/dev/null; then
    logger -t dumpmatch -p user.warning "$summary"
  fi
  echo "$summary" >&2
fi
exit "$status"
