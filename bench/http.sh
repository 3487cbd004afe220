#!/usr/bin/env bash
# HTTP read benchmark (issue 15's first table): wrk against the built server on
# loopback, on SQLite and on PostgreSQL. For each row: req/s, p50 and p99
# latency, bytes per response, uncompressed and with a browser's
# Accept-Encoding ("gzip, deflate, br, zstd"); uploads timed with curl; the
# server's RSS at the end. GraphQL goes as a JSON POST, as Apollo and urql
# send it.
#
#   bench/http.sh                   # both databases, 10 s per wrk run
#   DBS=sqlite DURATION=5s bench/http.sh
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable (the default server; a
#   database of its own is created and dropped)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

DBS=${DBS:-"sqlite postgres"}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
BIG_CONNS=${BIG_CONNS:-4}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
BROWSER_AE="gzip, deflate, br, zstd"

tmp=$(mktemp -d)
server_pid=""
pg_db=""
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [[ -n $pg_db ]]; then psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "building the server and the 10k / 50k network (internal/synthnet)…" >&2
go build -o "$tmp/ethox" .
go run ./bench/httpnet -n 10000 -m 50000 >"$tmp/net10k.json"
cp testdata/ethox-network-20.json "$tmp/net20.json"

node_fields='agentId degree traits degreeCentrality betweennessCentrality cluster age ageBracket gender textOpinion levelOfCare effectOnUsage profile attributes'
graph_query() { # $1 network id
  printf '{"query":"query Graph($id: ID) { graph(networkId: $id) { nodes { %s } edges { source target weight } metadata { nodeCount edgeCount traitKeys directed } } }","variables":{"id":"%s"},"operationName":"Graph"}' "$node_fields" "$1"
}
agent_query() { # $1 network id, $2 agent id
  printf '{"query":"query Agent($id: ID, $agent: String!) { agent(agentId: $agent, networkId: $id) { node { %s } neighbors { agentId weight degree } } }","variables":{"id":"%s","agent":"%s"},"operationName":"Agent"}' "$node_fields" "$1" "$2"
}

cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
LUA

upload() { # $1 file → prints "id seconds"
  local out
  out=$(curl -sS -w '\n%{time_total}' -F 'operations={"query":"mutation($file: Upload!) { uploadGraph(file: $file) { network { id } } }","variables":{"file":null}}' \
    -F 'map={"0":["variables.file"]}' -F "0=@$1;type=application/json" "$base/query")
  local id secs
  id=$(head -n1 <<<"$out" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  secs=$(tail -n1 <<<"$out")
  [[ -n $id ]] || { echo "upload failed: $(head -c 300 <<<"$out")" >&2; exit 1; }
  echo "$id $secs"
}

# row NAME BODYFILE CONNS: one wrk run without and one with compression.
row() {
  local name=$1 body=$2 conns=$3 ae
  for ae in "identity" "$BROWSER_AE"; do
    local check bytes
    check=$(curl -sS -H 'Content-Type: application/json' -H "Accept-Encoding: $ae" --data-binary "@$body" "$base/query" --compressed)
    if grep -q '"errors"' <<<"${check:0:2000}"; then echo "$name: $check" | head -c 500 >&2; exit 1; fi
    bytes=$(curl -sS -o /dev/null -w '%{size_download}' -H 'Content-Type: application/json' -H "Accept-Encoding: $ae" --data-binary "@$body" "$base/query")
    local out rps p50 p99
    out=$(BODY_FILE=$body wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency -H "Accept-Encoding: $ae" -s "$tmp/post.lua" "$base/query")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    if grep -q 'Non-2xx' <<<"$out"; then echo "$name: $(grep Non-2xx <<<"$out")" >&2; fi
    local label=plain
    [[ $ae != identity ]] && label=compressed
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$db" "$name" "$label" "$(printf '%.0f' "$rps")" "$p50" "$p99" "$bytes"
  done
}

printf '\nload average at start: %s; %s cores\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
echo "| database | measure | encoding | req/s | p50 | p99 | bytes per response |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for db in $DBS; do
  port=$(( 20000 + RANDOM % 20000 ))
  base="http://127.0.0.1:$port"
  case $db in
    sqlite) dburl="sqlite://$tmp/bench-$port.db" ;;
    postgres)
      pg_db="ethox_bench_http_$$"
      psql "$PG_URL" -qc "CREATE DATABASE $pg_db" >/dev/null
      pg_base=${PG_URL%%\?*}
      dburl="${pg_base%/*}/$pg_db${PG_URL#"$pg_base"}" ;;
    *) echo "unknown database $db" >&2; exit 1 ;;
  esac
  ENV=development DEMO_DATA=false LOG_LEVEL=warn WORKERS=0 HOST=127.0.0.1 PORT=$port DATABASE_URL=$dburl \
    "$tmp/ethox" >"$tmp/server-$db.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 300); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "$base/readyz" >/dev/null || { cat "$tmp/server-$db.log" >&2; exit 1; }

  read -r id20 _ < <(upload "$tmp/net20.json")
  ups=()
  for _ in 1 2 3; do read -r id10k secs < <(upload "$tmp/net10k.json"); ups+=("$secs"); done
  graph_query "$id20" >"$tmp/g20.json"
  agent_query "$id20" 0 >"$tmp/a20.json"
  graph_query "$id10k" >"$tmp/g10k.json"
  agent_query "$id10k" 4242 >"$tmp/a10k.json"

  row "graph, 20 nodes, every node field" "$tmp/g20.json" "$CONNS"
  row "one agent and its neighbours, 20 nodes" "$tmp/a20.json" "$CONNS"
  row "graph, 10k nodes / 50k edges, $BIG_CONNS connections" "$tmp/g10k.json" "$BIG_CONNS"
  row "one agent and its neighbours, 10k / 50k" "$tmp/a10k.json" "$CONNS"
  sizes=""
  for coding in identity gzip zstd br; do
    sizes+="$coding $(curl -sS -o /dev/null -w '%{size_download}' -H 'Content-Type: application/json' -H "Accept-Encoding: $coding" --data-binary "@$tmp/g10k.json" "$base/query") B; "
  done
  printf '| %s | bytes on the wire, graph 10k / 50k, per coding | | | | | %s |\n' "$db" "$sizes"
  printf '| %s | upload 10k / 50k over HTTP (3 runs) | | | %s | | %s |\n' "$db" "$(IFS=' '; echo "${ups[*]} s")" "$(stat -c %s "$tmp/net10k.json")"
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
  printf '| %s | server memory after these (RSS; peak) | | | %d MiB; %d MiB | | |\n' "$db" $((rss / 1024)) $((hwm / 1024))

  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  if [[ $db == postgres ]]; then psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null; pg_db=""; fi
done
printf '\nload average at end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
