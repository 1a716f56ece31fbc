#!/usr/bin/env bash
# Installs the real client libraries the integration tests drive Osprey with (StatsD,
# EMF, X-Ray SDK, OpenTelemetry) into tests/npm/node_modules, exactly as the committed
# package-lock.json pins them. Skipped when the installed tree already matches the lock.
set -euo pipefail
cd "$(dirname "$0")/../tests/npm"
stamp=node_modules/.osprey-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
