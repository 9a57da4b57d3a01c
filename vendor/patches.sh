#!/usr/bin/env bash
# Moves a vendored crate's patch series between its patches/ and a git repository, so that
# changing a patch or upgrading the crate is ordinary git work (edit a commit, rebase onto new
# sources) and the result is exported back as the series (each crate's VOLLEY.md, "Upgrading").
# The patched sources are the directory the first patch names (quickjs/ for rquickjs-sys, src/
# for hyper).
#
#   patches.sh CRATE to-git DIR     a new repository in DIR: CRATE's sources as committed
#                                   here, tagged `upstream`, then one commit per patch (git am)
#   patches.sh CRATE from-git DIR   writes the commits upstream..HEAD of DIR to CRATE/patches/,
#                                   keeping the file name of each patch already there at the
#                                   same number
#
# CRATE is the vendored crate's directory, e.g. vendor/hyper.
set -euo pipefail
export GIT_AUTHOR_NAME=Volley GIT_AUTHOR_EMAIL=volley@localhost
export GIT_COMMITTER_NAME=Volley GIT_COMMITTER_EMAIL=volley@localhost

usage() {
  sed -n 's/^#   //p' "$0" >&2
  exit 2
}

[ $# -eq 3 ] || usage
here=$(cd "$1" && pwd)
dir=$3
first=$(ls "$here"/patches/*.patch | head -1)
sources=$(sed -n 's#^+++ b/\([^/]*\)/.*#\1#p' "$first" | head -1)
[ -n "$sources" ] && [ -d "$here/$sources" ] || { echo "no sources directory in $first" >&2; exit 1; }
case $2 in
  to-git)
    [ ! -e "$dir" ] || { echo "$dir exists" >&2; exit 1; }
    git init -q "$dir"
    cp -R "$here/$sources" "$dir/$sources"
    git -C "$dir" add -A
    git -C "$dir" commit -q -m "$(basename "$here") as vendored (upstream, unpatched)"
    git -C "$dir" tag upstream
    git -C "$dir" am -q "$here"/patches/*.patch
    git -C "$dir" log --oneline upstream..HEAD
    ;;
  from-git)
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    git -C "$dir" format-patch -q --zero-commit --no-signature -o "$out" upstream..HEAD
    declare -A old_names=()
    for f in "$here"/patches/*.patch; do
      [ -e "$f" ] || continue
      name=$(basename "$f")
      old_names[${name%%-*}]=$name
    done
    rm -f "$here"/patches/*.patch
    for f in "$out"/*.patch; do
      name=$(basename "$f")
      num=${name%%-*}
      cp "$f" "$here/patches/${old_names[$num]:-$name}"
    done
    ls "$here/patches"
    ;;
  *)
    usage
    ;;
esac
