#!/usr/bin/env bash
# A real distributed run on this machine: builds Volley, starts the local test target, a
# controller and 3 agent processes (`volley cluster up`), submits examples/quickstart.js and
# follows it to its end. Needs only the Rust toolchain; everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "building volley (release mode; the first build takes a few minutes)..." >&2
cargo build --release --locked -p volley
VOLLEY=./target/release/volley
PORT="${PORT:-18080}"
REST="${REST:-127.0.0.1:16565}"
GRPC="${GRPC:-127.0.0.1:16566}"
DATA="$(mktemp -d)"
"$VOLLEY" target --listen "127.0.0.1:$PORT" > /dev/null &
TARGET_PID=$!
"$VOLLEY" cluster up --agents 3 --listen "$REST" --grpc "$GRPC" --data-dir "$DATA" > "$DATA/cluster.log" 2>&1 &
CLUSTER_PID=$!
cleanup() {
  kill "$CLUSTER_PID" "$TARGET_PID" 2>/dev/null || true
  wait "$CLUSTER_PID" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
# Says why the cluster did not come up (its log, which the cleanup deletes) and exits.
cluster_failed() {
  echo "the local cluster did not come up: $1; its log:" >&2
  sed 's/^/  | /' "$DATA/cluster.log" >&2 || true
  echo "(set REST=127.0.0.1:PORT and GRPC=127.0.0.1:PORT to use other ports)" >&2
  exit 1
}
# `cluster up` secures itself with a token it writes into its data directory.
for _ in $(seq 1 100); do
  [ -s "$DATA/cluster-up.token" ] && break
  kill -0 "$CLUSTER_PID" 2>/dev/null || cluster_failed "volley cluster up exited"
  sleep 0.1
done
[ -s "$DATA/cluster-up.token" ] || cluster_failed "no token after 10 s"
export VOLLEY_TOKEN="$(cat "$DATA/cluster-up.token")"
# Wait until the three agents have registered.
for _ in $(seq 1 100); do
  if "$VOLLEY" agents --controller "http://$REST" 2>/dev/null | grep -c idle | grep -q 3; then break; fi
  kill -0 "$CLUSTER_PID" 2>/dev/null || cluster_failed "volley cluster up exited"
  sleep 0.1
done
"$VOLLEY" agents --controller "http://$REST"
"$VOLLEY" submit --wait --controller "http://$REST" -e "BASE_URL=http://127.0.0.1:$PORT" examples/quickstart.js "$@"
