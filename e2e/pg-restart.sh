#!/usr/bin/env bash
# Restart PostgreSQL mid-run: the server and the run must recover by themselves
# (TestPostgresRestart in pgrestart_test.go).
#
# The test restarts a whole PostgreSQL cluster, so it never touches the shared
# one (15/main on 5432, used by other tests at the same time): this script
# creates a throwaway cluster of its own (VERSION/ethoxrestart on 127.0.0.1:5439,
# trust authentication), starts it, runs the test against it and stops it
# again; the cluster is kept for the next run. It must run as root (as CI
# does) to create and control the cluster. It fails unless the test passed:
# a skip never counts as success.
#
# Settings: PG_RESTART_VERSION (default: the newest in /etc/postgresql),
# PG_RESTART_NAME (ethoxrestart), PG_RESTART_PORT (5439).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

ver="${PG_RESTART_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)}"
name="${PG_RESTART_NAME:-ethoxrestart}"
port="${PG_RESTART_PORT:-5439}"

fail() { echo "pg-restart: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (it creates and restarts a PostgreSQL cluster)"
for tool in pg_createcluster pg_ctlcluster pg_lsclusters pg_isready go; do
	command -v "$tool" >/dev/null 2>&1 || fail "required tool '$tool' is not installed"
done
[ -n "$ver" ] || fail "no PostgreSQL version found in /etc/postgresql"
# Never restart a cluster other tests use.
[ "$name" != "main" ] || fail "refusing to use the cluster 'main'"
[ "$port" != "5432" ] || fail "refusing to use port 5432 (the shared cluster)"
[ -f "$repo/testdata/ethox-network-20.json" ] || fail "fixture missing: $repo/testdata/ethox-network-20.json"

# One run at a time: two would restart each other's cluster.
exec 9>"${TMPDIR:-/tmp}/ethox-pg-restart.lock"
flock -w 900 9 || fail "another pg-restart run holds the lock"

cluster_port() { pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n { print $3 }'; }
cluster_status() { pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n { print $4 }'; }

if [ -z "$(cluster_port)" ]; then
	echo "pg-restart: creating cluster $ver/$name on port $port"
	pg_createcluster "$ver" "$name" -p "$port" --start-conf=manual -o shared_buffers=32MB -- --auth=trust
	# initdb --auth=trust already writes trust entries; make them explicit and
	# limited to local connections.
	cat >"/etc/postgresql/$ver/$name/pg_hba.conf" <<-'EOF'
	# Throwaway cluster of Ethox's e2e/pg-restart.sh: trust, local connections only.
	local all all trust
	host all all 127.0.0.1/32 trust
	host all all ::1/128 trust
	EOF
	chown postgres:postgres "/etc/postgresql/$ver/$name/pg_hba.conf"
fi
[ "$(cluster_port)" = "$port" ] || fail "cluster $ver/$name exists on port $(cluster_port), not $port"

stop_cluster() {
	echo "pg-restart: stopping cluster $ver/$name"
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

log="$(mktemp "${TMPDIR:-/tmp}/ethox-pg-restart.XXXXXX.log")"
echo "pg-restart: running TestPostgresRestart (output also in $log)"
set +e
(
	cd "$repo" &&
		PG_RESTART_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" \
			PG_RESTART_CLUSTER="$ver $name" \
			timeout 900 go test -count=1 -run '^TestPostgresRestart$' -v .
) 2>&1 | tee "$log"
rc="${PIPESTATUS[0]}"
set -e
if [ "$rc" -ne 0 ]; then
	fail "go test exited with $rc"
fi
if ! grep -q -- '--- PASS: TestPostgresRestart' "$log"; then
	fail "TestPostgresRestart did not pass (skipped or not run)"
fi
echo "pg-restart: PASS"
