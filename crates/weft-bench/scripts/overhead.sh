#!/usr/bin/env bash
# Request overhead of API-key authentication and of metrics: QPS of one REST read
# (GET /v1/objects/{class}/{id}) with wrk, against the same release binary started three ways
# in one run: anonymous, API keys + admin list, API keys + admin list + Prometheus metrics.
#   crates/weft-bench/scripts/overhead.sh [seconds]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/../../.."
SECS="${1:-10}"
BIN="${WEFT_BIN:-target/release/weft}"
[ -x "$BIN" ] || cargo build --release -p weft
DIR="$(mktemp -d)"
trap 'kill "${PID:-0}" 2>/dev/null || true; rm -rf "$DIR"' EXIT
ID=00000000-0000-0000-0000-000000000001
KEY=bench-admin-key

start() {
  env PERSISTENCE_DATA_PATH="$DIR/data" "$@" "$BIN" --host 127.0.0.1 --port 18480 --grpc-port 18481 --scheme http >"$DIR/log" 2>&1 &
  PID=$!
  for _ in $(seq 1 200); do curl -sf localhost:18480/v1/.well-known/ready >/dev/null && return; sleep 0.05; done
  echo "weft did not start"; cat "$DIR/log"; exit 1
}
stop() { kill "$PID"; wait "$PID" || true; }

AUTH=(AUTHENTICATION_APIKEY_ENABLED=true AUTHENTICATION_APIKEY_ALLOWED_KEYS=$KEY,reader-key
      AUTHENTICATION_APIKEY_USERS=admin,reader AUTHORIZATION_ADMINLIST_ENABLED=true
      AUTHORIZATION_ADMINLIST_USERS=admin AUTHORIZATION_ADMINLIST_READONLY_USERS=reader)

start
curl -sf -XPOST localhost:18480/v1/schema -d '{"class":"Bench"}' >/dev/null
curl -sf -XPOST localhost:18480/v1/objects -d "{\"class\":\"Bench\",\"id\":\"$ID\",\"properties\":{\"n\":1}}" >/dev/null
run() { wrk -t2 -c16 -d"${SECS}s" "$@" "http://127.0.0.1:18480/v1/objects/Bench/$ID" | awk '/Requests\/sec/ {print $2}'; }
ANON=$(run)
stop
start "${AUTH[@]}"
WITH_AUTH=$(run -H "Authorization: Bearer $KEY")
stop
start "${AUTH[@]}" PROMETHEUS_MONITORING_ENABLED=true PROMETHEUS_MONITORING_PORT=18482
WITH_METRICS=$(run -H "Authorization: Bearer $KEY")
curl -sf localhost:18482/metrics | grep -c '^requests_total' >/dev/null
stop
echo "| configuration | QPS | vs anonymous |"
echo "|---|---|---|"
echo "| anonymous, no metrics | $ANON | 1.00 |"
awk -v a="$ANON" -v b="$WITH_AUTH" 'BEGIN {printf "| API key + admin list | %s | %.3f |\n", b, b / a}'
awk -v a="$ANON" -v b="$WITH_METRICS" 'BEGIN {printf "| API key + admin list + metrics | %s | %.3f |\n", b, b / a}'
