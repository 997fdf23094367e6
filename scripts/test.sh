#!/usr/bin/env bash
# make test: every test of every module against real services (started here unless
# DATABASE_URL / REDIS_URL are set), then the browser tests. `scripts/test.sh go` runs Go only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '==> %s\n' "$*"; }
start=$(date +%s)

scripts/services.sh up
# shellcheck disable=SC1091
source .data/env
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$DATABASE_URL}
export TEST_REDIS_URL=${TEST_REDIS_URL:-$REDIS_URL}

log "front-end assets"
scripts/assets.sh hub
scripts/assets.sh pwa

log "go vet"
go vet ./sync/... ./migrations/... ./hub/... ./edge-agent/...

# -race where concurrency matters: the sync engine, the edge agent and the hub's services.
log "go test (race detector on)"
go test -race -count=1 -timeout 30m ./sync/... ./migrations/... ./hub/... ./edge-agent/... 2>&1 | tee test-go.log
status=${PIPESTATUS[0]}
[ "$status" = 0 ] || { log "Go tests failed"; exit "$status"; }

if [ "${1:-}" != go ]; then
	log "PWA unit tests (node --test)"
	make -s -C pwa test
fi

# The browser tests drive the PWA through a real hub and edge agent (scripts/e2e.sh); E2E=0 skips them.
if [ "${1:-}" != go ] && [ "${E2E:-1}" = 1 ]; then
	log "browser tests (Playwright + Chromium against a real hub and edge agent)"
	scripts/e2e.sh
fi
rm -f test-go.log
log "all tests passed in $(( $(date +%s) - start ))s"
