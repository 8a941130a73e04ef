#!/usr/bin/env bash
# `make worker`: run the flows of the <flow>/local deployments on this machine.
# Each run starts in the checkout `make deploy` ran from (the deployments' pull step)
# and inherits this environment: set DATA_DIR, OCR_LANG… here (default DATA_DIR: ./data).
set -euo pipefail
cd "$(dirname "$0")/.."

prefect=.venv/bin/prefect
[ -x "$prefect" ] || prefect=prefect
exec "$prefect" worker start --pool comic2pdf-local "$@"
