#!/usr/bin/env bash
# Instructions per iteration of a Volley binary, counted by valgrind (callgrind): a figure that,
# unlike requests/s or CPU time on a shared VM, is the same from run to run, so an optimization
# of a few percent can be told from noise. Compare binaries with it; confirm with bench/run.sh.
#
#   bash bench/instructions.sh [VOLLEY_BINARY ...]     (default: target/release/volley)
#
# Each binary runs bench/scripts/iterations.js (64 VUs, `http.get` + `check`, shared iterations)
# twice under callgrind, with 2,000 and with 6,000 iterations, against its own `volley target`;
# the difference divided by 4,000 is the cost of one iteration without start-up and shutdown.
# It counts user-space instructions of all threads (JS worker and IO), not the kernel's.
# Needs valgrind (`apt-get install valgrind`); about a minute per binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$here/../target/release/volley")
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 2; }

target_bin="${bins[0]}"
log="$(mktemp)"
"$target_bin" target --listen 127.0.0.1:0 >"$log" 2>&1 &
target_pid=$!
trap 'kill $target_pid 2>/dev/null; rm -f "$log"' EXIT
base_url=""
for _ in $(seq 50); do
  base_url="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)"
  [ -n "$base_url" ] && break
  sleep 0.1
done
[ -n "$base_url" ] || { echo "volley target did not start: $(cat "$log")" >&2; exit 1; }

count() { # binary iterations -> instructions
  ITERS="$2" BASE_URL="$base_url" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$1" run --workers 1 -q "$here/scripts/iterations.js" 2>&1 >/dev/null |
    awk '/Collected/ {print $4}'
}

for b in "${bins[@]}"; do
  small="$(count "$b" 2000)"
  large="$(count "$b" 6000)"
  echo "$b: $(( (large - small) / 4000 )) instructions per iteration"
done
