#!/usr/bin/env bash
# Register the deployments of prefect.yaml with the Prefect server at PREFECT_API_URL.
#   scripts/deploy.sh [local]   `make deploy`: process work pool comic2pdf-local, the four
#                               <flow>/local deployments, run from this checkout.
#   scripts/deploy.sh docker    `make deploy-docker`: builds the image from ./Dockerfile once,
#                               tags it per build, pushes it to $COMIC2PDF_REGISTRY and
#                               registers the four <flow>/docker deployments with that tag.
# The schedules and job variables follow comic2pdf's settings in this environment
# (prefect.yaml rendered by deployments/render.py). Safe to run again: deployments are updated in place.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-local}
case "$target" in
  local) pool=comic2pdf-local; pool_type=process ;;
  docker) pool=comic2pdf-docker; pool_type=docker ;;
  *) echo "usage: scripts/deploy.sh [local|docker]" >&2; exit 2 ;;
esac

bin=.venv/bin
[ -x "$bin/prefect" ] || bin=$(dirname "$(command -v prefect)")

# Without PREFECT_API_URL the CLI would talk to a throw-away temporary server.
if ! "$bin/prefect" config view 2>/dev/null | grep -q '^PREFECT_API_URL='; then
  echo "deploy: PREFECT_API_URL is not set. Start a server ('prefect server start'), then" >&2
  echo "  export PREFECT_API_URL=http://127.0.0.1:4200/api   (or: prefect config set PREFECT_API_URL=...)" >&2
  exit 2
fi

if [ "$target" = docker ]; then
  if [ -z "${COMIC2PDF_REGISTRY:-}" ]; then
    echo "deploy: COMIC2PDF_REGISTRY is not set: name the registry every worker host pulls" >&2
    echo "  from, e.g. COMIC2PDF_REGISTRY=registry.lan:5000 make deploy-docker" >&2
    exit 2
  fi
  tag="$(git describe --always --dirty 2>/dev/null || echo build)-$(date -u +%Y%m%d%H%M%S)"
  image="${COMIC2PDF_REGISTRY%/}/comic2pdf:$tag"
fi

# Settings first: a bad value stops here, before anything is built or registered.
rendered=$(mktemp --suffix=.yaml)
trap 'rm -f "$rendered"' EXIT
"$bin/python" -m deployments.render "$target" ${image:+"$image"} >"$rendered"

if [ "$target" = docker ]; then
  docker build --tag "$image" .
  docker push "$image"
fi

if ! "$bin/prefect" work-pool inspect "$pool" >/dev/null 2>&1; then
  "$bin/prefect" work-pool create "$pool" --type "$pool_type"
fi
# `-n local` picks every deployment named local; `-n 'convert-comic/local'` would not
# work for push-metrics (prefect deploy matches the entrypoint's function name).
"$bin/prefect" --no-prompt deploy --prefect-file "$rendered" -n "$target"
