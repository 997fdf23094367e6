# shellcheck shell=bash
# start_stack: a throwaway hub (fresh database dmf_e2e, demo data) and an edge agent enrolled for
# tech1 whose link to NATS runs through linkproxy (kill -USR1 $proxy cuts it, -USR2 restores it).
# Sets hub_url, edge_url, proxy and work; everything stops when the calling script exits.
log() { printf '==> %s\n' "$*"; }

start_stack() {
	if [ ! -x /usr/bin/chromium ]; then
		[ "$(id -u)" = 0 ] || { log "chromium is missing: apt-get install chromium"; exit 1; }
		log "installing Chromium with apt"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	fi
	scripts/services.sh up
	# shellcheck disable=SC1091
	source .data/env
	# Rebuild the embedded PWA when it is missing or older than its sources (a stale bundle from an
	# earlier checkout lacks what the browser tests look for).
	if [ ! -f edge-agent/web/pwa/index.html ] ||
		[ -n "$(find pwa/src pwa/package.json -newer edge-agent/web/pwa/index.html -print -quit)" ]; then
		scripts/assets.sh pwa
	fi
	[ -d pwa/node_modules/playwright-core ] || make -s -C pwa build
	mkdir -p bin
	go build -o bin/hub ./hub/cmd/hub
	CGO_ENABLED=0 go build -o bin/edge-agent ./edge-agent/cmd/edge-agent
	go build -o bin/linkproxy ./edge-agent/cmd/linkproxy

	work=$(mktemp -d)
	stack_pids=()
	trap stop_stack EXIT
	local db="${DATABASE_URL%/*}/dmf_e2e?sslmode=disable"
	psql "${DATABASE_URL%/*}/postgres" -qc 'DROP DATABASE IF EXISTS dmf_e2e WITH (FORCE)' -c 'CREATE DATABASE dmf_e2e' >/dev/null
	local hub_port nats_port edge_port
	hub_port=$(stack_free_port 18180)
	nats_port=$(stack_free_port 17522)
	edge_port=$(stack_free_port 18190)
	hub_url="http://127.0.0.1:$hub_port"
	edge_url="http://127.0.0.1:$edge_port"
	export HUB_DATA_DIR="$work/hub" HUB_LOG_LEVEL=warn
	DATABASE_URL=$db bin/hub seed --demo >/dev/null
	DATABASE_URL=$db HUB_ADDR=127.0.0.1:$hub_port HUB_NATS_LISTEN=127.0.0.1:$nats_port HUB_PUBLIC_URL=$hub_url \
		bin/hub serve >"$work/hub.log" 2>&1 &
	stack_pids+=($!)
	stack_wait "$hub_url/readyz" "$work/hub.log"

	bin/linkproxy -listen 127.0.0.1:0 -target "127.0.0.1:$nats_port" -addr-file "$work/proxy.addr" >/dev/null 2>"$work/proxy.log" &
	proxy=$!
	stack_pids+=($proxy)
	for _ in $(seq 50); do [ -s "$work/proxy.addr" ] && break; sleep 0.1; done

	log "enrolling an edge agent for tech1 (its NATS link runs through the proxy)"
	scripts/edge-demo.sh "$hub_url" "$work/edge"
	bin/edge-agent run --data "$work/edge" --listen "127.0.0.1:$edge_port" --nats-url "nats://$(cat "$work/proxy.addr")" \
		>"$work/edge.log" 2>&1 &
	stack_pids+=($!)
	stack_wait "$edge_url/readyz" "$work/edge.log"
	log "hub $hub_url, edge agent $edge_url"
}

stack_free_port() { local p=$1; while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done; echo "$p"; }

stack_wait() {
	for _ in $(seq 240); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.5; done
	log "$1 did not answer; its log:"
	tail -40 "$2"
	exit 1
}

stack_logs() { tail -n 40 "$work/hub.log" "$work/edge.log" "$work/proxy.log" || true; }

stop_stack() {
	for p in "${stack_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${stack_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
