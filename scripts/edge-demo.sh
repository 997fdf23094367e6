#!/usr/bin/env bash
# Enrolls the demo edge agent for tech1 (called by `make run`):
#   scripts/edge-demo.sh HUB_URL DATA_DIR
# If DATA_DIR holds credentials already, nothing happens. Otherwise: log in to the hub as the
# administrator, find tech1, create a device for it (POST /api/v1/devices) and run
#   bin/edge-agent enroll --hub HUB_URL --code CODE --data DATA_DIR
# Exits non-zero with a clear message when the hub cannot do it (yet).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
hub=${1:?usage: scripts/edge-demo.sh HUB_URL DATA_DIR}
dir=${2:?usage: scripts/edge-demo.sh HUB_URL DATA_DIR}
hub=${hub%/}
bin=${EDGE_AGENT_BIN:-$root/bin/edge-agent}
tech_email=${EDGE_DEMO_TECH:-tech1@example.com}
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'edge-demo: %s\n' "$*" >&2; exit 1; }

[ -x "$bin" ] || die "$bin is missing: run make build"
if [ -f "$dir/credentials.json" ]; then
	log "edge agent already enrolled ($dir/credentials.json)"
	exit 0
fi
if [ -f "$dir/REVOKED" ]; then
	log "the previous demo device was revoked; enrolling a new one"
	rm -f "$dir/REVOKED"
fi
mkdir -p "$dir"
chmod 700 "$dir"

# json KEY reads a top-level string member from JSON on stdin (python3 when present, sed otherwise).
json() {
	if command -v python3 >/dev/null; then
		python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"
	else
		sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n1
	fi
}

# call METHOD PATH [BODY]: prints the body; fails with the hub's answer on a non-2xx status.
call() {
	local out status
	out=$(mktemp)
	status=$(curl -sS -o "$out" -w '%{http_code}' -X "$1" "$hub$2" -H 'Content-Type: application/json' \
		${token:+-H "Authorization: Bearer $token"} ${3:+--data "$3"}) || { rm -f "$out"; die "cannot reach the hub at $hub"; }
	if [ "${status:0:1}" != 2 ]; then
		local body
		body=$(head -c 400 "$out")
		rm -f "$out"
		case "$status" in
		404 | 405) die "the hub does not support $1 $2 yet ($status); the demo edge agent needs device enrollment (CONTRACT.md Devices)" ;;
		*) die "$1 $2 answered $status: $body" ;;
		esac
	fi
	cat "$out"
	rm -f "$out"
}

token=
log "logging in to $hub as admin@example.com"
token=$(call POST /api/v1/auth/login '{"email":"admin@example.com","password":"admin123!"}' | json access_token)
[ -n "$token" ] || die "no access token from the hub's login"

log "finding $tech_email"
tech_id=$(call GET "/api/v1/technicians?q=$tech_email&limit=50" | {
	if command -v python3 >/dev/null; then
		python3 -c '
import json, sys
email = sys.argv[1].lower()
for t in json.load(sys.stdin).get("items", []):
    if (t.get("email") or "").lower() == email:
        print(t["id"]); break' "$tech_email"
	else
		tr '{' '\n' | grep -i "\"email\":\"$tech_email\"" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n1
	fi
})
[ -n "$tech_id" ] || die "technician $tech_email not found on the hub (seed the demo data: hub seed --demo)"

log "creating a device for $tech_email ($tech_id)"
code=$(call POST /api/v1/devices "{\"technician_id\":\"$tech_id\",\"name\":\"demo tablet ($(hostname))\"}" | json enrollment_code)
[ -n "$code" ] || die "the hub created no enrollment code"

log "enrolling the edge agent in $dir"
"$bin" enroll --hub "$hub" --code "$code" --data "$dir" --log-format text ||
	die "enrollment failed (see above)"
