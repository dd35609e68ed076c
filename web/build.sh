#!/usr/bin/env bash
# Build the web console into web/dist/ — idempotent: `npm ci` only when package-lock.json is
# newer than the installed node_modules, `npm run build` only when a source is newer than the
# build. Nothing changed: returns in well under a second. Usage (from anywhere): bash web/build.sh
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
    echo "web/build.sh: npm is not installed (apt-get install -y nodejs npm)" >&2
    exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch node_modules/.package-lock.json
fi
if [ ! -f dist/index.html ] || [ -n "$(find index.html vite.config.js package-lock.json src \
        -newer dist/index.html -type f -print -quit)" ]; then
    npm run build --silent
fi
