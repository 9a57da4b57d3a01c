#!/usr/bin/env bash
# Builds Volley, starts the local test target on 127.0.0.1 and runs examples/quickstart.js
# against it. Needs only the Rust toolchain; no network beyond crates.io for the first build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p volley
VOLLEY=./target/release/volley
PORT="${PORT:-18080}"
"$VOLLEY" target --listen "127.0.0.1:$PORT" > /dev/null &
TARGET_PID=$!
trap 'kill $TARGET_PID 2>/dev/null || true' EXIT
# Wait for the target to accept connections.
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
"$VOLLEY" run -e "BASE_URL=http://127.0.0.1:$PORT" examples/quickstart.js "$@"
