#!/usr/bin/env bash
# Runs quickjs-ng's own tests on the patched QuickJS that Volley links: the C API tests
# (quickjs/api-test.c) and the JS tests it ships (quickjs/tests/*.js, run by run-test262 with
# quickjs/tests.conf, as upstream's `make test` does). The library under test is the
# libquickjs.a that rquickjs-sys's build script makes from upstream's sources plus patches/,
# so a patch that breaks QuickJS fails here. The test262 suite itself is a git submodule
# upstream and is not shipped with the crate. Then volley-test.c checks what the patches add
# (their functions, and behaviour upstream's tests do not look at). Takes about a minute; each
# step has a timeout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

# The build script's OUT_DIR holds the patched sources and libquickjs.a.
out_dir=$(cargo build -p rquickjs-sys --locked --message-format=json | python3 -c '
import json, sys
dirs = [m["out_dir"] for m in map(json.loads, sys.stdin)
        if m.get("reason") == "build-script-executed" and "rquickjs-sys" in m["package_id"]]
assert len(dirs) == 1, dirs
print(dirs[0])')
test -f "$out_dir/libquickjs.a"

work="$root/target/quickjs-tests"
rm -rf "$work"
mkdir -p "$work"
# Upstream's test programs and tests, with the patched headers next to them.
cp -R "$here/quickjs/." "$work/"
cp "$out_dir"/*.h "$work/"
cd "$work"
# Patch 0011 prints locale times in 24 hours, as k6 does: upstream's expectations of the
# 12-hour form (`04/07/2024, 01:00:00 PM`) become the 24-hour one (`04/07/2024, 13:00:00`).
sed -i -E \
  -e 's/"04\/07\/2024, 12:00:00 AM"/"04\/07\/2024, 00:00:00"/' \
  -e 's/"04\/07\/2024, 12:00:00 PM"/"04\/07\/2024, 12:00:00"/' \
  -e 's/"04\/07\/2024, (0[0-9]|1[01]):00:00 AM"/"04\/07\/2024, \1:00:00"/' \
  -e 's/"04\/07\/2024, 01:00:00 PM"/"04\/07\/2024, 13:00:00"/' \
  -e 's/"04\/07\/2024, 02:00:00 PM"/"04\/07\/2024, 14:00:00"/' \
  -e 's/"04\/07\/2024, 11:00:00 PM"/"04\/07\/2024, 23:00:00"/' \
  tests/test_builtin.js
grep -q '"04/07/2024, 13:00:00"' tests/test_builtin.js

cc="${CC:-cc}"
# Upstream's test programs, built with the defines build.rs gives QuickJS (warnings are
# upstream's business).
cflags=(-D_GNU_SOURCE -O1 -w -I.)
libs=("$out_dir/libquickjs.a" -lm -lpthread)
timeout 300 "$cc" "${cflags[@]}" -c quickjs-libc.c -o quickjs-libc.o
timeout 300 "$cc" "${cflags[@]}" api-test.c quickjs-libc.o "${libs[@]}" -o api-test
timeout 300 "$cc" "${cflags[@]}" run-test262.c quickjs-libc.o "${libs[@]}" -o run-test262
timeout 300 "$cc" "${cflags[@]}" "$here/volley-test.c" "${libs[@]}" -o volley-test

echo "quickjs: api-test"
timeout 120 ./api-test
echo "quickjs: api-test passed"
echo "quickjs: tests/*.js (run-test262 -c tests.conf)"
# tests/test_std.js starts `cat`, kills it with SIGTERM and expects it to die of the signal; with
# stdin at end of file (/dev/null, as in a background CI job) cat exits 0 before the kill. So the
# tests read a pipe that stays open and silent: a FIFO opened read-write by this shell.
mkfifo stdin.fifo
exec 3<>stdin.fifo
timeout 300 ./run-test262 -c tests.conf <&3
exec 3<&-
echo "quickjs: volley-test (the patches' own behaviour)"
timeout 120 ./volley-test
