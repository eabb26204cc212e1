#!/usr/bin/env bash
# Builds the web dashboard into ui/dist (served by dashboard-api at /) and makes sure the browser
# tests have Debian's Chromium. Idempotent; run from anywhere.
#   services/dashboard-api/ui/setup.sh            # npm ci + build (+ chromium if missing)
#   PLINTH_UI_SKIP_CHROMIUM=1 .../setup.sh        # build only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [[ "${PLINTH_UI_SKIP_CHROMIUM:-0}" != "1" && ! -x /usr/bin/chromium ]]; then
  echo "setup: installing Debian's chromium for the browser tests"
  if [[ "$(id -u)" == "0" ]]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

# esbuild ships its binary as an optional platform package, so no install script has to run.
npm ci --no-audit --no-fund --ignore-scripts
npm run build
echo "setup: built $(pwd)/dist"
