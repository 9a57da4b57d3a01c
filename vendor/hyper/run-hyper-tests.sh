#!/usr/bin/env bash
# hyper's own unit tests (upstream's `#[cfg(test)]` modules in src/, among them the HTTP/1
# buffering, parsing, pipelining and dispatcher tests) and those the patches add, run on the
# patched copy with every feature (VOLLEY.md, "Tests"). .ci/run runs it. It resolves with
# upstream's Cargo.lock (their dev-dependencies are not Volley's) into target/vendor-hyper.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/vendor-hyper"
cd "$here"
timeout 1500 cargo test --locked --features full --lib
