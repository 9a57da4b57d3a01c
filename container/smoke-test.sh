#!/usr/bin/env bash
# Runs Volley's OCI image archive without a container engine, as a runtime would: checks the
# archive (every blob's digest, the config's user and entrypoint), unpacks its one layer, and
# in a private mount namespace mounts it read-only with a tmpfs /tmp and /proc, then runs as
# the image's user (chroot --userspec): `volley version`, `volley target` and a `volley run`
# against it on 127.0.0.1:PORT. Needs root (unshare, mount, chroot). Exit 0 when all pass.
#
# usage: container/smoke-test.sh IMAGE.oci.tar PORT
set -euo pipefail
image=${1:?usage: smoke-test.sh IMAGE.oci.tar PORT}
port=${2:?usage: smoke-test.sh IMAGE.oci.tar PORT}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/layout" "$work/rootfs"
tar -xf "$image" -C "$work/layout"

# The archive: digests, config, and the layer unpacked into rootfs. Prints "USER ENTRYPOINT".
read -r user entrypoint < <(python3 - "$work/layout" "$work/rootfs" <<'PY'
import hashlib, json, os, sys, tarfile
layout, rootfs = sys.argv[1], sys.argv[2]
def blob(desc):
    algo, digest = desc["digest"].split(":")
    path = os.path.join(layout, "blobs", algo, digest)
    data = open(path, "rb").read()
    assert hashlib.sha256(data).hexdigest() == digest, f"digest mismatch: {path}"
    assert len(data) == desc["size"], f"size mismatch: {path}"
    return data
assert json.load(open(os.path.join(layout, "oci-layout")))["imageLayoutVersion"] == "1.0.0"
index = json.load(open(os.path.join(layout, "index.json")))
manifest = json.loads(blob(index["manifests"][0]))
config = json.loads(blob(manifest["config"]))
assert config["os"] == "linux", config
user = config["config"]["User"]
assert not user.startswith("0"), f"the image runs as root: {user}"
assert len(manifest["layers"]) == len(config["rootfs"]["diff_ids"]) == 1
layer = manifest["layers"][0]
import gzip, io
raw = gzip.decompress(blob(layer))
assert "sha256:" + hashlib.sha256(raw).hexdigest() == config["rootfs"]["diff_ids"][0], "diff_id"
with tarfile.open(fileobj=io.BytesIO(raw)) as t:
    t.extractall(rootfs, filter="tar")
print(user, config["config"]["Entrypoint"][0])
PY
)
echo "image user $user, entrypoint $entrypoint"
cat > "$work/smoke.js" <<'JS'
import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 2, iterations: 20, thresholds: { checks: ['rate==1'] } };
export default function () {
  const res = http.get(`http://127.0.0.1:${__ENV.PORT}/get`);
  check(res, { 'status is 200': (r) => r.status === 200 });
}
JS

unshare -m bash -euo pipefail -s "$work" "$user" "$entrypoint" "$port" <<'SH'
work=$1 user=$2 entrypoint=$3 port=$4
root="$work/rootfs"
mount --bind "$root" "$root"
mount -o remount,ro,bind "$root"
mount -t tmpfs -o size=64m,mode=1777 tmpfs "$root/tmp"
mount -t proc proc "$root/proc"
if touch "$root/usr/local/bin/written" 2>/dev/null; then
  echo "the root filesystem is writable" >&2; exit 1
fi
cp "$work/smoke.js" "$root/tmp/smoke.js"
as_image() { env -i TMPDIR=/tmp HOME=/home/volley "$(command -v chroot)" --userspec="$user" "$root" "$entrypoint" "$@"; }
as_image version
# exec all the way down (subshell → env → chroot → volley), so that $! is volley's own pid and
# the kill below stops it; killing a subshell that ran the function would leave it running.
(exec env -i TMPDIR=/tmp HOME=/home/volley "$(command -v chroot)" --userspec="$user" "$root" \
  "$entrypoint" target --listen "127.0.0.1:$port") > "$work/target.log" 2>&1 &
target=$!
for _ in $(seq 1 100); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
code=0
as_image run -e "PORT=$port" /tmp/smoke.js > "$work/run.log" 2>&1 || code=$?
kill "$target" 2>/dev/null || true
wait "$target" 2>/dev/null || true
if (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "volley target still answers on $port after it was stopped" >&2; exit 1
fi
grep -E 'checks|iterations\.' "$work/run.log" || true
if [ "$code" != 0 ]; then
  echo "volley run in the image exited $code:" >&2
  cat "$work/run.log" "$work/target.log" >&2
  exit 1
fi
grep -q '20 ' <(grep -E '^ *iterations\.' "$work/run.log") || { echo "not 20 iterations" >&2; cat "$work/run.log" >&2; exit 1; }
echo "smoke test passed"
SH
