#!/usr/bin/env bash
# `make deploy`: register the four <flow>/local deployments of prefect.yaml with the
# Prefect server at PREFECT_API_URL, creating the process work pool comic2pdf-local
# first if it is missing. Safe to run again (deployments are updated in place).
set -euo pipefail
cd "$(dirname "$0")/.."

prefect=.venv/bin/prefect
[ -x "$prefect" ] || prefect=prefect
pool=comic2pdf-local

# Without PREFECT_API_URL the CLI would talk to a throw-away temporary server.
if ! "$prefect" config view 2>/dev/null | grep -q '^PREFECT_API_URL='; then
  echo "deploy: PREFECT_API_URL is not set. Start a server ('prefect server start'), then" >&2
  echo "  export PREFECT_API_URL=http://127.0.0.1:4200/api   (or: prefect config set PREFECT_API_URL=...)" >&2
  exit 2
fi

if ! "$prefect" work-pool inspect "$pool" >/dev/null 2>&1; then
  "$prefect" work-pool create "$pool" --type process
fi
# `-n local` picks every deployment named local; `-n 'convert-comic/local'` would not
# work for push-metrics (prefect deploy matches the entrypoint's function name).
"$prefect" --no-prompt deploy --prefect-file prefect.yaml -n local
