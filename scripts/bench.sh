#!/usr/bin/env bash
# make bench: every benchmark, each figure beside its baseline measured in the same run.
#   BENCH_ONLY=auth,fiber make bench    run some;  BENCH_QUICK=1 make bench    smaller data (smoke)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '==> %s\n' "$*" >&2; }

scripts/services.sh up
# shellcheck disable=SC1091
source .data/env
mkdir -p bench-results
args=()
[ -n "${BENCH_ONLY:-}" ] && args+=(-only "$BENCH_ONLY")
[ -n "${BENCH_QUICK:-}" ] && args+=(-quick)

log "building the benchmark driver"
go build -o bin/hubbench ./hub/cmd/hubbench
log "running (this takes several minutes on 2 cores; progress on stderr)"
bin/hubbench "${args[@]}" | tee bench-results/hub.txt

if [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",edge,"* ]]; then
	log "edge agent replica (bootstrap of 500k rows by pages and by the snapshot file; one change on them; the agent's memory on a 75k-row scope)"
	go build -o bin/edge-agent ./edge-agent/cmd/edge-agent
	go build -o bin/edgebench ./edge-agent/cmd/edgebench
	bin/edgebench ${BENCH_QUICK:+-quick} -agent bin/edge-agent | tee bench-results/edge.txt
fi

if [ -x scripts/bench-pwa.sh ] && { [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",pwa,"* ]]; }; then
	log "PWA (headless Chromium against a local edge agent)"
	scripts/bench-pwa.sh | tee bench-results/pwa.txt
fi
log "results in bench-results/"
