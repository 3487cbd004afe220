#!/usr/bin/env bash
# Bounded loopback load test of the built server against the fake LLM.
#   bench/load.sh                        # 60 s on SQLite in a temp dir
#   bench/load.sh -db 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
#   bench/load.sh -h                     # every flag
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec go run ./bench/load "$@"
