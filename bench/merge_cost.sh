#!/usr/bin/env bash
# Instructions per metric batch of the controller's decode and merge, counted by valgrind
# (callgrind): `controller-scale --merge-cost N` decodes and merges N prepared batches (53
# series, ~19 KiB, as a simulated agent of the controller scale harness sends) with the
# controller's code in one process. Run with 1,000 and with 3,000 batches, the difference
# divided by 2,000 is the cost of one batch without start-up. Unlike CPU seconds on a shared
# machine, the figure repeats from run to run; compare builds with it, confirm with
# `controller-scale`. See bench/README.md ("Merge cost").
#
#   bash bench/merge_cost.sh [CONTROLLER_SCALE_BINARY ...]   (default: target/release/controller-scale)
#
# Needs valgrind (`apt-get install valgrind`); about a minute per binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$here/../target/release/controller-scale")
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 2; }

count() { # binary batches -> instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" --merge-cost "$2" 2>&1 >/dev/null |
    awk '/Collected/ {print $4}'
}

for b in "${bins[@]}"; do
  small="$(count "$b" 1000)"
  large="$(count "$b" 3000)"
  [ -n "$small" ] && [ -n "$large" ] || { echo "$b: callgrind gave no count" >&2; exit 1; }
  echo "$b: $(( (large - small) / 2000 )) instructions per batch"
done
