#!/usr/bin/env bash
# make run: the whole local stack with demo data. Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '==> %s\n' "$*"; }

started_services=0
[ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ] && started_services=1
scripts/services.sh up
# shellcheck disable=SC1091
source .data/env

log "building (front-end assets from npm, then the Go binaries)"
make -s build

export HUB_DATA_DIR=${HUB_DATA_DIR:-$root/.data/hub}
export HUB_ADDR=${HUB_ADDR:-127.0.0.1:8080}
export EDGE_ADDR=${EDGE_ADDR:-127.0.0.1:8081}
export EDGE_DATA_DIR=${EDGE_DATA_DIR:-$root/.data/edge-tech1}
hub_url="http://$HUB_ADDR"
edge_url="http://$EDGE_ADDR"

pids=()
cleanup() {
	trap - INT TERM EXIT
	log "stopping"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ "$started_services" = 1 ] && scripts/services.sh down
	log "stopped"
}
trap cleanup INT TERM EXIT

log "migrating and seeding"
bin/hub migrate
bin/hub seed --demo

log "starting the hub on $hub_url"
bin/hub serve &
pids+=($!)
for _ in $(seq 120); do
	curl -fsS "$hub_url/readyz" >/dev/null 2>&1 && break
	kill -0 "${pids[0]}" 2>/dev/null || { log "the hub exited; see the log above"; exit 1; }
	sleep 0.5
done
curl -fsS "$hub_url/readyz" >/dev/null || { log "the hub is not ready"; exit 1; }

edge_started=0
if [ -x bin/edge-agent ] && [ -x scripts/edge-demo.sh ]; then
	if scripts/edge-demo.sh "$hub_url" "$EDGE_DATA_DIR"; then
		bin/edge-agent run --data "$EDGE_DATA_DIR" --listen "$EDGE_ADDR" &
		pids+=($!)
		edge_started=1
	else
		log "the demo edge agent could not be enrolled; the hub runs without it"
	fi
fi

cat <<MSG

  DotMac Field is running.

  Hub (staff)        $hub_url/admin        admin@example.com / admin123!   dispatcher@example.com / dispatch123!
  Customer portal    $hub_url/portal       customer1@example.com / customer123!
  Reseller portal    $hub_url/reseller     reseller1@example.com / reseller123!
  Vendor portal      $hub_url/vendor       vendor1@example.com / vendor123!
$( [ "$edge_started" = 1 ] && echo "  Technician PWA     $edge_url/             tech1@example.com / tech123!  (edge agent, works offline)" )
  API                $hub_url/api/v1       health: $hub_url/healthz  metrics: $hub_url/metrics

  Ctrl-C stops everything. Data stays in .data/ for the next run.

MSG
wait -n "${pids[@]}" || true
