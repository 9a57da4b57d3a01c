#!/usr/bin/env bash
# Builds container/Containerfile with podman from a root filesystem made by build-rootfs.sh and
# runs the image as Kubernetes would run the chart's containers: read-only root, a tmpfs /tmp,
# no capabilities, no privilege escalation, the image's own non-root user. Runs
# `volley version` and a short `volley run` (20 iterations) in it. Its image storage lives in
# WORK (remove it afterwards). Exit 0 when all pass.
#
# The flags a machine that is itself a container needs (measured on the CI machines):
#   --storage-driver vfs        no overlay mount needed;
#   --runtime runc, --cgroup-manager cgroupfs
#                               crun refuses the host's hybrid cgroup v1/v2 layout ("cgroups in
#                               hybrid mode not supported") and there is no systemd;
#   --ulimit nofile=N:N nproc=4096:4096
#                               podman's default limits are higher than this process's, and
#                               raising a limit needs CAP_SYS_RESOURCE, which these machines lack.
#
# usage: container/podman-smoke.sh ROOTFS WORK
set -euo pipefail
rootfs=${1:?usage: podman-smoke.sh ROOTFS WORK}
work=${2:?usage: podman-smoke.sh ROOTFS WORK}
here=$(cd "$(dirname "$0")" && pwd)
command -v podman >/dev/null || { echo "podman-smoke.sh: podman not found (apt-get install podman runc)" >&2; exit 2; }
mkdir -p "$work/context"
cp -a "$rootfs" "$work/context/rootfs"
cp "$here/Containerfile" "$work/context/Containerfile"
# (podman wants a run root of at most 50 characters)
runroot=$(mktemp -d /tmp/podman-run.XXXXXX)
trap 'rm -rf "$runroot"' EXIT
pod=(podman --root "$work/storage" --runroot "$runroot" --storage-driver vfs
     --cgroup-manager cgroupfs --runtime runc)
nofile=$(ulimit -Hn)
run=("${pod[@]}" run --rm --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096
     --read-only --tmpfs /tmp --cap-drop=ALL --security-opt no-new-privileges)
tag=volley:podman-smoke
"${pod[@]}" build --quiet -f "$work/context/Containerfile" -t "$tag" "$work/context" >/dev/null
echo "built $tag with podman $(podman --version | awk '{print $3}'): $("${pod[@]}" image inspect "$tag" --format '{{.Size}} bytes, user {{.Config.User}}')"
"${run[@]}" "$tag" version
printf "import { sleep } from 'k6';\nexport default function () { sleep(0.01); }\n" >"$work/t.js"
out=$("${run[@]}" -v "$work/t.js:/home/volley/t.js:ro" "$tag" run -i 20 -u 2 t.js 2>&1)
grep -q "iterations\.*: 20 " <<<"$out" || { echo "$out"; echo "podman-smoke.sh: the run did not make 20 iterations" >&2; exit 1; }
echo "volley run in the image: 20 iterations, read-only root, no capabilities"
"${pod[@]}" rmi -f "$tag" >/dev/null
echo "podman smoke test passed"
