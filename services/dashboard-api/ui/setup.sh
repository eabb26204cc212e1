#!/usr/bin/env bash
# Builds the web dashboard into ui/dist (served by dashboard-api at /) and makes sure the browser
# tests have Debian's Chromium. Idempotent; run from anywhere.
#   services/dashboard-api/ui/setup.sh            # npm ci + build (+ chromium if missing)
# npm ci runs only when package-lock.json changed, the build only when its inputs (sources,
# index.html, configuration, packages) changed or dist/ is gone: stamps in node_modules/, dist/.
#   PLINTH_UI_SKIP_CHROMIUM=1 .../setup.sh        # build only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [[ "${PLINTH_UI_SKIP_CHROMIUM:-0}" != "1" && ! -x /usr/bin/chromium ]]; then
  echo "setup: installing Debian's chromium for the browser tests"
  if [[ "$(id -u)" == "0" ]]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

# Hash of a set of files (names and contents), to skip work whose inputs have not changed.
fingerprint() {
  local path existing=()
  for path in "$@"; do
    if [[ -e "$path" ]]; then existing+=("$path"); fi
  done
  find "${existing[@]}" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
deps="$(fingerprint package.json package-lock.json)"
build="$(fingerprint package.json package-lock.json index.html src public tsconfig*.json vite.config.*)"

# esbuild ships its binary as an optional platform package, so no install script has to run.
if [[ -f node_modules/.plinth-deps-stamp && "$(cat node_modules/.plinth-deps-stamp)" == "$deps" ]]; then
  echo "setup: npm packages up to date (package-lock.json unchanged)"
else
  npm ci --no-audit --no-fund --ignore-scripts
  echo "$deps" > node_modules/.plinth-deps-stamp
fi
if [[ -f dist/index.html && -f dist/.plinth-build-stamp && "$(cat dist/.plinth-build-stamp)" == "$build" ]]; then
  echo "setup: $(pwd)/dist is up to date (sources unchanged)"
else
  npm run build
  echo "$build" > dist/.plinth-build-stamp
  echo "setup: built $(pwd)/dist"
fi
