#!/usr/bin/env bash
# Builds front-end assets from npm packages and copies them where go:embed finds them.
#   scripts/assets.sh hub   htmx, Alpine.js and Leaflet into hub/web/static/vendor
#   scripts/assets.sh pwa   the technician PWA into edge-agent/web/pwa
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '==> %s\n' "$*" >&2; }

need_node() {
	if ! command -v npm >/dev/null; then
		[ "$(id -u)" = 0 ] || { log "npm is missing: install Node.js 20"; exit 1; }
		log "installing Node.js with apt"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
	fi
}

npm_install() {
	local dir=$1
	# Reinstall only when package.json or the lock changed since the last install.
	local stamp="$dir/node_modules/.dmf-stamp" sum
	sum=$({ cat "$dir/package.json"; cat "$dir/package-lock.json" 2>/dev/null || true; } | sha256sum | cut -c1-16)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then return; fi
	log "npm install in ${dir#$root/}"
	if [ -f "$dir/package-lock.json" ]; then
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
	else
		(cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
	fi
	echo "$sum" >"$stamp"
}

case "${1:-}" in
hub)
	need_node
	dir="$root/hub/web/assets"
	npm_install "$dir"
	out="$root/hub/web/static/vendor"
	mkdir -p "$out/images"
	cp "$dir/node_modules/htmx.org/dist/htmx.min.js" "$out/htmx.min.js"
	cp "$dir/node_modules/alpinejs/dist/cdn.min.js" "$out/alpine.min.js"
	cp "$dir/node_modules/leaflet/dist/leaflet.js" "$out/leaflet.js"
	cp "$dir/node_modules/leaflet/dist/leaflet.css" "$out/leaflet.css"
	cp "$dir/node_modules/leaflet/dist/images/"*.png "$out/images/"
	;;
pwa)
	if [ ! -f "$root/pwa/package.json" ]; then log "no pwa/ yet"; exit 0; fi
	need_node
	make -s -C "$root/pwa" build >&2
	out="$root/edge-agent/web/pwa"
	mkdir -p "$out"
	find "$out" -mindepth 1 ! -name '.keep' ! -name 'README.md' -delete
	cp -r "$root/pwa/dist/." "$out/"
	;;
*)
	echo "usage: $0 hub|pwa" >&2
	exit 2
	;;
esac
