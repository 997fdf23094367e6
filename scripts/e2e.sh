#!/usr/bin/env bash
# Browser tests: Playwright (npm playwright-core) drives Debian's Chromium against a real hub and a
# real edge agent whose link to NATS runs through a TCP proxy that the test cuts and restores.
# Called by scripts/test.sh (make test); runs alone as scripts/e2e.sh after `make services`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '==> %s\n' "$*"; }

if [ ! -x /usr/bin/chromium ]; then
	[ "$(id -u)" = 0 ] || { log "chromium is missing: apt-get install chromium"; exit 1; }
	log "installing Chromium with apt"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
scripts/services.sh up
# shellcheck disable=SC1091
source .data/env
[ -f edge-agent/web/pwa/index.html ] || scripts/assets.sh pwa
mkdir -p bin
go build -o bin/hub ./hub/cmd/hub
CGO_ENABLED=0 go build -o bin/edge-agent ./edge-agent/cmd/edge-agent
go build -o bin/linkproxy ./edge-agent/cmd/linkproxy

free_port() { local p=$1; while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done; echo "$p"; }
work=$(mktemp -d)
out=${SCREENSHOT_DIR:-$root/test-results/screenshots}
mkdir -p "$out"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

db="${DATABASE_URL%/*}/dmf_e2e?sslmode=disable"
psql "${DATABASE_URL%/*}/postgres" -qc 'DROP DATABASE IF EXISTS dmf_e2e WITH (FORCE)' -c 'CREATE DATABASE dmf_e2e' >/dev/null
hub_port=$(free_port 18180)
nats_port=$(free_port 17522)
edge_port=$(free_port 18190)
hub_url="http://127.0.0.1:$hub_port"
edge_url="http://127.0.0.1:$edge_port"
export HUB_DATA_DIR="$work/hub" HUB_LOG_LEVEL=warn
DATABASE_URL=$db bin/hub seed --demo >/dev/null
DATABASE_URL=$db HUB_ADDR=127.0.0.1:$hub_port HUB_NATS_LISTEN=127.0.0.1:$nats_port HUB_PUBLIC_URL=$hub_url \
	bin/hub serve >"$work/hub.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do curl -fsS "$hub_url/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "$hub_url/readyz" >/dev/null || { cat "$work/hub.log"; exit 1; }

bin/linkproxy -listen 127.0.0.1:0 -target "127.0.0.1:$nats_port" -addr-file "$work/proxy.addr" >/dev/null 2>"$work/proxy.log" &
proxy=$!
pids+=($proxy)
for _ in $(seq 50); do [ -s "$work/proxy.addr" ] && break; sleep 0.1; done

log "enrolling an edge agent for tech1 (its NATS link runs through the proxy)"
scripts/edge-demo.sh "$hub_url" "$work/edge"
bin/edge-agent run --data "$work/edge" --listen "127.0.0.1:$edge_port" --nats-url "nats://$(cat "$work/proxy.addr")" \
	>"$work/edge.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do curl -fsS "$edge_url/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "$edge_url/readyz" >/dev/null || { cat "$work/edge.log"; exit 1; }

log "Playwright against $edge_url (screenshots in ${out#$root/})"
status=0
EDGE_URL=$edge_url HUB_URL=$hub_url SCREENSHOT_DIR=$out \
	E2E_LINK_DOWN="kill -USR1 $proxy" E2E_LINK_UP="kill -USR2 $proxy" \
	node --test --test-reporter=spec pwa/e2e/field.spec.mjs || status=$?
if [ "$status" != 0 ]; then
	log "browser tests failed; the last lines of the logs:"
	tail -40 "$work/hub.log" "$work/edge.log" "$work/proxy.log" || true
fi
exit "$status"
