#!/usr/bin/env bash
# What replicating the controller costs (docs/ha.md#what-replication-costs): the controller
# scale harness runs the same run over simulated agents on one controller and on a Raft group of
# three (each round measures both, one after the other, so both see the same machine), with
# submits timed while the run goes, and prints the group's figures over the single controller's.
#
#   bash bench/replication.sh [--no-build] [--debug] [--rounds N] [--agents N] [--duration S]
#                             [--submits N] [--rps N] [--controller-cpu N|none]
#
# --debug measures the debug binaries (target/debug) where a release build is out of reach;
# absolute figures then overstate the CPU, the ratios less so. The controllers are not pinned
# by default: three on one CPU of a busy machine can miss each other's heartbeats for an
# election timeout, and a deposed leader stops its process (docs/ha.md#leadership), ending the
# measurement. See bench/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."

build=1
profile=release
rounds=3
agents=100
duration=20
submits=20
rps=100
cpu=none
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --debug) profile=debug ;;
    --rounds) rounds="${2:?--rounds needs a count}"; shift ;;
    --agents) agents="${2:?--agents needs a count}"; shift ;;
    --duration) duration="${2:?--duration needs seconds}"; shift ;;
    --submits) submits="${2:?--submits needs a count}"; shift ;;
    --rps) rps="${2:?--rps needs a rate}"; shift ;;
    --controller-cpu) cpu="${2:?--controller-cpu needs a CPU or none}"; shift ;;
    *) echo "unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$build" = 1 ]; then
  flag=""
  if [ "$profile" = release ]; then flag="--release"; fi
  echo "building volley and controller-scale ($profile)..." >&2
  cargo build $flag -p volley -p volley-bench
fi

scale=(target/$profile/controller-scale --volley target/$profile/volley --agents "$agents"
       --duration "$duration" --controllers 1,3 --submits "$submits" --rps "$rps"
       --controller-cpu "$cpu")
# The simulated agents on CPU 0.
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  scale=(taskset -c 0 "${scale[@]}")
fi
echo "replication cost, $profile build, $(nproc) CPUs, $(date -u +%FT%TZ): ${scale[*]}" >&2
status=0
for round in $(seq 1 "$rounds"); do
  echo
  echo "round $round of $rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  nice -n 5 "${scale[@]}" || status=$?
done
exit "$status"
