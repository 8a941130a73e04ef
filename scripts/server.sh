#!/usr/bin/env bash
# `make server`: a Prefect server of your own on PostgreSQL, with basic auth required.
# Set in the environment (or in a file named by ENV_FILE, e.g. ENV_FILE=/etc/comic2pdf/server.env):
#   PREFECT_API_DATABASE_CONNECTION_URL  postgresql+asyncpg://USER:PASSWORD@HOST:5432/DATABASE
#   PREFECT_SERVER_API_AUTH_STRING       user:password that every client sends
#                                        (clients: PREFECT_API_AUTH_STRING, the same value)
#   PREFECT_SERVER_API_HOST              address to listen on (default 127.0.0.1; 0.0.0.0 = LAN)
#   PREFECT_SERVER_API_PORT              port (default 4200)
#   PREFECT_UI_API_URL                   the API as browsers reach it, when not on 127.0.0.1
#                                        (e.g. http://prefect.lan:4200/api)
# The server creates and migrates its tables in that database on start. Telemetry is off.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${ENV_FILE:-}" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  set +a
fi

fail() { echo "server: $*" >&2; exit 2; }

case "${PREFECT_API_DATABASE_CONNECTION_URL:-}" in
  postgresql+asyncpg://*) ;;
  "") fail "PREFECT_API_DATABASE_CONNECTION_URL is not set (postgresql+asyncpg://user:password@host:5432/db)" ;;
  *) fail "PREFECT_API_DATABASE_CONNECTION_URL must start with postgresql+asyncpg:// (this script is for PostgreSQL; plain 'prefect server start' runs on SQLite)" ;;
esac
case "${PREFECT_SERVER_API_AUTH_STRING:-}" in
  *?:?*) ;;
  *) fail "PREFECT_SERVER_API_AUTH_STRING is not set: choose a user:password; anyone who reaches an open server can run deployments that read and write the data folder" ;;
esac

prefect=.venv/bin/prefect
[ -x "$prefect" ] || prefect=prefect
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export DO_NOT_TRACK=1
# The slot of a worker killed mid-stage comes back when its lease (60 s, Prefect's least)
# has run out and the repossessor next looks: every 5 s here instead of Prefect's 15.
export PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS="${PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS:-5}"
exec "$prefect" server start \
  --host "${PREFECT_SERVER_API_HOST:-127.0.0.1}" \
  --port "${PREFECT_SERVER_API_PORT:-4200}" \
  "$@"
