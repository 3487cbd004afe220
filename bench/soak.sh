#!/usr/bin/env bash
# Soak: two Ethox processes on PostgreSQL for SOAK_DURATION (default 10m) under
# load, with LLM faults (429, 500, malformed JSON), one PostgreSQL restart and
# one kill -9 of a process (bench/soak/main.go says what it checks and reports).
#
# It restarts a whole PostgreSQL cluster, so it never uses the shared one
# (main on 5432, which other tests use at the same time): like
# e2e/pg-restart.sh it creates a throwaway cluster of its own
# (VERSION/ethoxsoak on 127.0.0.1:5440, trust authentication, local
# connections only), starts it, runs the soak against it and stops it again;
# the cluster is kept for the next run. It must run as root (as CI does).
#
#   bash bench/soak.sh                          # 10 minutes
#   SOAK_DURATION=75s bash bench/soak.sh        # the short version CI runs
#   bash bench/soak.sh -runners 4 -keep         # extra flags go to bench/soak
#
# Settings: SOAK_DURATION, SOAK_GRACE (how long runs may take to be final
# after the load, default 3m), SOAK_PG_VERSION (default: the newest in
# /etc/postgresql), SOAK_PG_NAME (ethoxsoak), SOAK_PG_PORT (5440).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ver="${SOAK_PG_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)}"
name="${SOAK_PG_NAME:-ethoxsoak}"
port="${SOAK_PG_PORT:-5440}"

fail() { echo "soak: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (it creates and restarts a PostgreSQL cluster)"
for tool in pg_createcluster pg_ctlcluster pg_lsclusters pg_isready go; do
	command -v "$tool" >/dev/null 2>&1 || fail "required tool '$tool' is not installed"
done
[ -n "$ver" ] || fail "no PostgreSQL version found in /etc/postgresql"
[ "$name" != "main" ] || fail "refusing to use the cluster 'main'"
[ "$port" != "5432" ] || fail "refusing to use port 5432 (the shared cluster)"

exec 9>"${TMPDIR:-/tmp}/ethox-soak.lock"
flock -w 900 9 || fail "another soak holds the lock"

cluster_port() { pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n { print $3 }'; }
cluster_status() { pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n { print $4 }'; }

if [ -z "$(cluster_port)" ]; then
	echo "soak: creating cluster $ver/$name on port $port"
	pg_createcluster "$ver" "$name" -p "$port" --start-conf=manual -o shared_buffers=64MB -o max_connections=200 -- --auth=trust
	cat >"/etc/postgresql/$ver/$name/pg_hba.conf" <<-'HBA'
	# Throwaway cluster of Ethox's bench/soak.sh: trust, local connections only.
	local all all trust
	host all all 127.0.0.1/32 trust
	host all all ::1/128 trust
	HBA
	chown postgres:postgres "/etc/postgresql/$ver/$name/pg_hba.conf"
fi
[ "$(cluster_port)" = "$port" ] || fail "cluster $ver/$name exists on port $(cluster_port), not $port"

stop_cluster() {
	echo "soak: stopping cluster $ver/$name"
	pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" stop -m fast || true
}
trap stop_cluster EXIT
if [ "$(cluster_status)" != "online" ]; then
	pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
fi
for _ in $(seq 1 30); do
	pg_isready -q -h 127.0.0.1 -p "$port" && break
	sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$port" || fail "cluster $ver/$name is not accepting connections on 127.0.0.1:$port"

cd "$repo"
go run ./bench/soak -db "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" -pg-cluster "$ver $name" \
	-duration "${SOAK_DURATION:-10m}" -grace "${SOAK_GRACE:-3m}" "$@"
