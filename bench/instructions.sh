#!/usr/bin/env bash
# Instructions per iteration of a Volley binary, counted by valgrind (callgrind): a figure that,
# unlike requests/s or CPU time on a shared VM, is the same from run to run, so an optimization
# of a few percent can be told from noise. Compare binaries with it; confirm with bench/run.sh.
#
#   bash bench/instructions.sh [--vus 64,256] [--cache] [--cache-kib N] [VOLLEY_BINARY ...]
#                                                     (default: target/release/volley)
#
# Each binary runs bench/scripts/iterations.js (`http.get` + `check`, shared iterations) twice
# per VU count under callgrind, with 2,000 and with 6,000 iterations, against its own
# `volley target`; the difference divided by 4,000 is the cost of one iteration without
# start-up and shutdown. It counts user-space instructions of all threads (JS worker and IO),
# not the kernel's.
#
# --vus picks the VU counts (default 64 and 256: the CPU per request grows with the VUs while
# the instructions barely do, docs/benchmarks.md#what-each-change-bought).
# --cache also simulates the caches (callgrind --cache-sim) and prints, per iteration, the
# level-1 data misses and the data misses of a 2 MiB last-level cache (about one core's share of
# the benchmark VM's 16 MiB L3 when its neighbours are busy; --cache-kib N picks another size):
# the figure that shows the VUs' working set outgrowing the cache as VUs are added, steady from
# run to run like the instruction count. It is about twice as slow.
# As in bench/bench.py, the measured `volley run` is pinned with taskset to the first CPU this
# shell may use and its `volley target` to the second (the first again on one CPU).
# Needs valgrind (`apt-get install valgrind`) and taskset (util-linux); about a minute per binary
# and VU count.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vus_list="64,256"
cache=0
ll_kib=2048
bins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --vus) vus_list="${2:?--vus needs a list such as 64,256}"; shift ;;
    --vus=*) vus_list="${1#--vus=}" ;;
    --cache) cache=1 ;;
    --cache-kib) cache=1; ll_kib="${2:?--cache-kib needs a size in KiB}"; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) bins+=("$1") ;;
  esac
  shift
done
IFS=',' read -ra vus_counts <<< "$vus_list"
for v in "${vus_counts[@]}"; do
  [[ "$v" =~ ^[1-9][0-9]{0,4}$ ]] || { echo "--vus: '$v' is not a VU count (1-99999)" >&2; exit 2; }
done
[[ "$ll_kib" =~ ^[1-9][0-9]{0,6}$ ]] && (( (ll_kib & (ll_kib - 1)) == 0 )) ||
  { echo "--cache-kib: '$ll_kib' is not a power of two in KiB (valgrind's caches must be)" >&2; exit 2; }
[ ${#bins[@]} -gt 0 ] || bins=("$here/../target/release/volley")
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is needed: apt-get install util-linux" >&2; exit 2; }

# The CPUs this shell may use ("0-3,6" expanded): the first for the generator, the second for
# the target.
mapfile -t cpus < <(taskset -cp $$ | sed 's/.*: //' | tr ',' '\n' |
  awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }')
gen_cpu="${cpus[0]:?taskset listed no CPU}"
target_cpu="${cpus[1]:-$gen_cpu}"

target_bin="${bins[0]}"
log="$(mktemp)"
taskset -c "$target_cpu" "$target_bin" target --listen 127.0.0.1:0 >"$log" 2>&1 &
target_pid=$!
trap 'kill $target_pid 2>/dev/null; rm -f "$log"' EXIT
base_url=""
for _ in $(seq 50); do
  base_url="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)"
  [ -n "$base_url" ] && break
  sleep 0.1
done
[ -n "$base_url" ] || { echo "volley target did not start: $(cat "$log")" >&2; exit 1; }

# binary vus iterations -> "instructions [D1-misses LL-misses]"
count() {
  local sim=()
  [ "$cache" = 1 ] && sim=(--cache-sim=yes "--LL=$((ll_kib * 1024)),16,64")
  VUS="$2" ITERS="$3" BASE_URL="$base_url" taskset -c "$gen_cpu" valgrind --tool=callgrind "${sim[@]}" \
    --callgrind-out-file=/dev/null "$1" run --workers 1 -q "$here/scripts/iterations.js" \
    2>&1 >/dev/null |
    awk '/Collected/ {
      # Events: Ir [Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw]
      if (NF >= 12) print $4, $8 + $9, $11 + $12; else print $4
    }'
}

per_iteration() { # small large -> per-iteration figure of field $3
  awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN {
    split(a, x, " "); split(b, y, " "); printf "%d", (y[f] - x[f]) / 4000 }'
}

for b in "${bins[@]}"; do
  for v in "${vus_counts[@]}"; do
    small="$(count "$b" "$v" 2000)"
    large="$(count "$b" "$v" 6000)"
    [ -n "$small" ] && [ -n "$large" ] || { echo "$b: the run at $v VUs failed" >&2; exit 1; }
    line="$b: $(per_iteration "$small" "$large" 1) instructions per iteration at $v VUs"
    if [ "$cache" = 1 ]; then
      line="$line, $(per_iteration "$small" "$large" 2) L1 data misses"
      line="$line, $(per_iteration "$small" "$large" 3) $ll_kib KiB last-level data misses"
    fi
    echo "$line"
  done
done
