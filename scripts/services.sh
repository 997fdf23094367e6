#!/usr/bin/env bash
# Starts (or reuses) the services DotMac Field needs for `make run`, `make test` and `make bench`.
#
#   scripts/services.sh up     install what is missing, start private PostgreSQL + PostGIS and Redis
#                              under .data/ unless DATABASE_URL / REDIS_URL are set; writes .data/env
#   scripts/services.sh down   stop the private services started by `up`
#
# NATS is not started here: the hub embeds nats-server unless NATS_URL is set.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/.data"
pgver=15
pgbin=/usr/lib/postgresql/$pgver/bin

log() { printf '==> %s\n' "$*" >&2; }

apt_install() {
	if [ "$(id -u)" != 0 ]; then
		log "missing packages: $* (run as root, or install them: apt-get install $*)"
		exit 1
	fi
	log "installing $* with apt (first run only)"
	if [ ! -f /var/lib/apt/lists/.dmf-updated ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock | head -1)" ]; then
		apt-get update -qq >&2
		touch /var/lib/apt/lists/.dmf-updated
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	local p=$1
	while ! port_free "$p"; do p=$((p + 1)); done
	echo "$p"
}

# as_pg runs a command as the postgres system user when we are root (PostgreSQL refuses to run as root).
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

need_postgis() {
	[ -f /usr/share/postgresql/$pgver/extension/postgis.control ] || apt_install postgresql-$pgver-postgis-3
}

# pg_dir is where the private cluster lives: .data/pg, or, when the postgres user cannot reach
# the checkout (a root-only temporary clone, say), a folder of its own keyed by the checkout path.
pg_dir() {
	mkdir -p "$data"
	if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$data" 2>/dev/null; then
		local d=/var/lib/postgresql/dmf-$(printf '%s' "$root" | sha256sum | cut -c1-12)
		mkdir -p "$d" && chown postgres: "$d"
		echo "$d/pg"
	else
		echo "$data/pg"
	fi
}

pg_up() {
	[ -x "$pgbin/postgres" ] || apt_install postgresql-$pgver
	need_postgis
	local dir
	dir=$(pg_dir)
	if [ ! -f "$dir/PG_VERSION" ]; then
		log "creating a private PostgreSQL cluster in $dir"
		mkdir -p "$dir"
		[ "$(id -u)" = 0 ] && chown postgres: "$dir" && chmod 700 "$dir"
		as_pg "$pgbin/initdb" -D "$dir" -U postgres -A trust -E UTF8 --no-locale >/dev/null
		{
			echo "listen_addresses = '127.0.0.1'"
			echo "unix_socket_directories = '$dir'"
			echo "max_connections = 400"
			echo "shared_buffers = 512MB"
			echo "fsync = on"
			echo "synchronous_commit = off"
			echo "log_min_messages = warning"
		} | as_pg tee -a "$dir/postgresql.conf" >/dev/null
	fi
	[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
	local port
	if as_pg "$pgbin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		port=$(cat "$data/pg.port")
	else
		port=$(free_port 55432)
		log "starting PostgreSQL on 127.0.0.1:$port"
		as_pg "$pgbin/pg_ctl" -D "$dir" -l "$dir/server.log" -o "-p $port" -w start >/dev/null
		echo "$port" >"$data/pg.port"
	fi
	"$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -Atqc "select 1 from pg_database where datname='dotmac'" postgres | grep -q 1 ||
		"$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres dotmac
	echo "postgres://postgres@127.0.0.1:$port/dotmac?sslmode=disable"
}

redis_up() {
	command -v redis-server >/dev/null || apt_install redis-server
	local dir="$data/redis" port
	mkdir -p "$dir"
	if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
		port=$(cat "$data/redis.port")
	else
		port=$(free_port 56379)
		log "starting Redis on 127.0.0.1:$port"
		redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
			--pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no >/dev/null
		for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
		echo "$port" >"$data/redis.port"
	fi
	echo "redis://127.0.0.1:$port/0"
}

up() {
	mkdir -p "$data"
	local db=${DATABASE_URL:-} rd=${REDIS_URL:-}
	if [ -z "$db" ]; then db=$(pg_up); else need_postgis_if_local; fi
	if [ -z "$rd" ]; then rd=$(redis_up); fi
	{
		echo "export DATABASE_URL='$db'"
		echo "export REDIS_URL='$rd'"
	} >"$data/env"
	log "PostgreSQL: $db"
	log "Redis:      $rd"
}

# With an external DATABASE_URL we still need PostGIS' files when that server is this machine.
need_postgis_if_local() {
	if [ -x "$pgbin/postgres" ] && [ ! -f /usr/share/postgresql/$pgver/extension/postgis.control ]; then
		need_postgis
	fi
}

down() {
	local dir
	dir=$(pg_dir)
	if [ -f "$dir/PG_VERSION" ] && as_pg "$pgbin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		log "stopping PostgreSQL"
		as_pg "$pgbin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
	fi
	if [ -f "$data/redis/redis.pid" ] && kill -0 "$(cat "$data/redis/redis.pid")" 2>/dev/null; then
		log "stopping Redis"
		kill "$(cat "$data/redis/redis.pid")" || true
	fi
}

case "${1:-up}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
