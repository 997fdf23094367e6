#!/usr/bin/env bash
# Browser tests: Playwright (npm playwright-core) drives Debian's Chromium against a real hub and a
# real edge agent whose link to NATS runs through a TCP proxy that the test cuts and restores.
# Called by scripts/test.sh (make test); runs alone as scripts/e2e.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/stack.sh
source scripts/stack.sh
start_stack
out=${SCREENSHOT_DIR:-$root/test-results/screenshots}
mkdir -p "$out"
log "Playwright against $edge_url (screenshots in ${out#$root/})"
status=0
EDGE_URL=$edge_url HUB_URL=$hub_url SCREENSHOT_DIR=$out \
	E2E_LINK_DOWN="kill -USR1 $proxy" E2E_LINK_UP="kill -USR2 $proxy" \
	node --test --test-reporter=spec pwa/e2e/field.spec.mjs || status=$?
if [ "$status" != 0 ]; then
	log "browser tests failed; the last lines of the logs:"
	stack_logs
fi
exit "$status"
