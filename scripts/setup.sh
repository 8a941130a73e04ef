#!/usr/bin/env bash
# Install everything comic2pdf needs, idempotently:
#   scripts/setup.sh            system packages (runtime + test) and .venv with the package
#   scripts/setup.sh --system-only runtime   just the runtime system packages (Dockerfile)
set -euo pipefail
cd "$(dirname "$0")/.."

lists=(scripts/apt-runtime.txt scripts/apt-test.txt)
system_only=0
if [ "${1:-}" = "--system-only" ]; then
  system_only=1
  [ "${2:-}" = "runtime" ] && lists=(scripts/apt-runtime.txt)
fi

packages=$(grep -hv '^\s*#' "${lists[@]}" | grep -v '^\s*$')
missing=()
for pkg in $packages; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ "$system_only" = 1 ] && exit 0

# The Python side: a .venv with the package (editable) and its test extras,
# reinstalled only when pyproject.toml changed.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch .venv/.installed
fi
