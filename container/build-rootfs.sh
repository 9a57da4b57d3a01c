#!/usr/bin/env bash
# Builds the root filesystem of Volley's image from a `volley` binary built on this machine:
# the binary, the shared libraries `ldd` says it links (with the dynamic loader), a non-root
# user (65532, "volley"), empty /tmp and home folders and the mount points a runtime fills
# (/proc, /sys, /dev). Nothing else: no shell, no libc
# tools. glibc's DNS and files lookups are built into libc.so.6 (glibc >= 2.34), so name
# resolution works without NSS plugins; TLS roots are compiled into the binary.
#
# usage: container/build-rootfs.sh BINARY ROOTFS
set -euo pipefail
bin=${1:?usage: build-rootfs.sh BINARY ROOTFS}
root=${2:?usage: build-rootfs.sh BINARY ROOTFS}
[ -x "$bin" ] || { echo "build-rootfs: $bin is not an executable" >&2; exit 2; }

rm -rf "$root"
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/home/volley" \
  "$root/proc" "$root/sys" "$root/dev"
# Without debug info (the image is for running; keep the unstripped binary for debugging).
strip --strip-debug -o "$root/usr/local/bin/volley" "$bin"
chmod 0755 "$root/usr/local/bin/volley"
# Every library the binary links, at the path the loader looks it up.
ldd "$bin" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u |
  while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
# The loader's own path (e.g. /lib64/ld-linux-x86-64.so.2) is a symlink on the host; copy the
# file it points to under the name the binary asks for.
interp=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
if [ -n "$interp" ] && [ ! -e "$root$interp" ]; then
  mkdir -p "$root$(dirname "$interp")"
  cp -L "$interp" "$root$interp"
fi
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
volley:x:65532:65532:volley:/home/volley:/sbin/nologin
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
volley:x:65532:
GROUP
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$root/etc/hosts"
chmod 1777 "$root/tmp"
chown 65532:65532 "$root/home/volley" 2>/dev/null || true
echo "rootfs in $root: $(du -sh "$root" | cut -f1), $(find "$root" -type f | wc -l) files"
