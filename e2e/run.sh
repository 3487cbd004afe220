#!/usr/bin/env bash
# Runs the Ethox end-to-end tests: installs the pinned npm packages, builds the
# server into a temp dir and runs node's test runner. Called from .ci/run.
# Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

for tool in node npm go; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "e2e: required tool '$tool' is not installed" >&2
		exit 1
	fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
	echo "e2e: Node >= 20 is required (found $(node -v))" >&2
	exit 1
fi

fixture="$repo/testdata/ethox-network-20.json"
if [ ! -f "$fixture" ]; then
	echo "e2e: fixture missing: $fixture" >&2
	exit 1
fi

export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_PATH" ]; then
	echo "e2e: installing chromium with apt"
	if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
	timeout 600 $sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive timeout 900 $sudo apt-get install -y -qq chromium
	if [ ! -x "$CHROMIUM_PATH" ]; then
		echo "e2e: chromium is not at $CHROMIUM_PATH after installing" >&2
		exit 1
	fi
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ethox-e2e.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "e2e: npm ci"
(cd "$here" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)

echo "e2e: building the server"
(cd "$repo" && CGO_ENABLED=0 timeout 600 go build -o "$tmp/ethox" .)
export ETHOX_BIN="$tmp/ethox"

echo "e2e: running tests"
cd "$here"
timeout 600 node --test --test-concurrency=1 --test-reporter=spec test/*.test.mjs
